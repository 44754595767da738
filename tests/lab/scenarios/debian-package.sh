# debian-package.sh (Debian guest): nvfix's own .deb (cargo deb) with real dpkg and systemd: `dpkg -i` enables
# nvfix-check.timer and nvfix-verify.service; the timer's own run writes the Prometheus textfile; `dpkg --purge`
# leaves no file of nvfix's behind.
# lab-needs: nvfix-deb
TEXTFILE=/var/lib/prometheus/node-exporter/nvfix.prom
# Every path whose name mentions nvfix, outside the lab's share: before the install and after the purge.
nvfix_paths() {
	find / -xdev \( -path /lab -o -path /proc -o -path /sys \) -prune -o -name '*nvfix*' -print | sort
}
nvfix_paths >/run/nvfix-paths-before
lab_expect_status "dpkg -i nvfix.deb" 0 dpkg -i /lab/nvfix.deb
lab_expect_eq "nvfix-check.timer is enabled" "$(systemctl is-enabled nvfix-check.timer)" enabled
lab_expect_eq "nvfix-verify.service is enabled" "$(systemctl is-enabled nvfix-verify.service)" enabled
# The timer starts at install or at the next boot, depending on the packaging; either way it is the timer's run
# that must write the textfile.
timer_at_install=$(systemctl is-active nvfix-check.timer)
lab_result timer-after-install "$timer_at_install"
[ "$timer_at_install" = active ] || lab_run systemctl start nvfix-check.timer
lab_run systemctl list-timers --all nvfix-check.timer
# OnBootSec=2min plus up to a minute of randomised delay and accuracy: wait for the service the timer triggers.
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

lab_expect_status "dpkg --purge nvfix" 0 dpkg --purge nvfix
lab_expect_eq "dpkg forgot nvfix" "$(lab_pkg_version nvfix)" absent
nvfix_paths >/run/nvfix-paths-after
lab_run comm -13 /run/nvfix-paths-before /run/nvfix-paths-after
lab_result leftovers "$(echo "$LAB_OUT" | tr '\n' ' ' | sed 's/ $//')"
lab_expect_eq "nothing of nvfix's is left" "$LAB_OUT" ""
lab_check "systemd knows none of nvfix's units" \
	test -z "$(systemctl list-unit-files nvfix-check.timer nvfix-check.service nvfix-verify.service --no-legend)"
