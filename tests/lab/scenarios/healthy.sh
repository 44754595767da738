# healthy.sh (for the reload engine; #[ignore]d test): versions agree: diagnose says healthy and reload touches nothing.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_nvfix diagnose diagnose --json
lab_expect_contains "verdict" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict": "healthy"'
lab_nvfix reload reload --yes --json
lab_expect_eq "reload exit status" "$LAB_STATUS" 0
lab_check "holder untouched" lab_alive cuda-app
lab_expect_eq "stack untouched" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
