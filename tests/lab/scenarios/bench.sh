# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# bench.sh: the downtime benchmark (`lab.sh bench`; not a test). The same incident twice in one run: v1 loaded and
# held by a CUDA job, v2 installed. Boot 1: `nvfix reload --yes` until `nvfix verify` passes; then the incident is
# set up again and `nvfix reboot --yes --now` reboots. Boot 2: the boot loads the modules, then `nvfix verify` until it
# passes. LAB-MARK lines are stamped with the host's clock; the guest's own reload time goes to results.
lab_verify_until_ok() {
	i=0
	until nvfix verify >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 50 ] && { lab_fail "nvfix verify did not pass"; return 1; }
		sleep 0.1
	done
}

case $LAB_BOOT in
1)
	lab_load_stack
	lab_hold cuda-app /dev/nvidia0
	lab_install_version "$V2"
	lab_mark reload-start
	t0=$(lab_now)
	nvfix reload --yes >"$LAB_RESULTS/reload.out" 2>&1
	lab_expect_eq "reload exit status" "$?" 0
	lab_verify_until_ok
	t1=$(lab_now)
	lab_mark reload-verified
	lab_result reload-seconds "$(lab_elapsed "$t0" "$t1")"
	lab_expect_eq "v2 after the reload" "$(lab_module_version nvidia)" "$V2"
	# The incident again, for the reboot: v1 loaded and held, v2 on disk.
	lab_run "$MODPROBE" -r nvidia_drm nvidia_modeset nvidia_uvm nvidia
	lab_install_version "$V1" modules
	lab_load_stack
	lab_install_version "$V2"
	lab_hold cuda-app /dev/nvidia0
	lab_expect_eq "v1 loaded again before the reboot" "$(lab_module_version nvidia)" "$V1"
	lab_install_reboot_wrappers
	lab_mark reboot-start
	nvfix reboot --yes --now >"$LAB_RESULTS/reboot.out" 2>&1
	lab_fail "nvfix reboot --yes --now returned (exit $?)"
	;;
*)
	# What udev does at boot on a real host.
	"$MODPROBE" -a nvidia nvidia_uvm nvidia_modeset nvidia_drm
	/lab/bin/nv-nodes
	lab_verify_until_ok
	lab_mark reboot-verified
	lab_expect_eq "v2 after the reboot" "$(lab_module_version nvidia)" "$V2"
	;;
esac
