#!/usr/bin/env bash
# Measures `nvfix --root DIR diagnose` on hostile inputs: time and peak RSS (GNU time) on the `incident` fixture
# as it is, with a rotated `history.log.1.gz` that expands to 3 GiB, and with a running-kernel `nvidia.ko.zst` that
# expands to 4 GiB (an ELF header, then zeros). The inputs are generated in a temp dir and removed afterwards.
#
# Run by hand (not a timed test, not in CI), from the repository root:
#   tests/bench/hostile.sh                       # builds target/release/nvfix when missing
#   NVFIX=target/debug/nvfix tests/bench/hostile.sh
#
# Needs: python3, gzip, zstd, GNU time (/usr/bin/time); not root.

set -euo pipefail

NVFIX=${NVFIX:-target/release/nvfix}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() {
    echo "hostile.sh: $*" >&2
    exit 1
}

for tool in python3 gzip zstd /usr/bin/time; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install python3 gzip zstd time)"
done
if [[ ! -x $NVFIX ]]; then
    echo "building $NVFIX (cargo build --release) ..." >&2
    (cd "$REPO" && cargo build --release --quiet --bin nvfix)
fi
NVFIX=$(cd "$(dirname "$NVFIX")" && pwd)/$(basename "$NVFIX")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fresh_tree() {
    rm -rf "$WORK/tree"
    cp -a "$REPO/tests/fixtures/incident" "$WORK/tree"
}

# One 1 MiB gzip member of apt history text, concatenated: gzip readers (and nvfix's) read every member. PACKAGE
# names the package every entry upgrades: a driver package (every entry kept and parsed) or another (all narrowed away).
gzip_bomb() {
    local out=$1 gib=$2 package=$3
    python3 - "$WORK/member.txt" "$package" <<'PY'
import sys
entry = ("Start-Date: 2025-10-23  06:00:00\nCommandline: /usr/bin/unattended-upgrade\n"
         "Upgrade: %s:amd64 (580.65.06-0ubuntu1, 580.95.05-0ubuntu1)\n"
         "End-Date: 2025-10-23  06:00:09\n\n") % sys.argv[2]
text = (entry * (1 + (1 << 20) // len(entry)))[: 1 << 20]
open(sys.argv[1], "w").write(text)
PY
    gzip -9 -c "$WORK/member.txt" >"$WORK/member.gz"
    : >"$out"
    for _ in $(seq $((gib * 1024))); do cat "$WORK/member.gz"; done >>"$out"
}

# An ELF64 header whose section headers are past the end, then zeros: streamed to the cap, never parsed.
zstd_bomb() {
    local out=$1 gib=$2
    {
        python3 -c 'import sys; h = bytearray(64); h[:6] = b"\x7fELF\x02\x01"; h[0x28:0x30] = (1 << 40).to_bytes(8, "little"); sys.stdout.buffer.write(h)'
        head -c $((gib << 30)) /dev/zero
    } | zstd -q -1 -T0 -c >"$out"
}

measure() {
    local what=$1
    /usr/bin/time -v "$NVFIX" --root "$WORK/tree" diagnose --json >"$WORK/out.json" 2>"$WORK/time.txt" || true
    local wall rss verdict warning
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
    verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$WORK/out.json")
    warning=$(python3 -c 'import json,sys; w=[x["file"]+": "+x["message"] for x in json.load(open(sys.argv[1]))["warnings"]]; print(w[0] if w else "-")' "$WORK/out.json" | cut -c1-110)
    printf '%-34s %10s %10s MiB  %-18s %s\n' "$what" "$wall" "$((rss / 1024))" "$verdict" "$warning"
}

printf '%-34s %10s %14s  %-18s %s\n' "input" "wall" "peak RSS" "verdict" "first warning"
echo "nvfix: $NVFIX"

fresh_tree
measure "incident (as is)"

fresh_tree
rm "$WORK/tree/var/log/apt/history.log"
gzip_bomb "$WORK/tree/var/log/apt/history.log.1.gz" 3 libnvidia-compute-580
measure "history.log.1.gz -> 3 GiB, driver"

fresh_tree
rm "$WORK/tree/var/log/apt/history.log"
gzip_bomb "$WORK/tree/var/log/apt/history.log.1.gz" 3 libfoo1
measure "history.log.1.gz -> 3 GiB, other"

fresh_tree
python3 - "$WORK/tree/var/log/kern.log" <<'PY'
import sys
line = "Oct 22 06:30:01 gpu01 kernel: NVRM: API mismatch: the client has the version 580.95.05, but\n"
with open(sys.argv[1], "w") as f:
    f.write(line * ((512 << 20) // len(line)))
PY
measure "kern.log of 512 MiB NVRM lines"

fresh_tree
module=$WORK/tree/lib/modules/6.8.0-85-generic/updates/dkms/nvidia.ko.zst
[[ -f $module ]] || die "the incident fixture has no $module"
zstd_bomb "$module" 4
measure "nvidia.ko.zst -> 4 GiB ($(($(stat -c %s "$module") >> 10)) KiB)"
