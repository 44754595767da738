# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-dkms-fail.sh (Debian guest): v2's DKMS source does not compile for the running kernel. Real
# unattended-upgrades installs it: the library moves to v2, DKMS's build fails (its make.log has the compiler error),
# dpkg leaves nvidia-dkms-580 half-configured, and the v1 modules are gone from disk (the old package's prerm removed
# them, as dh_dkms's does). diagnose says so from DKMS's own state and log; reload refuses and touches nothing.
lab_use_nvfix_binary
stamps=$(lab_stack_stamps)
lab_publish v2-broken
lab_unattended_upgrade
lab_result versions "$(lab_pkg_version nvidia-driver-580) $(lab_pkg_version libnvidia-compute-580) $(lab_pkg_version nvidia-dkms-580)"
lab_expect_eq "the library was upgraded" "$(lab_lib_version)" "$V2"
lab_check "nvidia-dkms-580 is not configured" test "$(lab_pkg_version nvidia-dkms-580)" != "$V2$REV"
lab_run dkms status
lab_result dkms-status "$(echo "$LAB_OUT" | tr '\n' ';')"
lab_run grep -m1 'error:' "/var/lib/dkms/nvidia/$V2/build/make.log"
lab_expect_contains "DKMS's make.log has the compiler error" "$LAB_OUT" "error: #error"
lab_expect_eq "v1 still loaded" "$(lab_proc_version)" "$V1"

lab_nvfix diagnose-text diagnose
lab_nvfix diagnose diagnose --json
lab_expect_contains "diagnose: repair, not reload" "$(cat "$LAB_RESULTS/diagnose.out")" '"action": "repair"'
lab_expect_contains "diagnose names DKMS's build log" "$(cat "$LAB_RESULTS/diagnose.out")" "/var/lib/dkms/nvidia/$V2/build/make.log"
lab_nvfix reload reload --yes --kill --json
lab_expect_eq "reload refuses (unavailable)" "$LAB_STATUS" 69
lab_expect_eq "the v1 stack is untouched (same load stamps)" "$(lab_stack_stamps)" "$stamps"
lab_check "nvidia-persistenced.service still runs" lab_wait_active nvidia-persistenced.service 5
lab_check "gpu-job.service still runs" lab_wait_active gpu-job.service 5
lab_check "no journal left" test ! -e /run/nvfix/journal.json
