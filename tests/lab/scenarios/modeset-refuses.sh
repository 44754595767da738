# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# modeset-refuses.sh: a v2 nvidia_modeset will not load on a v1 nvidia (the real driver's version check).
lab_run "$MODPROBE" nvidia
lab_install_version "$V2" modules
lab_expect_eq "modules on disk" "$(lab_disk_version)" "$V2"
lab_expect_status "modprobe nvidia_modeset (v2) on nvidia (v1)" 1 "$MODPROBE" nvidia_modeset
lab_expect_contains "modprobe's message" "$LAB_OUT" "could not insert 'nvidia_modeset': Invalid argument"
lab_expect_contains "kernel log" "$(dmesg)" "nvidia-modeset: Version mismatch: nvidia.ko($V1) nvidia-modeset.ko($V2)"
lab_expect_eq "only nvidia is loaded" "$(lab_loaded)" "nvidia"
lab_expect_eq "nvidia is still v1" "$(lab_module_version nvidia)" "$V1"
lab_result loaded "$(lab_loaded)"
