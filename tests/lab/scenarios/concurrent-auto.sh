# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# concurrent-auto.sh: `nvfix auto` (a timer, a fleet tool) fires while an admin's `nvfix reload` runs. The holder keeps
# the GPU 5 s after SIGTERM (a job that checkpoints), so the reload holds the run lock for seconds. auto must exit 75
# at once and leave the reload's journal alone (no resume under its feet); the reload then finishes: v2 loaded,
# `nvfix verify` passes, journal gone.
lab_load_stack
lab_hold_slow_exit slow-app 5 /dev/nvidia0
lab_install_version "$V2"
echo "+ nvfix reload --yes --json &"
t0=$(lab_now)
nvfix reload --yes --json >"$LAB_RESULTS/reload.out" 2>"$LAB_RESULTS/reload.err" &
reload=$!
# The journal is written under the lock, before the first step: once it is there, the reload holds the lock.
i=0
while [ ! -s /run/nvfix/journal.json ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
lab_check "the reload has written its journal (holds the lock)" test -s /run/nvfix/journal.json
lab_check "the holder is still there (the reload is waiting for it)" lab_alive slow-app
lab_nvfix auto auto
lab_expect_eq "auto exit status (busy)" "$LAB_STATUS" 75
secs=$(cat "$LAB_RESULTS/auto.seconds")
lab_check "auto returned at once ($secs s)" awk -v t="$secs" 'BEGIN { exit !(t < 5) }'
lab_check "the reload is still running" test -d "/proc/$reload"
lab_result reload-pid "$reload"
lab_result journal-after-auto "$(cat /run/nvfix/journal.json 2>/dev/null)"
lab_check "its journal is still there" test -s /run/nvfix/journal.json
lab_expect_contains "and still the reload's" "$(tr -d ' \n' </run/nvfix/journal.json)" "\"pid\":$reload,"
lab_expect_eq "auto loaded or unloaded nothing: stack" "$(lab_stack_versions)" \
	"nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
wait "$reload"
st=$?
echo "$st" >"$LAB_RESULTS/reload.status"
lab_elapsed "$t0" >"$LAB_RESULTS/reload.seconds"
echo "---- reload (background) exit $st after $(cat "$LAB_RESULTS/reload.seconds") s; stdout: ----"
cat "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err"
lab_expect_eq "reload exit status" "$st" 0
lab_expect_contains "reload outcome" "$(cat "$LAB_RESULTS/reload.out")" '"outcome": "fixed"'
lab_check "the reload waited for the slow holder (>= 5 s)" \
	awk -v t="$(cat "$LAB_RESULTS/reload.seconds")" 'BEGIN { exit !(t >= 5) }'
lab_expect_eq "stack after the reload" "$(lab_stack_versions)" "nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
lab_check "journal removed" test ! -e /run/nvfix/journal.json
lab_nvfix verify verify --json
lab_expect_eq "nvfix verify exit status" "$LAB_STATUS" 0
