# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# boot.sh: the v1 stand-in stack loads with real kmod; versions show in /sys/module and /proc/driver/nvidia/version.
lab_load_stack
lab_expect_eq "loaded modules" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
for m in $LAB_STACK; do
	lab_expect_eq "/sys/module/$m/version" "$(lab_module_version "$m")" "$V1"
done
lab_expect_eq "/proc/driver/nvidia/version" "$(lab_proc_version)" "$V1"
lab_expect_contains "proprietary version line" "$(cat /proc/driver/nvidia/version)" "NVRM version: NVIDIA UNIX x86_64 Kernel Module  $V1  "
lab_check "/dev/nvidia-uvm made by the install hook" test -c /dev/nvidia-uvm
lab_expect_contains "nvidia holders" "$(grep '^nvidia ' /proc/modules)" "nvidia_modeset,nvidia_uvm,"
lab_result loaded "$(lab_loaded)"
lab_result proc-version "$(lab_proc_version)"
# Load stamps: one per module, and a new one only when that module is loaded again.
stamps=$(lab_stack_stamps)
lab_result stamps "$stamps"
lab_expect_not_contains "every module has a load stamp" "$stamps" "=none"
drm_before=$(cat /sys/module/nvidia_drm/parameters/load_stamp)
lab_run "$RMMOD" nvidia_drm
lab_run "$MODPROBE" nvidia_drm
lab_check "nvidia_drm loaded again has a new load stamp" test "$(cat /sys/module/nvidia_drm/parameters/load_stamp)" != "$drm_before"
lab_expect_eq "the others keep theirs" "$(lab_stack_stamps | cut -d' ' -f1-3)" "$(echo "$stamps" | cut -d' ' -f1-3)"
