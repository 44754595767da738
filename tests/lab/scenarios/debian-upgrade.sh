# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-upgrade.sh (Debian guest): the planned upgrade. v1 installed (DKMS), held by nvfix, loaded, with
# nvidia-persistenced and a CUDA job unit on the GPU; v2 is published. `nvfix upgrade --check` sees it,
# `--dry-run` plans it and changes nothing, `nvfix upgrade --yes --kill` does it: trial build, unhold, apt-get install
# (DKMS builds v2), reload (units stopped and started again), NVML verification, hold at v2.
lab_use_nvfix_binary
lab_nvfix hold hold
lab_expect_eq "nvfix hold exit status" "$LAB_STATUS" 0
lab_publish v2
lab_run apt-get update -qq

lab_nvfix check upgrade --check --json
lab_expect_eq "check exit status" "$LAB_STATUS" 0
lab_expect_contains "check: v2 is offered" "$(cat "$LAB_RESULTS/check.out")" '"candidate": "580.95.05"'
lab_expect_contains "check: a reload applies it" "$(cat "$LAB_RESULTS/check.out")" '"apply_by": "reload"'
lab_nvfix check-prom upgrade --check --textfile -
lab_expect_contains "check: the metric" "$(cat "$LAB_RESULTS/check-prom.out")" 'nvfix_driver_upgrade_available{branch="580",installed="580.65.06",candidate="580.95.05"} 1'

stamps=$(lab_stack_stamps)
lab_nvfix dry-run upgrade --dry-run
lab_expect_eq "dry run exit status" "$LAB_STATUS" 0
lab_expect_contains "the plan names the DKMS build" "$(cat "$LAB_RESULTS/dry-run.out")" "DKMS builds it (nvidia-dkms-580)"
lab_expect_contains "the plan names the way back" "$(cat "$LAB_RESULTS/dry-run.out")" "nvidia-driver-580=$V1$REV"
lab_expect_eq "dry run: packages untouched" "$(lab_pkg_version nvidia-driver-580)" "$V1$REV"
lab_expect_eq "dry run: stack untouched" "$(lab_stack_stamps)" "$stamps"
job_pid=$(lab_unit_pid gpu-job.service)

lab_nvfix upgrade upgrade --yes --kill
lab_expect_eq "upgrade exit status" "$LAB_STATUS" 0
lab_result versions "$(lab_pkg_version nvidia-driver-580) $(lab_pkg_version libnvidia-compute-580) $(lab_pkg_version nvidia-dkms-580)"
lab_expect_eq "v2 loaded" "$(lab_proc_version)" "$V2"
lab_expect_eq "v2 library" "$(lab_lib_version)" "$V2"
lab_expect_eq "v2 on disk" "$(lab_disk_version)" "$V2"
lab_expect_eq "the metapackage is v2" "$(lab_pkg_version nvidia-driver-580)" "$V2$REV"
lab_check "gpu-job.service runs again" lab_wait_active gpu-job.service 20
lab_check "nvidia-persistenced.service runs again" lab_wait_active nvidia-persistenced.service 20
lab_check "the job was restarted on the new driver" test "$(lab_unit_pid gpu-job.service)" != "$job_pid"
lab_run apt-mark showhold
lab_expect_contains "held again: the metapackage" "$LAB_OUT" nvidia-driver-580
lab_expect_contains "held again: the library" "$LAB_OUT" libnvidia-compute-580
lab_expect_contains "held again: the new firmware package" "$LAB_OUT" "nvidia-firmware-580-$V2"
lab_nvfix hold-status hold --status
lab_expect_eq "hold --status: protected" "$LAB_STATUS" 0
lab_nvfix verify verify --json
lab_expect_eq "verify" "$LAB_STATUS" 0
lab_check "no upgrade journal left" test ! -e /var/lib/nvfix/upgrade.json
lab_check "no trial folder left" test ! -e /var/lib/nvfix/upgrade-trial
lab_nvfix again upgrade --yes
lab_expect_contains "nothing more to upgrade" "$(cat "$LAB_RESULTS/again.out")" "nothing to upgrade"
