# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# killed-midway.sh: nvfix is SIGKILLed after unloading and before loading (the test hook pauses it there), leaving the
# modules out and its journal behind; `nvfix reload --resume --yes` loads them back from disk (v2), verifies, and
# removes the journal. Nothing is left stopped or unloaded.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
echo "+ NVFIX_TEST_PAUSE_AFTER_STEP=unload nvfix reload --yes &"
NVFIX_TEST_PAUSE_AFTER_STEP=unload nvfix reload --yes >"$LAB_RESULTS/reload.out" 2>&1 &
pid=$!
# The hook announces the pause once the last unload step is journaled; the kill comes after that line.
i=0
while ! grep -q "NVFIX_TEST_PAUSE_AFTER_STEP=unload: pausing" "$LAB_RESULTS/reload.out" && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
cat "$LAB_RESULTS/reload.out"
lab_check "nvfix reached the pause after unloading" grep -q "pausing" "$LAB_RESULTS/reload.out"
lab_expect_eq "modules out while nvfix pauses" "$(lab_loaded)" ""
lab_check "journal written" test -s /run/nvfix/journal.json
kill -9 "$pid"
wait "$pid" 2>/dev/null
lab_check "nvfix is gone" test ! -d "/proc/$pid"
lab_say "killed nvfix (pid $pid) with the modules out"
lab_result journal-after-kill "$(cat /run/nvfix/journal.json)"
lab_expect_eq "modules still out after the kill" "$(lab_loaded)" ""
lab_nvfix dry-run reload --dry-run
lab_expect_contains "a dry run shows the pending journal" "$(cat "$LAB_RESULTS/dry-run.out")" "--resume"
lab_nvfix resume reload --resume --yes --json
lab_expect_eq "resume exit status" "$LAB_STATUS" 0
lab_expect_contains "resume outcome" "$(cat "$LAB_RESULTS/resume.out")" '"outcome": "resumed"'
lab_expect_eq "stack after resume" "$(lab_stack_versions)" "nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
lab_expect_eq "/proc/driver/nvidia/version after resume" "$(lab_proc_version)" "$V2"
lab_check "journal removed" test ! -e /run/nvfix/journal.json
lab_expect_eq "no process left stopped" "$(ps -o stat,comm | awk '$1 ~ /^T/' | wc -l)" 0
lab_nvfix verify verify --json
lab_expect_eq "nvfix verify exit status" "$LAB_STATUS" 0
lab_nvfix resume-again reload --resume --yes
lab_expect_eq "a second resume has nothing to do" "$LAB_STATUS" 0
lab_expect_contains "a second resume says so" "$(cat "$LAB_RESULTS/resume-again.out")" "nothing to resume"
