# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# diagnose.sh: v1 loaded, v2 modules + v2 stand-in libnvidia-ml on disk: nvfix diagnose --json runs and prints JSON.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
lab_nvfix diagnose diagnose --json
lab_expect_contains "diagnose printed a verdict" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict"'
