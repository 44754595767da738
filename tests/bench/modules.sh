#!/usr/bin/env bash
# Benchmarks `nvfix diagnose --json` on hosts with real-size NVIDIA modules against one `modinfo -F version` of the
# running kernel's nvidia module, side by side in one run, with peak RSS, and checks the verdict does not change.
#
# Run by hand (not a timed test, not in CI), from the repository root:
#   tests/bench/modules.sh                         # builds target/release/nvfix when missing
#   NVFIX=/path/to/nvfix SIZE_MIB=80 RUNS=3 tests/bench/modules.sh
#   BENCH_WORK=/tmp/nvfix-modules tests/bench/modules.sh   # keeps (and reuses) the built trees there
#
# Needs: python3, zstd, xz, kmod's modinfo (built with +ZSTD +XZ), GNU time (/usr/bin/time); not root.
#
# The trees: copies of the `incident` fixture (Ubuntu, `.ko.zst`) and of the `rhel` fixture (`.ko.xz`), each with
# three kernels. Every nvidia.ko is made real-size by tests/bench/inflate-module.py (SIZE_MIB of code-like data before
# `.modinfo`, as in the real driver; ~20 MB compressed): the running kernel's keeps the fixture's modinfo (so the
# verdict is the fixture's: reload), the two older kernels carry 580.65.06. zstd -19 as Ubuntu's DKMS; xz with the
# kernel's own `--check=crc32 --lzma2=dict=1MiB` (one block, as kernel builds make it).
#
# Cold: nvfix's module cache (`<tree>/var/cache/nvfix`, private, made here so nvfix may use it) emptied before the
# run; warm: the run right after. The page cache is warm for every tool alike (one read of each file first).

set -euo pipefail

SIZE_MIB=${SIZE_MIB:-80}
RUNS=${RUNS:-3}
ZSTD_LEVEL=${ZSTD_LEVEL:-19}
NVFIX=${NVFIX:-target/release/nvfix}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() {
    echo "modules.sh: $*" >&2
    exit 1
}

for tool in python3 zstd xz modinfo /usr/bin/time; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install python3 zstd xz-utils kmod time)"
done
if [[ ! -x $NVFIX ]]; then
    echo "building $NVFIX (cargo build --release) ..." >&2
    (cd "$REPO" && cargo build --release --quiet --bin nvfix)
fi
NVFIX=$(realpath "$NVFIX")

if [[ -n ${BENCH_WORK:-} ]]; then
    WORK=$BENCH_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/nvfix-bench-modules.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi

# big_module FIXTURE_KO OUT_COMPRESSED EXT SEED: inflates a plain fixture module and compresses it as EXT.
big_module() {
    local from=$1 out=$2 ext=$3 seed=$4 plain
    plain=$WORK/plain-$seed.ko
    [[ -s $plain ]] || python3 "$HERE/inflate-module.py" "$from" "$plain" "$SIZE_MIB" "$seed"
    case $ext in
    zst) zstd -q -f -T0 "-$ZSTD_LEVEL" "$plain" -o "$out" ;;
    xz) xz -q -f -T1 -c --check=crc32 --lzma2=dict=1MiB "$plain" >"$out" ;;
    esac
}

# decompressed FILE: a fixture module's ELF bytes on stdout.
decompressed() {
    case $1 in
    *.zst) zstd -q -d -c "$1" ;;
    *.xz) xz -q -d -c "$1" ;;
    *) cat "$1" ;;
    esac
}

# build_tree NAME FIXTURE EXT OLD_KERNEL... : the fixture tree with real-size nvidia.ko files and two more kernels.
build_tree() {
    local name=$1 fixture=$2 ext=$3
    shift 3
    local tree=$WORK/$name
    [[ -f $tree/.built ]] && return
    rm -rf "$tree"
    cp -a "$REPO/tests/fixtures/$fixture" "$tree"
    local kernel running_ko
    kernel=$(cat "$tree/proc/sys/kernel/osrelease")
    running_ko=$(find "$tree/lib/modules/$kernel" -name "nvidia.ko.$ext" | head -1)
    [[ -n $running_ko ]] || die "no nvidia.ko.$ext in $fixture"
    decompressed "$running_ko" >"$WORK/$name-running.ko"
    echo "building $name: $SIZE_MIB MiB nvidia.ko.$ext for $kernel and $* ..." >&2
    big_module "$WORK/$name-running.ko" "$running_ko" "$ext" "${name}1"
    local old
    old=$WORK/$name-old.$ext
    big_module "$REPO/tests/fixtures/modules/580.65.06/nvidia.ko" "$old" "$ext" "${name}2"
    local rel=${running_ko#"$tree/lib/modules/$kernel/"} other
    for other in "$@"; do
        mkdir -p "$(dirname "$tree/lib/modules/$other/$rel")"
        cp "$old" "$tree/lib/modules/$other/$rel"
        for small in "$(dirname "$running_ko")"/nvidia-*."$ext"; do
            cp "$small" "$tree/lib/modules/$other/${rel%/*}/"
        done
    done
    rm -f "$WORK"/plain-"$name"*.ko
    touch "$tree/.built"
}

build_tree ubuntu-zst incident zst 6.8.0-79-generic 6.8.0-83-generic
build_tree rhel-xz rhel xz 5.14.0-427.13.1.el9_4.x86_64 5.14.0-362.8.1.el9_3.x86_64
# The same Ubuntu host booted into an older kernel whose module is the old driver: a reboot is the question, so every
# kernel's nvidia.ko is read (no target on cold: it reads three modules, not one).
if [[ ! -f $WORK/ubuntu-reboot/.built ]]; then
    rm -rf "$WORK/ubuntu-reboot"
    cp -al "$WORK/ubuntu-zst" "$WORK/ubuntu-reboot"
    rm -rf "$WORK/ubuntu-reboot/var/cache/nvfix" "$WORK/ubuntu-reboot/proc/sys/kernel/osrelease"
    echo 6.8.0-79-generic >"$WORK/ubuntu-reboot/proc/sys/kernel/osrelease"
fi

# timed CMD...: runs CMD once (output discarded); prints "wall_seconds peak_rss_kib".
timed() {
    local t0 t1 rss
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$WORK/time.out" "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    rss=$(tail -1 "$WORK/time.out")
    awk -v ns=$((t1 - t0)) -v rss="$rss" 'BEGIN { printf "%.3f %d\n", ns / 1e9, rss }'
}

# median_of N CMD...: median wall time and the largest peak RSS of N runs; PRE (a function name) runs before each.
median_of() {
    local n=$1 i
    shift
    local walls=() rss=0 w r
    for ((i = 0; i < n; i++)); do
        [[ -n ${PRE:-} ]] && "$PRE"
        read -r w r < <(timed "$@")
        walls+=("$w")
        ((r > rss)) && rss=$r
    done
    local median
    median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    echo "$median $rss"
}

verdict_of() { grep -Eo '"(verdict|action)": *"[^"]*"' | head -2 | tr '\n' ' '; }

fail=0
rows=()
for name in ubuntu-zst rhel-xz ubuntu-reboot; do
    tree=$WORK/$name
    kernel=$(cat "$tree/proc/sys/kernel/osrelease")
    module=$(find "$tree/lib/modules/$kernel" -name 'nvidia.ko.*' | head -1)
    cache=$tree/var/cache/nvfix
    mkdir -p "$tree/var/cache"
    [[ -d $cache ]] || mkdir -m 0700 "$cache"
    empty_cache() { find "$cache" -mindepth 1 -delete; }
    # One read of every file first, so the page cache is warm for each tool alike.
    find "$tree/lib/modules" -name 'nvidia*' -type f -exec cat {} + >/dev/null

    case $name in
    ubuntu-zst) want=$("$NVFIX" --root "$REPO/tests/fixtures/incident" diagnose --json 2>/dev/null | verdict_of || true) ;;
    rhel-xz) want=$("$NVFIX" --root "$REPO/tests/fixtures/rhel" diagnose --json 2>/dev/null | verdict_of || true) ;;
    ubuntu-reboot) want='"verdict": "version-mismatch" "action": "reboot" ' ;;
    esac
    empty_cache
    got_cold=$("$NVFIX" --root "$tree" diagnose --json 2>/dev/null | verdict_of || true)
    got_warm=$("$NVFIX" --root "$tree" diagnose --json 2>/dev/null | verdict_of || true)
    if [[ $got_cold != "$want" || $got_warm != "$want" ]]; then
        echo "VERDICT CHANGED on $name: fixture: $want; real-size cold: $got_cold; warm: $got_warm" >&2
        fail=1
    fi

    echo "timing $name (median of $RUNS runs) ..." >&2
    read -r t_mod rss_mod < <(PRE='' median_of "$RUNS" modinfo -F version "$module")
    read -r t_cold rss_cold < <(PRE=empty_cache median_of "$RUNS" "$NVFIX" --root "$tree" diagnose --json)
    "$NVFIX" --root "$tree" diagnose --json >/dev/null 2>&1 || true
    read -r t_warm rss_warm < <(PRE='' median_of "$RUNS" "$NVFIX" --root "$tree" diagnose --json)
    ratio=$(awk -v a="$t_cold" -v b="$t_mod" 'BEGIN { printf "%.2f", a / b }')
    rows+=("$(printf '| %-13s | %6.3f s (%sx) | %6.3f s | %6.3f s | %5d MB | %5d MB | %s|' "$name" "$t_cold" "$ratio" \
        "$t_warm" "$t_mod" $(((rss_cold > rss_warm ? rss_cold : rss_warm) / 1024)) $((rss_mod / 1024)) "$want")")
    [[ $name != ubuntu-reboot ]] && awk -v a="$t_cold" -v b="$t_mod" 'BEGIN { exit !(a > 1.2 * b) }' && { echo "$name: cold is over 1.2x modinfo" >&2; fail=1; }
    awk -v a="$t_warm" 'BEGIN { exit !(a > 0.15) }' && { echo "$name: warm is over 0.15 s" >&2; fail=1; }
    ((rss_cold > 48 * 1024 || rss_warm > 48 * 1024)) && { echo "$name: peak RSS over 48 MB" >&2; fail=1; }
done

echo
echo "3 kernels, each with a $SIZE_MIB MiB nvidia.ko; nvfix $("$NVFIX" --version 2>/dev/null | head -1); $(nproc) cores"
echo "| tree          | diagnose cold (vs modinfo) | diagnose warm | one modinfo -F version | nvfix peak RSS | modinfo peak RSS | verdict |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "targets: cold <= 1.2x modinfo (not for ubuntu-reboot, which reads all three kernels' modules), warm <= 0.15 s,"
echo "peak RSS <= 48 MB, verdict as on the small fixture (ubuntu-reboot: reboot)"
exit "$fail"
