# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-reboot.sh (Debian guest): `nvfix reboot` with real systemd. nvfix's .deb installed with dpkg -i; real
# unattended-upgrades installs v2 under the loaded v1. `nvfix reboot --delay 5` schedules a real `shutdown -r +5`
# (logind's /run/systemd/shutdown/scheduled) and `--cancel` takes it back; a block inhibitor (systemd-inhibit) and a
# held dpkg lock each make it defer (75) and schedule nothing; `nvfix reboot --now` reboots the guest, and boot 2 runs
# v2, where nvfix-verify.service (from the .deb) confirms the new boot.
# lab-needs: nvfix-deb
SCHEDULED=/run/systemd/shutdown/scheduled
if [ "$LAB_BOOT" = 1 ]; then
	lab_expect_status "dpkg -i nvfix.deb" 0 dpkg -i /lab/nvfix.deb
	lab_publish v2
	lab_unattended_upgrade
	lab_expect_eq "v2 installed by unattended-upgrades" "$(lab_pkg_version nvidia-driver-580)" "$V2$REV"

	# The package's nvfix-check.timer (started by dpkg -i) runs every 5 minutes and holds the run lock for its NVML
	# probe; a reboot asked for at that second answers 75 ("try again"), which is right but not what this scenario
	# tests. Stop the timer, and wait for a check in progress, so the steps below never race it.
	lab_run systemctl stop nvfix-check.timer
	i=0
	while systemctl is-active -q nvfix-check.service && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	lab_nvfix schedule reboot --yes --delay 5
	lab_expect_eq "reboot --delay 5: scheduled (exit status)" "$LAB_STATUS" 0
	lab_check "logind has the reboot scheduled" test -f "$SCHEDULED"
	lab_run cat "$SCHEDULED"
	lab_expect_contains "a reboot" "$LAB_OUT" "MODE=reboot"
	lab_nvfix cancel reboot --cancel
	lab_expect_eq "reboot --cancel exit status" "$LAB_STATUS" 0
	lab_check "logind's schedule is gone" test ! -e "$SCHEDULED"

	systemd-inhibit --what=shutdown --mode=block --who=lab-backup --why="nightly backup" sleep 1000 &
	inhibitor=$!
	sleep 2
	lab_run systemd-inhibit --list --no-pager
	lab_nvfix inhibited reboot --yes --delay 5
	lab_expect_eq "with a block inhibitor: deferred" "$LAB_STATUS" 75
	lab_expect_contains "naming it" "$(cat "$LAB_RESULTS/inhibited.out" "$LAB_RESULTS/inhibited.err")" lab-backup
	lab_check "nothing scheduled" test ! -e "$SCHEDULED"
	kill "$inhibitor"
	wait "$inhibitor" 2>/dev/null

	python3 -c 'import fcntl, time
f = open("/var/lib/dpkg/lock-frontend", "w")
fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(1000)' &
	locker=$!
	sleep 2
	lab_nvfix locked reboot --yes --delay 5
	lab_expect_eq "with the dpkg lock held: deferred" "$LAB_STATUS" 75
	lab_expect_contains "naming the lock" "$(cat "$LAB_RESULTS/locked.out" "$LAB_RESULTS/locked.err")" lock-frontend
	lab_check "nothing scheduled" test ! -e "$SCHEDULED"
	kill "$locker"
	wait "$locker" 2>/dev/null

	lab_result boot1-loaded-version "$(lab_proc_version)"
	lab_mark reboot-now
	lab_nvfix now reboot --yes --now
	# Only reached when the reboot did not happen (systemd stops this runner on the way down).
	sleep 120
	lab_fail "nvfix reboot --now returned $LAB_STATUS and the guest did not reboot"
else
	lab_expect_eq "boot 2 runs v2" "$(lab_proc_version)" "$V2"
	i=0
	while [ "$(systemctl show -p ActiveState --value nvfix-verify.service)" = activating ] && [ $i -lt 120 ]; do
		sleep 1
		i=$((i + 1))
	done
	lab_expect_eq "nvfix-verify.service confirmed the boot" "$(systemctl show -p Result --value nvfix-verify.service)" success
	lab_expect_eq "and stays active" "$(systemctl is-active nvfix-verify.service)" active
	lab_run journalctl -b -u nvfix-verify.service --no-pager -o cat
	lab_result verify-journal "$(echo "$LAB_OUT" | tr '\n' ' ')"
	lab_nvfix verify verify
	lab_expect_eq "nvfix verify on boot 2" "$LAB_STATUS" 0
fi
