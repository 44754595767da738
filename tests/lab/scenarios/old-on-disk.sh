# old-on-disk.sh (for the reload engine; #[ignore]d test): the upgrade changed the library but not the module for the
# running kernel (DKMS did not build): a reload would fix nothing, so nvfix unloads nothing.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2" library
lab_expect_eq "module on disk is still old" "$(lab_disk_version)" "$V1"
lab_nvfix reload reload --yes --json
lab_check "reload refused" test "$LAB_STATUS" -ne 0
lab_expect_eq "stack untouched" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
lab_check "holder untouched" lab_alive cuda-app
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
