# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# partial-unload.sh: a holder on /dev/nvidia0 makes `modprobe -r` stop at nvidia after removing the three above it.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_expect_eq "nvidia refcnt with one open file (cdev + fops owners)" "$(cat /sys/module/nvidia/refcnt)" 4
lab_expect_status "modprobe -r stops at nvidia" 1 "$MODPROBE" -r nvidia_drm nvidia_modeset nvidia_uvm nvidia
lab_expect_contains "kmod's message" "$LAB_OUT" "modprobe: FATAL: Module nvidia is in use."
lab_expect_eq "partial stack left behind" "$(lab_loaded)" "nvidia"
lab_check "the holder still runs" lab_alive cuda-app
lab_result after-modprobe-r "$(lab_loaded)"
lab_result modprobe-r-output "$LAB_OUT"
# Put the stack back the way an engine must, so the final state is whole again.
lab_load_stack
lab_expect_eq "stack restored" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
lab_expect_status "rmmod nvidia with dependents" 1 "$RMMOD" nvidia
lab_expect_contains "rmmod's message" "$LAB_OUT" "rmmod: ERROR: Module nvidia is in use by: "
