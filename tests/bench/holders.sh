#!/usr/bin/env bash
# Benchmarks `nvfix ps` against `fuser -v` and `lsof` on a host with thousands of processes, a few dozen holding
# /dev/nvidia* open, checks that all three find the same holders, and times `nvfix diagnose --json`.
#
# Run by hand or in CI (not a timed test), as root, from the repository root:
#   tests/bench/holders.sh                    # builds target/release/nvfix when missing
#   NVFIX=/path/to/nvfix PROCS=3000 HOLDERS=50 RUNS=20 tests/bench/holders.sh
#
# Needs: root, unshare(1) and mount (util-linux), fuser (psmisc), lsof; hyperfine is not needed.
#
# Why a private mount namespace: the machine's /dev is left alone. Inside `unshare --mount` a tmpfs is mounted over
# /dev holding *regular files* named nvidia0, nvidiactl and nvidia-uvm (a real 195:N node cannot be opened without
# the driver), plus bind mounts of the real null, zero, urandom, kmsg, pts and shm. fuser and lsof match open files
# by device and inode, nvfix by the fd link text `/dev/nvidia0`: both see exactly the sleepers that opened those
# files. Everything mounted vanishes with the namespace; every process started is killed on exit.

set -euo pipefail

PROCS=${PROCS:-3000}
HOLDERS=${HOLDERS:-50}
RUNS=${RUNS:-20}
LSOF_RUNS=${LSOF_RUNS:-5}
NVFIX=${NVFIX:-target/release/nvfix}

die() {
    echo "holders.sh: $*" >&2
    exit 1
}

if [[ -z ${NVFIX_BENCH_INSIDE:-} ]]; then
    [[ $(id -u) -eq 0 ]] || die "run as root (it mounts a private /dev and reads every process's fds)"
    for tool in unshare mount fuser lsof; do
        command -v "$tool" >/dev/null || die "needs $tool (apt-get install util-linux mount psmisc lsof)"
    done
    if [[ ! -x $NVFIX ]]; then
        echo "building $NVFIX (cargo build --release) ..." >&2
        cargo build --release --quiet --bin nvfix
    fi
    NVFIX=$(realpath "$NVFIX")
    WORK=$(mktemp -d /tmp/nvfix-bench.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    # Not exec: the trap above removes the work folder once the namespace (and everything in it) is gone.
    NVFIX_BENCH_INSIDE=1 NVFIX=$NVFIX WORK=$WORK \
        unshare --mount --propagation private -- "$BASH" "$0" "$@"
    exit $?
fi

# ---- inside the private mount namespace -------------------------------------------------------------------------

PIDS=()
# shellcheck disable=SC2317 # reached through the EXIT trap, which shellcheck does not follow
cleanup() {
    # Only the sleepers this script started, by pid, in chunks (argument lists stay short).
    local i
    for ((i = 0; i < ${#PIDS[@]}; i += 500)); do
        kill "${PIDS[@]:i:500}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$WORK/realdev"
mount --bind /dev "$WORK/realdev"
mount -t tmpfs -o mode=755,size=1m nvfix-bench-dev /dev
for name in null zero full random urandom kmsg tty; do
    [[ -e $WORK/realdev/$name ]] || continue
    : >"/dev/$name"
    mount --bind "$WORK/realdev/$name" "/dev/$name"
done
for dir in pts shm; do
    [[ -d $WORK/realdev/$dir ]] || continue
    mkdir -p "/dev/$dir"
    mount --bind "$WORK/realdev/$dir" "/dev/$dir"
done
: >/dev/nvidia0
: >/dev/nvidiactl
: >/dev/nvidia-uvm
DEVICES=(/dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm)

# The sleepers must hold only what this script gives them. A shell started by a terminal, an IDE or a CI agent may
# carry descriptors of its own (a pipe or log file without close-on-exec) that every child would inherit, and each
# inherited descriptor is one more link per process for every tool to read: closing them makes the host the same
# whoever starts the benchmark. Close-on-exec descriptors (bash's own script on 255) never reach a child; keep them.
for fd_path in "/proc/$$"/fd/*; do
    fd=${fd_path##*/}
    ((fd > 2)) || continue
    flags=$(awk '/^flags:/ { print $2 }' "/proc/$$/fdinfo/$fd" 2>/dev/null) || continue
    [[ -n $flags ]] || continue
    ((8#$flags & 8#2000000)) && continue # O_CLOEXEC
    eval "exec $fd>&-"
done

echo "spawning $PROCS processes, $HOLDERS of them holding ${DEVICES[*]} ..."
EXPECTED=()
for ((i = 0; i < PROCS; i++)); do
    if ((i % (PROCS / HOLDERS) == 0 && ${#EXPECTED[@]} < HOLDERS)); then
        # A CUDA process holds the control node and a GPU; every other one also has UVM open.
        if ((${#EXPECTED[@]} % 2)); then
            # shellcheck disable=SC2217 # the redirections are the point: the sleeper holds the devices open
            sleep 100000 </dev/nvidia0 3</dev/nvidiactl 4</dev/nvidia-uvm >/dev/null 2>&1 &
        else
            # shellcheck disable=SC2217 # as above: holding the devices open is what the sleeper is for
            sleep 100000 </dev/nvidiactl 3</dev/nvidia0 >/dev/null 2>&1 &
        fi
        EXPECTED+=("$!")
    else
        # shellcheck disable=SC2217 # stdin from /dev/null: the sleeper inherits no descriptor of this script
        sleep 100000 </dev/null >/dev/null 2>&1 &
    fi
    PIDS+=("$!")
done
sleep 1 # let the last ones finish exec'ing so every tool sees the same processes
total=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)
echo "processes on the host now: $total; a sleeper holds $(find "/proc/${PIDS[1]}/fd" -mindepth 1 | wc -l) descriptors, a holder $(find "/proc/${EXPECTED[0]}/fd" -mindepth 1 | wc -l)"

sorted_pids() { tr -c '0-9\n' '\n' | grep -E '^[0-9]+$' | sort -n | uniq; }

expected=$(printf '%s\n' "${EXPECTED[@]}" | sort -n)
# shellcheck disable=SC2034 # the by_* results are read through ${!var} in the comparison loop below
{
    by_fuser=$(fuser "${DEVICES[@]}" 2>/dev/null | sorted_pids)
    by_lsof=$(lsof -t "${DEVICES[@]}" 2>/dev/null | sorted_pids)
    by_nvfix=$("$NVFIX" --root / ps --json | grep -o '"pid": *[0-9]*' | sorted_pids)
    by_nvfix_all=$("$NVFIX" --root / ps --all --json | grep -o '"pid": *[0-9]*' | sorted_pids)
}
ok=1
for tool in fuser lsof nvfix nvfix_all; do
    var=by_$tool
    if [[ ${!var} != "$expected" ]]; then
        ok=0
        echo "MISMATCH: $tool found $(wc -w <<<"${!var}") holders, expected ${#EXPECTED[@]}:" >&2
        diff <(echo "$expected") <(echo "${!var}") | head -20 >&2 || true
    fi
done
((ok)) && echo "holders: nvfix ps, nvfix ps --all, fuser and lsof all find the same ${#EXPECTED[@]} pids"

# Median wall time of RUNS runs, in milliseconds (3 decimals); output discarded, exit status ignored.
median_ms() {
    local runs=$1
    shift
    local samples=() t0 t1 i
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        samples+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1000 }'
}

# One warm-up each, so every tool starts with the same page cache.
"$NVFIX" --root / ps --json >/dev/null
fuser -v "${DEVICES[@]}" >/dev/null 2>&1 || true
lsof "${DEVICES[@]}" >/dev/null 2>&1 || true

echo "timing (median of $RUNS runs; lsof: $LSOF_RUNS) ..."
t_nvfix=$(median_ms "$RUNS" "$NVFIX" --root / ps --json)
t_all=$(median_ms "$RUNS" "$NVFIX" --root / ps --all --json)
t_fuser=$(median_ms "$RUNS" fuser -v "${DEVICES[@]}")
t_lsof=$(median_ms "$LSOF_RUNS" lsof "${DEVICES[@]}")
# diagnose without NVML: on a GPU host NVML's own init (often 100+ ms) is the driver's time, not nvfix's; naming a
# library that does not exist makes the run deterministic and times nvfix's own work (files, kernel log, the scan).
t_diag=$(NVFIX_NVML_LIB=/nonexistent/libnvidia-ml.so.1 median_ms "$RUNS" "$NVFIX" --root / diagnose --json)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f", b / a; else print "inf" }'; }
echo
echo "on $total processes, $HOLDERS holders:"
# `ps` does fuser's job (who has a device open) and reads the maps of those processes; `ps --all` also reads every
# other process's maps to find processes that only map the driver libraries, which neither fuser nor lsof looks for.
echo "nvfix ps: $t_nvfix ms; fuser -v: $t_fuser ms (nvfix $(ratio "$t_nvfix" "$t_fuser")x faster); lsof: $t_lsof ms (nvfix $(ratio "$t_nvfix" "$t_lsof")x faster)"
echo "nvfix ps --all (also every process's library maps): $t_all ms; vs fuser $(ratio "$t_all" "$t_fuser")x, vs lsof $(ratio "$t_all" "$t_lsof")x"
echo "nvfix diagnose --json (no NVML): $t_diag ms (target < 50 ms)"

fail=0
((ok)) || fail=1
awk -v a="$t_nvfix" -v b="$t_fuser" 'BEGIN { exit !(a > b) }' && { echo "nvfix ps is SLOWER than fuser" >&2; fail=1; }
awk -v a="$t_nvfix" -v b="$t_lsof" 'BEGIN { exit !(a * 10 > b) }' && { echo "nvfix ps is less than 10x faster than lsof" >&2; fail=1; }
awk -v a="$t_diag" 'BEGIN { exit !(a >= 50) }' && { echo "nvfix diagnose took 50 ms or more" >&2; fail=1; }
exit "$fail"
