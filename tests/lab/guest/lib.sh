# lib.sh: helpers for the lab's guest-side scenario scripts (sourced by /lab/init; dash). Checks print PASS:/FAIL:
# lines on the console and record failures on the disk, so a failure before a reboot still fails the scenario;
# results go to /lab/results/<key> on the disk, which the host reads after QEMU exits.

# shellcheck shell=sh disable=SC2034 # sourced by the guest's init (dash); the scenarios read V2, LAB_SCENARIO, RMMOD
V1=580.65.06
V2=580.95.05
LAB_KVER=$(uname -r)
LAB_MODDIR=/lib/modules/$LAB_KVER
LAB_UPDATES=$LAB_MODDIR/updates/dkms
LAB_LIBDIR=/usr/lib/x86_64-linux-gnu
LAB_RESULTS=/lab/results
LAB_SCENARIO=$(cat /lab/scenario-name 2>/dev/null)
LAB_STACK="nvidia nvidia_uvm nvidia_modeset nvidia_drm"
# Full paths: busybox would otherwise run its own applets for bare names in some contexts (field notes).
MODPROBE=/usr/sbin/modprobe
RMMOD=/usr/sbin/rmmod

# --- bookkeeping --------------------------------------------------------------------------------------------------

# Counts boots on the disk: LAB_BOOT is 1 on the first boot, 2 after the first reboot, ...
lab_start_boot() {
	LAB_BOOT=$(($(cat /lab/state/boot 2>/dev/null || echo 0) + 1))
	echo "$LAB_BOOT" >/lab/state/boot
	touch /lab/state/failures
	mkdir -p /run/lab-bin /run/lab-pids "$LAB_RESULTS"
	/lab/bin/nv-nodes
	export LAB_BOOT
}

lab_say() { echo "lab: $*"; }
lab_pass() { echo "PASS: $*"; }
lab_fail() {
	echo "FAIL: $*"
	echo "boot $LAB_BOOT: $*" >>/lab/state/failures
}

# Writes the QEMU exit status through isa-debug-exit (0 -> QEMU 1, 1 -> QEMU 3).
lab_exit() {
	# shellcheck disable=SC2059 # the format is built on purpose: an octal escape printf turns into one byte
	printf "\\$(printf '%03o' "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	# Only reached without the debug-exit device.
	busybox poweroff -f
}

# --- checks -------------------------------------------------------------------------------------------------------

# lab_check "description" command...: passes when the command succeeds.
lab_check() {
	desc=$1
	shift
	if "$@"; then lab_pass "$desc"; else lab_fail "$desc"; fi
}

# lab_expect_eq "description" actual expected
lab_expect_eq() {
	if [ "$2" = "$3" ]; then lab_pass "$1 ($2)"; else lab_fail "$1: got '$2', want '$3'"; fi
}

# lab_expect_contains "description" haystack needle
lab_expect_contains() {
	case $2 in
	*"$3"*) lab_pass "$1" ;;
	*) lab_fail "$1: '$3' not in: $2" ;;
	esac
}

# lab_expect_not_contains "description" haystack needle
lab_expect_not_contains() {
	case $2 in
	*"$3"*) lab_fail "$1: '$3' found in: $2" ;;
	*) lab_pass "$1" ;;
	esac
}

# lab_run command...: runs a command with its output on the console and in $LAB_OUT, its status in $LAB_STATUS.
lab_run() {
	echo "+ $*"
	LAB_OUT=$("$@" 2>&1)
	LAB_STATUS=$?
	[ -n "$LAB_OUT" ] && echo "$LAB_OUT"
	echo "+ exit $LAB_STATUS"
	return 0
}

# lab_expect_status "description" expected command...
lab_expect_status() {
	desc=$1
	want=$2
	shift 2
	lab_run "$@"
	lab_expect_eq "$desc: exit status" "$LAB_STATUS" "$want"
}

# --- results for the host -----------------------------------------------------------------------------------------

# lab_result key value: one value the host test reads from the disk (and the console shows).
lab_result() {
	mkdir -p "$(dirname "$LAB_RESULTS/$1")"
	printf '%s\n' "$2" >"$LAB_RESULTS/$1"
	echo "RESULT $1=$2"
}

# Seconds since the guest booted, to 10 ms (busybox date has no %N; /proc/uptime is enough for durations).
lab_now() { cut -d' ' -f1 /proc/uptime; }

# lab_elapsed START [END]: seconds between two lab_now readings.
lab_elapsed() { awk -v a="$1" -v b="${2:-$(lab_now)}" 'BEGIN { printf "%.2f", b - a }'; }

# lab_mark NAME: a line the host timestamps with its own clock (lab.sh bench), e.g. across a reboot.
lab_mark() { echo "LAB-MARK $1 boot=$LAB_BOOT uptime=$(lab_now)"; }

# lab_nvfix key args...: runs nvfix, keeps stdout/stderr/status as results <key>.out, .err, .status (and how long it
# took, <key>.seconds).
lab_nvfix() {
	key=$1
	shift
	echo "+ nvfix $*"
	t0=$(lab_now)
	nvfix "$@" >"$LAB_RESULTS/$key.out" 2>"$LAB_RESULTS/$key.err"
	st=$?
	lab_elapsed "$t0" >"$LAB_RESULTS/$key.seconds"
	echo "$st" >"$LAB_RESULTS/$key.status"
	echo "---- begin nvfix $key stdout ----"
	cat "$LAB_RESULTS/$key.out"
	echo "---- end nvfix $key stdout; stderr: ----"
	cat "$LAB_RESULTS/$key.err"
	echo "---- nvfix $key exit $st after $(cat "$LAB_RESULTS/$key.seconds") s ----"
	LAB_STATUS=$st
	return 0
}

# The guest's state at the end of the last boot: the host tests assert on these files.
lab_final_state() {
	d=$LAB_RESULTS/final
	mkdir -p "$d"
	grep -E '^nvidia' /proc/modules >"$d/proc-modules" || true
	: >"$d/versions"
	for m in $LAB_STACK nvidia_peermem; do
		[ -d "/sys/module/$m" ] && echo "$m $(cat "/sys/module/$m/version" 2>/dev/null) $(cat "/sys/module/$m/refcnt")" >>"$d/versions"
	done
	lab_stack_stamps >"$d/stamps"
	cat /proc/driver/nvidia/version >"$d/proc-version" 2>/dev/null || : >"$d/proc-version"
	ps -o pid,stat,comm,args >"$d/ps"
	dmesg >"$d/dmesg"
	echo "$LAB_BOOT" >"$d/boots"
	echo "==== LAB FINAL STATE ===="
	echo "-- modules (name version refcnt):"
	cat "$d/versions"
	echo "-- /proc/driver/nvidia/version:"
	cat "$d/proc-version"
	echo "-- processes:"
	grep -vE ' \[|ps -o' "$d/ps"
}

# --- module and device state --------------------------------------------------------------------------------------

# The loaded version of a module, or "absent".
lab_module_version() {
	cat "/sys/module/$1/version" 2>/dev/null || echo absent
}

lab_is_loaded() { grep -q "^$1 " /proc/modules; }

# Loaded NVIDIA modules, sorted, space-separated ("" when none).
lab_loaded() {
	awk '$1 ~ /^nvidia/ { print $1 }' /proc/modules | sort | tr '\n' ' ' | sed 's/ $//'
}

# The version /proc/driver/nvidia/version reports ("absent" when nvidia is not loaded).
lab_proc_version() {
	sed -n 's/^NVRM version: .*Module  *\([0-9][0-9.]*\) .*/\1/p' /proc/driver/nvidia/version 2>/dev/null | grep . || echo absent
}

# The version of the module files on disk for the running kernel.
lab_disk_version() {
	modinfo -F version nvidia 2>/dev/null || echo absent
}

# The libnvidia-ml version installed (from its real file name).
lab_lib_version() {
	for f in "$LAB_LIBDIR"/libnvidia-ml.so.*.*; do
		[ -e "$f" ] && echo "${f##*libnvidia-ml.so.}"
	done
}

# Loads the usual stack (nvidia, uvm, modeset, drm); extra arguments go to nvidia_drm (e.g. pin=1 modeset=1).
lab_load_stack() {
	lab_run "$MODPROBE" -a nvidia nvidia_uvm nvidia_modeset
	[ "$LAB_STATUS" = 0 ] || lab_fail "loading nvidia nvidia_uvm nvidia_modeset"
	lab_run "$MODPROBE" nvidia_drm "$@"
	[ "$LAB_STATUS" = 0 ] || lab_fail "loading nvidia_drm $*"
	/lab/bin/nv-nodes
}

# lab_install_firmware NVIDIA_KO: a dummy file for each firmware= the module lists (nvidia/<ver>/gsp_*.bin) under
# /lib/firmware, as Ubuntu's nvidia-firmware-<branch>-<ver> package installs the real GSP images next to the old ones.
lab_install_firmware() {
	for fw in $(modinfo -F firmware "$1"); do
		mkdir -p "/lib/firmware/${fw%/*}"
		echo "nvfix lab: stand-in for $fw" >"/lib/firmware/$fw"
	done
}

# lab_install_version VER [modules|library|all]: the "upgrade": swap the module files for the running kernel (and
# install the firmware the new nvidia lists) and/or libnvidia-ml for version VER (as DKMS and apt would), run depmod,
# and log it like apt's history.log.
lab_install_version() {
	ver=$1
	what=${2:-all}
	old=$(lab_lib_version | head -n1)
	if [ "$what" != library ]; then
		mkdir -p "$LAB_UPDATES"
		for ko in /lab/versions/"$ver"/*.ko; do
			cp "$ko" "$LAB_UPDATES/.${ko##*/}.new" && mv "$LAB_UPDATES/.${ko##*/}.new" "$LAB_UPDATES/${ko##*/}"
		done
		depmod -a
		lab_install_firmware "/lab/versions/$ver/nvidia.ko"
	fi
	if [ "$what" != modules ]; then
		rm -f "$LAB_LIBDIR"/libnvidia-ml.so.*.*
		cp "/lab/versions/$ver/libnvidia-ml.so.$ver" "$LAB_LIBDIR/"
		ln -sf "libnvidia-ml.so.$ver" "$LAB_LIBDIR/libnvidia-ml.so.1"
	fi
	{
		echo ""
		echo "Start-Date: 2025-10-22  06:25:01"
		echo "Commandline: /usr/bin/unattended-upgrade"
		echo "Upgrade: libnvidia-compute-580:amd64 (${old:-$V1}-0ubuntu1, $ver-0ubuntu1), nvidia-dkms-580:amd64 (${old:-$V1}-0ubuntu1, $ver-0ubuntu1)"
		echo "End-Date: 2025-10-22  06:25:40"
	} >>/var/log/apt/history.log
	lab_say "installed $ver ($what): modules on disk $(lab_disk_version), library $(lab_lib_version)"
}

# Puts the lab's `systemctl reboot` and `shutdown -r` in PATH (both call the lab's reboot), for nvfix reboot/auto.
lab_install_reboot_wrappers() {
	cp /lab/bin/systemctl /lab/bin/shutdown /usr/local/sbin/
}

# "name=stamp ..." for the loaded NVIDIA stack, in a fixed order: each stand-in draws a random load_stamp when it is
# loaded, so an equal line later means none of them was unloaded and loaded again in between.
lab_stack_stamps() {
	out=
	for m in $LAB_STACK; do
		lab_is_loaded "$m" && out="$out $m=$(cat "/sys/module/$m/parameters/load_stamp" 2>/dev/null || echo none)"
	done
	echo "${out# }"
}

# lab_expect_old_stack_kept HOLDER STAMPS: after nvfix refused: HOLDER still runs, the whole v1 stack is loaded with
# the load stamps it had before (STAMPS, from lab_stack_stamps), /proc/driver/nvidia/version says v1, no journal.
lab_expect_old_stack_kept() {
	lab_check "$1 still runs" lab_alive "$1"
	lab_expect_eq "the v1 stack is still loaded" "$(lab_stack_versions)" \
		"nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
	lab_expect_eq "with its original load stamps" "$(lab_stack_stamps)" "$2"
	lab_expect_eq "/proc/driver/nvidia/version" "$(lab_proc_version)" "$V1"
	lab_check "no journal left" test ! -e /run/nvfix/journal.json
}

# "name=version ..." for the loaded NVIDIA stack, in a fixed order ("" when nothing is loaded).
lab_stack_versions() {
	out=
	for m in $LAB_STACK; do
		lab_is_loaded "$m" && out="$out $m=$(lab_module_version "$m")"
	done
	echo "${out# }"
}

# --- processes ----------------------------------------------------------------------------------------------------

# lab_hold NAME DEVICE...: starts a process called NAME holding the devices open; waits until it has them.
lab_hold() {
	name=$1
	shift
	cp /lab/bin/gpu-job "/run/lab-bin/$name"
	"/run/lab-bin/$name" "$@" &
	echo $! >"/run/lab-pids/$name"
	lab_wait_open "$name" "$1"
}

# lab_hold_slow_exit NAME SECONDS DEVICE...: like lab_hold, but on SIGTERM it keeps the devices SECONDS more before it
# exits (a job that checkpoints first).
lab_hold_slow_exit() {
	name=$1
	delay=$2
	shift 2
	cp /lab/bin/gpu-job "/run/lab-bin/$name"
	LAB_TERM_DELAY=$delay "/run/lab-bin/$name" "$@" &
	echo $! >"/run/lab-pids/$name"
	lab_wait_open "$name" "$1"
}

# lab_hold_respawning NAME DEVICE...: like lab_hold, under a supervisor that restarts it after it is terminated.
lab_hold_respawning() {
	name=$1
	shift
	cp /lab/bin/gpu-job "/run/lab-bin/$name"
	/lab/bin/respawn "/run/lab-bin/$name" "$@" &
	echo $! >"/run/lab-pids/$name-supervisor"
	lab_wait_open "$name" "$1"
}

# lab_container NAME: an idle GPU container as nvidia-container-cli leaves one: a process in its own mount namespace
# with the current libnvidia-ml bind-mounted onto a file of the container's own tree (here /run/lab-ctr/NAME). It
# holds no device, so a reload leaves it running with the old library: the bind mount keeps the file after the upgrade
# removes it from the host. (Mounting onto the host's own path would not do: the kernel detaches mounts in other
# namespaces from a file that is unlinked.) Its pid goes to /run/lab-pids/NAME.
lab_container() {
	name=$1
	for lib in "$LAB_LIBDIR"/libnvidia-ml.so.*.*; do break; done
	tree=/run/lab-ctr/$name
	mkdir -p "$tree"
	: >"$tree/${lib##*/}"
	unshare -m --propagation private sh -c "mount --bind '$lib' '$tree/${lib##*/}' && exec sleep 100000" &
	echo $! >"/run/lab-pids/$name"
	i=0
	while [ $i -lt 50 ]; do
		grep -q "${lib##*/}" "/proc/$!/mountinfo" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	lab_fail "$name did not mount $lib"
}

# Waits (up to 5 s) until a process called NAME has DEVICE open.
lab_wait_open() {
	i=0
	while [ $i -lt 50 ]; do
		[ -n "$(lab_holder_pids "$2")" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	lab_fail "$1 did not open $2"
}

# Pids of the processes that have DEVICE open.
lab_holder_pids() {
	for fd in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$1" ] && { p=${fd#/proc/}; echo "${p%%/*}"; }
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# Whether a process named NAME (as started by lab_hold) is running.
lab_alive() {
	for c in /proc/[0-9]*/comm; do
		[ "$(cat "$c" 2>/dev/null)" = "$1" ] && return 0
	done
	return 1
}
