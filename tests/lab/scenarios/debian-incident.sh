# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-incident.sh (Debian guest, systemd): the seed incident with real machinery. v1 of the stand-in driver was
# installed by apt, is loaded, nvidia-persistenced.service (Restart=always) and gpu-job.service hold the GPU. v2 is
# published in the local repository and real unattended-upgrades (apt-daily + apt-daily-upgrade, its own config
# allowing the lab's origin) upgrades the driver; DKMS builds v2 for the running kernel: NVML says 18. `nvfix
# diagnose` tells the story from the logs apt and unattended-upgrades wrote; `nvfix reload --yes --kill` stops the
# units through systemd, reloads, verifies and starts them again.
lab_use_nvfix_binary
lab_expect_eq "v1 installed by apt" "$(lab_pkg_version nvidia-driver-580)" "$V1$REV"
lab_expect_eq "the v1 stack is loaded" "$(lab_stack_versions)" \
	"nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
lab_check "nvidia-persistenced.service is running" lab_wait_active nvidia-persistenced.service
lab_check "gpu-job.service is running" lab_wait_active gpu-job.service
persistenced_before=$(lab_unit_pid nvidia-persistenced.service)
job_before=$(lab_unit_pid gpu-job.service)
lab_nvfix verify-before verify
lab_expect_eq "nvfix verify on v1" "$LAB_STATUS" 0

lab_publish v2
lab_unattended_upgrade
lab_expect_eq "unattended-upgrades upgraded the driver" "$(lab_pkg_version nvidia-driver-580)" "$V2$REV"
lab_expect_eq "and the library" "$(lab_lib_version)" "$V2"
lab_expect_eq "DKMS built v2 for the running kernel" "$(lab_disk_version)" "$V2"
lab_expect_eq "v1 is still loaded" "$(lab_proc_version)" "$V1"
lab_expect_contains "unattended-upgrades' log names the packages" \
	"$(cat /var/log/unattended-upgrades/unattended-upgrades.log)" "nvidia-driver-580"
lab_expect_contains "apt's history.log: the transaction was unattended-upgrade's" \
	"$(cat /var/log/apt/history.log)" "Commandline: /usr/bin/unattended-upgrade"
lab_result dkms-status "$(dkms status | tr '\n' ';')"

lab_nvfix verify-mismatch verify
lab_check "nvfix verify fails on the mismatch" test "$LAB_STATUS" != 0
lab_nvfix diagnose-text diagnose
lab_nvfix diagnose-before diagnose --json
before=$(cat "$LAB_RESULTS/diagnose-before.out")
lab_expect_contains "verdict" "$before" '"verdict": "version-mismatch"'
lab_expect_contains "action" "$before" '"action": "reload"'
lab_expect_contains "NVML after the upgrade: code 18" "$(echo "$before" | tr -d ' \n')" '"code":18'
lab_expect_contains "the upgrade was unattended-upgrades'" "$before" '"by": "unattended-upgrades"'
lab_expect_contains "diagnose names the old version" "$before" "$V1"
lab_expect_contains "and the new one" "$before" "$V2"

lab_nvfix reload reload --yes --kill --json
lab_expect_eq "reload exit status" "$LAB_STATUS" 0
lab_expect_contains "reload outcome" "$(cat "$LAB_RESULTS/reload.out")" '"outcome": "fixed"'
lab_expect_contains "reload verified" "$(cat "$LAB_RESULTS/reload.out")" '"verified": true'
lab_expect_eq "the v2 stack is loaded" "$(lab_stack_versions)" \
	"nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
lab_expect_eq "/proc/driver/nvidia/version" "$(lab_proc_version)" "$V2"
lab_check "nvidia-persistenced.service is running again" lab_wait_active nvidia-persistenced.service
lab_check "gpu-job.service is running again" lab_wait_active gpu-job.service
lab_check "nvidia-persistenced was restarted (new pid)" test "$(lab_unit_pid nvidia-persistenced.service)" != "$persistenced_before"
lab_check "gpu-job was restarted (new pid)" test "$(lab_unit_pid gpu-job.service)" != "$job_before"
lab_check "the restarted job holds the v2 driver" test -n "$(lab_holder_pids /dev/nvidia0)"
lab_check "no journal left behind" test ! -e /run/nvfix/journal.json
lab_nvfix verify-after verify --json
lab_expect_eq "nvfix verify after the reload" "$LAB_STATUS" 0
lab_nvfix diagnose-after diagnose --json
lab_expect_contains "verdict after" "$(cat "$LAB_RESULTS/diagnose-after.out")" '"verdict": "healthy"'
# shellcheck disable=SC2086 # a list of unit names, split on purpose
lab_result units-after "$(lab_units_state $LAB_DRIVER_UNITS)"
