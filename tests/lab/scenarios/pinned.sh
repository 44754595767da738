# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# pinned.sh: nvidia_drm loaded with pin=1 (held like fbcon holds it, by no process) cannot be removed.
lab_load_stack pin=1
lab_expect_eq "nvidia_drm refcnt" "$(cat /sys/module/nvidia_drm/refcnt)" 1
lab_expect_eq "nobody holds a device" "$(lab_holder_pids /dev/nvidia0)" ""
lab_expect_status "rmmod nvidia_drm" 1 "$RMMOD" nvidia_drm
lab_expect_contains "rmmod's message" "$LAB_OUT" "rmmod: ERROR: Module nvidia_drm is in use"
lab_expect_status "modprobe -r the stack" 1 "$MODPROBE" -r nvidia_drm nvidia_modeset nvidia_uvm nvidia
lab_expect_contains "modprobe's message" "$LAB_OUT" "modprobe: FATAL: Module nvidia_drm is in use."
lab_expect_eq "whole stack still loaded" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
lab_result loaded "$(lab_loaded)"
