# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-package.sh (Debian guest): nvfix's own .deb (packaging/build-deb) with real dpkg and systemd: `dpkg -i`
# enables and starts nvfix-check.timer, enables nvfix-verify.service, ships nvfix-auto.timer disabled; the timer's own
# run writes the Prometheus textfile; `dpkg --purge` leaves no file of nvfix's behind.
# lab-needs: nvfix-deb
TEXTFILE=/var/lib/prometheus/node-exporter/nvfix.prom
# Every path whose name mentions nvfix, outside the lab's share: before the install and after the purge.
nvfix_paths() {
	find / -xdev \( -path /lab -o -path /proc -o -path /sys \) -prune -o -name '*nvfix*' -print | sort
}
# The lab's only change to the package's units: the timer's first run at once instead of OnBootSec=2min plus a
# randomised delay (minutes of an idle guest). The schedule is the unit's; what is proved is that the timer, started
# by dpkg -i, triggers nvfix-check.service and that run writes the textfile. Made before the "before" listing, so the
# purge check does not count it.
mkdir -p /etc/systemd/system/nvfix-check.timer.d
printf '[Timer]\nOnBootSec=\nOnBootSec=1s\nRandomizedDelaySec=0\nAccuracySec=1s\n' \
	>/etc/systemd/system/nvfix-check.timer.d/lab-first-run-now.conf
nvfix_paths >/run/nvfix-paths-before
lab_expect_status "dpkg -i nvfix.deb" 0 dpkg -i /lab/nvfix.deb
lab_expect_eq "nvfix-check.timer is enabled" "$(systemctl is-enabled nvfix-check.timer)" enabled
lab_expect_eq "nvfix-verify.service is enabled" "$(systemctl is-enabled nvfix-verify.service)" enabled
# Started at install, as dh_installsystemd does (packaging/debian/postinst), not only at the next boot.
lab_result timer-after-install "$(systemctl is-active nvfix-check.timer)"
lab_expect_eq "nvfix-check.timer is started by dpkg -i" "$(systemctl is-active nvfix-check.timer)" active
# The unattended reload is the admin's call: shipped, neither enabled nor started.
lab_expect_eq "nvfix-auto.timer is shipped disabled" "$(systemctl is-enabled nvfix-auto.timer)" disabled
lab_expect_eq "/etc/nvfix/nvfix.yaml is a conffile" \
	"$(dpkg-query -W -f '${Conffiles}' nvfix | grep -c /etc/nvfix/nvfix.yaml)" 1
lab_run systemctl list-timers --all nvfix-check.timer
# Wait for the service the timer triggers.
i=0
while [ ! -s "$TEXTFILE" ] && [ $i -lt 300 ]; do
	sleep 1
	i=$((i + 1))
done
lab_result textfile-after-seconds "$i"
lab_check "the timer's run wrote $TEXTFILE" test -s "$TEXTFILE"
lab_run grep '^nvfix_verdict' "$TEXTFILE"
lab_expect_contains "with the verdict" "$LAB_OUT" 'nvfix_verdict{verdict="healthy"} 1'
lab_expect_eq "nvfix-check.service ran successfully" "$(systemctl show -p Result --value nvfix-check.service)" success
lab_run journalctl -b -u nvfix-check.service --no-pager -o cat
lab_expect_contains "started by its timer" "$(systemctl show -p TriggeredBy --value nvfix-check.service)" nvfix-check.timer

rm -r /etc/systemd/system/nvfix-check.timer.d
lab_expect_status "dpkg --purge nvfix" 0 dpkg --purge nvfix
lab_expect_eq "dpkg forgot nvfix" "$(lab_pkg_version nvfix)" absent
nvfix_paths >/run/nvfix-paths-after
lab_run comm -13 /run/nvfix-paths-before /run/nvfix-paths-after
lab_result leftovers "$(echo "$LAB_OUT" | tr '\n' ' ' | sed 's/ $//')"
lab_expect_eq "nothing of nvfix's is left" "$LAB_OUT" ""
lab_run systemctl list-unit-files --no-legend nvfix-check.timer nvfix-check.service nvfix-verify.service \
	nvfix-auto.timer nvfix-auto.service
lab_expect_eq "systemd knows none of nvfix's units" "$LAB_OUT" ""
