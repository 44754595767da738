# pinned-reload.sh (for the reload engine; #[ignore]d test): nvidia_drm pinned with no process. Boot 1: reload restores
# the original stack, explains, exits "reboot required"; then with reboot allowed the guest really reboots. Boot 2:
# v2 is loaded and diagnose says healthy.
case $LAB_BOOT in
1)
	lab_load_stack pin=1
	lab_install_version "$V2"
	lab_nvfix reload reload --yes --json
	lab_check "reload did not succeed" test "$LAB_STATUS" -ne 0
	lab_expect_eq "original stack restored" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
	lab_expect_eq "still v1" "$(lab_module_version nvidia)" "$V1"
	lab_nvfix reload-reboot reload --yes --allow-reboot
	lab_fail "nvfix reload --allow-reboot returned instead of rebooting (exit $LAB_STATUS)"
	;;
*)
	lab_load_stack
	lab_expect_eq "v2 after reboot" "$(lab_module_version nvidia)" "$V2"
	lab_nvfix diagnose diagnose --json
	lab_expect_contains "verdict" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict": "healthy"'
	;;
esac
