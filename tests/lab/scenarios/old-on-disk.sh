# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# old-on-disk.sh: the upgrade changed the library but not the module for the running kernel (DKMS did not build): a
# reload would load v1 again and fix nothing, so nvfix refuses before touching anything (69) and unloads nothing.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2" library
lab_expect_eq "module on disk is still old" "$(lab_disk_version)" "$V1"
lab_nvfix diagnose diagnose --json
lab_expect_contains "diagnose: mismatch" "$(cat "$LAB_RESULTS/diagnose.out")" '"verdict": "version-mismatch"'
lab_expect_not_contains "diagnose: not a reload" "$(cat "$LAB_RESULTS/diagnose.out")" '"action": "reload"'
lab_nvfix reload reload --yes --json
lab_expect_eq "reload exit status (unavailable)" "$LAB_STATUS" 69
lab_expect_contains "reload refused" "$(cat "$LAB_RESULTS/reload.out")" '"status": "refused"'
lab_nvfix reload-text reload --yes
lab_expect_eq "reload (text) exit status" "$LAB_STATUS" 69
lab_expect_eq "stack untouched" "$(lab_stack_versions)" "nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
lab_check "holder untouched" lab_alive cuda-app
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
lab_check "no journal written" test ! -e /run/nvfix/journal.json
