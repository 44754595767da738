# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-upgrade-dkms-fail.sh (Debian guest): v2's DKMS source does not compile. `nvfix upgrade` finds out in its
# trial (a private DKMS tree) and refuses before anything changes: packages, holds, the DKMS tree, the modules on disk
# and the loaded stack stay v1, the units keep running; DKMS's make.log is kept for reading.
lab_use_nvfix_binary
lab_nvfix hold hold
lab_publish v2-broken
lab_run apt-get update -qq
stamps=$(lab_stack_stamps)
lab_run apt-mark showhold
holds=$LAB_OUT

lab_nvfix upgrade upgrade --yes --kill --json
lab_expect_eq "refused: unavailable" "$LAB_STATUS" 69
lab_expect_contains "the refusal names the build" "$(cat "$LAB_RESULTS/upgrade.out")" "DKMS cannot build nvidia $V2"
lab_expect_contains "the compiler's error is quoted" "$(cat "$LAB_RESULTS/upgrade.out")" "error: #error"
lab_expect_eq "the metapackage stays v1" "$(lab_pkg_version nvidia-driver-580)" "$V1$REV"
lab_expect_eq "the library stays v1" "$(lab_pkg_version libnvidia-compute-580)" "$V1$REV"
lab_expect_eq "the DKMS package stays v1" "$(lab_pkg_version nvidia-dkms-580)" "$V1$REV"
lab_expect_eq "the modules on disk stay v1" "$(lab_disk_version)" "$V1"
lab_expect_eq "the v1 stack is untouched (same load stamps)" "$(lab_stack_stamps)" "$stamps"
lab_run apt-mark showhold
lab_expect_eq "the holds are unchanged" "$LAB_OUT" "$holds"
lab_run dkms status
lab_expect_not_contains "the system's DKMS tree never saw v2" "$LAB_OUT" "$V2"
lab_check "DKMS's make.log is kept" test -s "/var/lib/nvfix/upgrade-trial/dkms/nvidia/$V2/build/make.log"
lab_check "no upgrade journal" test ! -e /var/lib/nvfix/upgrade.json
lab_check "nvidia-persistenced.service still runs" lab_wait_active nvidia-persistenced.service 5
lab_check "gpu-job.service still runs" lab_wait_active gpu-job.service 5
lab_nvfix verify verify
lab_expect_eq "v1 verifies" "$LAB_STATUS" 0
