# debian-lib.sh: helpers for the Debian guest's scenarios (sourced after lib.sh by /lab/run; dash): the local
# repository, real unattended-upgrades through its systemd units, package and unit state, the final state.

# shellcheck shell=sh disable=SC2034 # sourced by /lab/run (dash) after lib.sh; the scenarios read V3 and REV
V3=580.105.08
REV=-0ubuntu0.24.04.1
LAB_DRIVER_UNITS="nvidia-persistenced.service gpu-job.service"

# nvfix from the host's build (/lab/bin/nvfix) on PATH; scenarios that test the package install the .deb instead.
lab_use_nvfix_binary() { ln -sf /lab/bin/nvfix /usr/local/bin/nvfix; }

# lab_publish SNAPSHOT: the local repository now serves SNAPSHOT (v1, v2, v3, v2-broken: what /srv/nvfix-repo holds).
lab_publish() {
	ln -sfn "$1" /srv/nvfix-repo/current
	lab_say "published $1 in the local repository: nvidia-driver-580 $(awk '/^Package: / { p = $2 } /^Version: / && p == "nvidia-driver-580" { print $2 }' "/srv/nvfix-repo/$1/Packages" | sort -V | tr '\n' ' ')"
}

# lab_unattended_upgrade: what the daily timers do, now: apt-daily.service (apt-get update) and then
# apt-daily-upgrade.service (unattended-upgrade), both through systemd. The periodic stamps go first, so that
# apt.systemd.daily does not skip a run it thinks it did today.
lab_unattended_upgrade() {
	rm -f /var/lib/apt/periodic/*-stamp
	t0=$(lab_now)
	lab_run systemctl start apt-daily.service
	lab_run systemctl start apt-daily-upgrade.service
	lab_say "apt-daily + apt-daily-upgrade took $(lab_elapsed "$t0") s"
	lab_run tail -n 25 /var/log/unattended-upgrades/unattended-upgrades.log
}

# The installed version of a package, held or not ("absent" when it is not installed; the status letters and version
# when it is half-configured, e.g. "iF 580.95.05-...").
lab_pkg_version() {
	v=$(dpkg-query -W -f '${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null)
	case $v in
	ii* | hi*) echo "${v##* }" ;;
	"") echo absent ;;
	*) echo "$v" | tr -s ' ' ;;
	esac
}

# "unit=state ..." for the given units (systemctl is-active).
lab_units_state() {
	out=
	for u in "$@"; do out="$out $u=$(systemctl is-active "$u" 2>/dev/null)"; done
	echo "${out# }"
}

# MainPID of a unit (0 when it is not running).
lab_unit_pid() { systemctl show -p MainPID --value "$1"; }

# lab_wait_active UNIT [SECONDS]: waits until the unit is active (Restart= races, RestartSec).
lab_wait_active() {
	i=0
	while [ $i -lt $((${2:-20} * 10)) ]; do
		[ "$(systemctl is-active "$1")" = active ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The Debian side of the final state: packages, units, DKMS, and the logs apt, dpkg and unattended-upgrades wrote.
lab_debian_final_state() {
	d=$LAB_RESULTS/final
	mkdir -p "$d"
	dpkg-query -W -f '${Package} ${db:Status-Abbrev} ${Version}\n' 'nvidia-*' 'libnvidia-*' 'linux-modules-nvidia-*' 'nvfix' \
		2>/dev/null | awk 'NF >= 3' >"$d/packages"
	# shellcheck disable=SC2086 # a list of unit names, split on purpose
	lab_units_state $LAB_DRIVER_UNITS nvfix-check.timer nvfix-verify.service >"$d/units"
	dkms status >"$d/dkms" 2>/dev/null || true
	cp /var/log/apt/history.log "$d/apt-history.log" 2>/dev/null || true
	cp /var/log/dpkg.log "$d/dpkg.log" 2>/dev/null || true
	cp /var/log/unattended-upgrades/unattended-upgrades.log "$d/unattended-upgrades.log" 2>/dev/null || true
	apt-mark showhold >"$d/holds" 2>/dev/null || true
	echo "-- packages:"
	cat "$d/packages"
	echo "-- units: $(cat "$d/units")"
	echo "-- dkms: $(cat "$d/dkms")"
}
