# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# reboot.sh: v1 is running, v2 is installed on disk, the guest reboots through the lab's reboot; the second boot
# loads v2 from the same disk.
case $LAB_BOOT in
1)
	lab_load_stack
	lab_install_version "$V2"
	lab_expect_eq "v1 still loaded before the reboot" "$(lab_module_version nvidia)" "$V1"
	lab_result boot1-loaded-version "$(lab_module_version nvidia)"
	reboot
	lab_fail "reboot returned"
	;;
*)
	lab_expect_eq "second boot" "$LAB_BOOT" 2
	lab_expect_eq "modules on disk survived the reboot" "$(lab_disk_version)" "$V2"
	lab_expect_eq "library survived the reboot" "$(lab_lib_version)" "$V2"
	lab_load_stack
	for m in $LAB_STACK; do
		lab_expect_eq "/sys/module/$m/version after reboot" "$(lab_module_version "$m")" "$V2"
	done
	lab_expect_eq "/proc/driver/nvidia/version after reboot" "$(lab_proc_version)" "$V2"
	lab_result boot2-loaded-version "$(lab_module_version nvidia)"
	;;
esac
