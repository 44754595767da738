# respawn.sh (for the reload engine; #[ignore]d test): a holder under a supervisor reopens /dev/nvidia0 after it is
# terminated. nvfix must notice before unloading, report it, exit non-zero, and leave the whole stack loaded.
lab_load_stack
lab_hold_respawning dcgm-exporter /dev/nvidia0
lab_install_version "$V2"
lab_nvfix reload reload --yes --json
lab_check "reload failed" test "$LAB_STATUS" -ne 0
lab_expect_contains "reload names the respawning holder" "$(cat "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err")" "dcgm-exporter"
lab_expect_eq "no partial stack" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
lab_expect_eq "still the old version" "$(lab_module_version nvidia)" "$V1"
