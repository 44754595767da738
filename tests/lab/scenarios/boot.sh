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
