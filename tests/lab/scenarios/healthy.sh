# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# healthy.sh: the upgrade is already in effect (v2 modules and v2 library installed, v2 loaded) and a CUDA job runs:
# diagnose says healthy and `nvfix reload --yes` touches nothing ("nothing to do", exit 0).
lab_install_version "$V2"
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_nvfix diagnose diagnose --json
lab_expect_contains "verdict" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict": "healthy"'
lab_nvfix reload reload --yes
lab_expect_eq "reload exit status" "$LAB_STATUS" 0
lab_expect_contains "reload says so" "$(cat "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err")" "nothing to do"
lab_nvfix reload-json reload --yes --json
lab_expect_eq "reload --json exit status" "$LAB_STATUS" 0
lab_expect_contains "reload --json status" "$(cat "$LAB_RESULTS/reload-json.out")" '"status": "nothing-to-do"'
lab_check "holder untouched" lab_alive cuda-app
lab_expect_eq "stack untouched" "$(lab_stack_versions)" "nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
lab_check "no journal written" test ! -e /run/nvfix/journal.json
lab_nvfix verify verify
lab_expect_eq "nvfix verify exit status" "$LAB_STATUS" 0
