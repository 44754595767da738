# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# pinned-reload.sh: nvidia_drm pinned with no process (like fbcon). Boot 1: `nvfix reload --yes` sees the reference
# no process or module explains, refuses before touching anything (69, "reboot required") and the whole v1 stack
# stays; `nvfix reboot --yes --now` then checks its guards and reboots the guest for real (systemctl reboot, the lab's
# stand-in). Boot 2: the boot loads v2 from disk; diagnose says healthy and `nvfix verify` passes.
case $LAB_BOOT in
1)
	lab_load_stack pin=1
	lab_install_version "$V2"
	lab_nvfix reload reload --yes --json
	lab_expect_eq "reload exit status (reboot required)" "$LAB_STATUS" 69
	lab_expect_contains "reload explains" "$(cat "$LAB_RESULTS/reload.out")" "reboot required"
	lab_expect_contains "reload names the pinned module" "$(cat "$LAB_RESULTS/reload.out")" "nvidia_drm"
	lab_expect_contains "reload points to nvfix reboot" "$(cat "$LAB_RESULTS/reload.out")" "nvfix reboot"
	lab_nvfix reload-text reload --yes
	lab_expect_eq "reload (text) exit status" "$LAB_STATUS" 69
	lab_expect_eq "original stack fully loaded" "$(lab_stack_versions)" "nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
	lab_expect_eq "nothing was unloaded (nvidia loaded once)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
	lab_result boot1-stack "$(lab_stack_versions)"
	lab_install_reboot_wrappers
	lab_nvfix reboot-dry-run reboot --dry-run --now --json
	lab_expect_eq "reboot guards pass (dry run)" "$LAB_STATUS" 0
	lab_mark reboot-start
	lab_nvfix reboot reboot --yes --now
	lab_fail "nvfix reboot --yes --now returned instead of rebooting (exit $LAB_STATUS)"
	;;
*)
	lab_expect_eq "second boot" "$LAB_BOOT" 2
	lab_expect_eq "rebooted through systemctl reboot" "$(cut -d' ' -f1-2 /lab/state/systemctl)" "lab: systemctl"
	# On a real host udev loads the modules at boot; here the scenario does.
	lab_load_stack
	lab_expect_eq "v2 after the reboot" "$(lab_stack_versions)" "nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
	lab_nvfix diagnose diagnose --json
	lab_expect_contains "verdict" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict": "healthy"'
	lab_nvfix verify verify --json
	lab_expect_eq "nvfix verify exit status" "$LAB_STATUS" 0
	lab_mark verified
	;;
esac
