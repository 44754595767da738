# incident.sh (for the reload engine; wired as an #[ignore]d test): the project's origin. v1 loaded, a CUDA job holds
# /dev/nvidia0 and another /dev/nvidia-uvm, apt upgraded to v2: diagnose says version-mismatch/reload, `nvfix reload
# --yes` terminates the holders, unloads, loads v2, verifies; diagnose then says healthy.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_hold uvm-app /dev/nvidia-uvm
lab_install_version "$V2"
lab_nvfix diagnose-before diagnose --json
lab_expect_contains "verdict before" "$(cat "$LAB_RESULTS/diagnose-before.out")" '"verdict": "version-mismatch"'
lab_expect_contains "action before" "$(cat "$LAB_RESULTS/diagnose-before.out")" '"action": "reload"'
lab_nvfix reload reload --yes --json
lab_expect_eq "reload exit status" "$LAB_STATUS" 0
for m in $LAB_STACK; do
	lab_expect_eq "$m after reload" "$(lab_module_version "$m")" "$V2"
done
if lab_alive cuda-app; then lab_fail "cuda-app still runs"; else lab_pass "cuda-app was terminated"; fi
if lab_alive uvm-app; then lab_fail "uvm-app still runs"; else lab_pass "uvm-app was terminated"; fi
lab_expect_eq "nobody holds /dev/nvidia0" "$(lab_holder_pids /dev/nvidia0)" ""
lab_nvfix diagnose-after diagnose --json
lab_expect_contains "verdict after" "$(cat "$LAB_RESULTS/diagnose-after.out")" '"verdict": "healthy"'
