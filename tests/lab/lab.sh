#!/bin/sh
# lab.sh: the QEMU lab's one entry point: `prepare` (cached downloads, stand-in module builds, guest root tree) and
# `run <scenario>` (boots Debian's kernel in QEMU on a fresh copy of that tree, again after each guest reboot).
#
#   tests/lab/lab.sh prepare            idempotent; installs host packages with apt-get when missing (needs root)
#   tests/lab/lab.sh prepare-debian     prepare + the Debian guest (systemd; image cached, debian/debian.sh)
#   tests/lab/lab.sh run <scenario>     exit 0 = scenario passed; console in tests/lab/build/logs/<scenario>.log
#   tests/lab/lab.sh list               scenario names
#   tests/lab/lab.sh bench              downtime benchmark: reload -> verified vs reboot -> verified (host clock)
#
# Environment: NVFIX_BIN (nvfix binary to test; default: target/debug/nvfix, built when missing),
# LAB_BOOT_TIMEOUT (seconds per boot, default 120), LAB_MAX_BOOTS (default 4), LAB_ACCEL (default tcg).
set -eu

LAB=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$LAB/../.." && pwd)
CACHE=$LAB/cache
BUILD=$LAB/build
V1=580.65.06
V2=580.95.05
# Build dates printed in /proc/driver/nvidia/version, as the real releases did.
date_of() {
	case $1 in
	580.65.06) echo "Sun Jul 27 07:09:24 UTC 2025" ;;
	580.95.05) echo "Tue Sep 23 09:55:41 UTC 2025" ;;
	580.105.08) echo "Wed Oct 29 10:12:37 UTC 2025" ;;
	*) echo "Thu Jan  1 00:00:00 UTC 2025" ;;
	esac
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "lab: $*" >&2; }
die() {
	echo "lab: ERROR: $*" >&2
	exit 2
}

# ---------------------------------------------------------------------------------------------------------- prepare

# Root for apt: ourselves, or password-less sudo (CI runners).
SUDO=
need_root_for() {
	[ "$(id -u)" = 0 ] && return 0
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO=sudo
		return 0
	fi
	die "$1 needs root (run prepare as root once, or install it yourself)"
}

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return 0
	need_root_for "apt-get update"
	log "apt-get update"
	$SUDO apt-get update -qq >"$BUILD/apt-update.log" 2>&1 || die "apt-get update failed (no network?): see $BUILD/apt-update.log"
	apt_updated=1
}

# Installs the named Debian packages that are not installed yet.
apt_install_missing() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	need_root_for "installing$missing"
	log "apt-get install$missing"
	# shellcheck disable=SC2086
	if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends $missing >"$BUILD/apt-install.log" 2>&1; then
		apt_update_once
		# shellcheck disable=SC2086
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends $missing >"$BUILD/apt-install.log" 2>&1 ||
			die "apt-get install$missing failed: see $BUILD/apt-install.log"
	fi
}

# The current Debian kernel ABI (6.1.0-56-amd64): it changes with each security update and old packages leave the
# mirror, so it is resolved each time and remembered only for offline reruns.
resolve_kver() {
	kver=$(apt-cache depends linux-headers-amd64 2>/dev/null | sed -n 's/.*Depends: linux-headers-\(.*-amd64\)$/\1/p' | head -n1)
	if [ -z "$kver" ]; then
		apt_update_once
		kver=$(apt-cache depends linux-headers-amd64 2>/dev/null | sed -n 's/.*Depends: linux-headers-\(.*-amd64\)$/\1/p' | head -n1)
	fi
	if [ -z "$kver" ] && [ -s "$CACHE/kver" ]; then
		kver=$(cat "$CACHE/kver")
		log "apt cannot resolve the kernel ABI; using the cached $kver"
	fi
	[ -n "$kver" ] || die "cannot resolve the Debian kernel ABI (apt-cache depends linux-headers-amd64 says nothing)"
	echo "$kver" >"$CACHE/kver"
}

# Debian's kernel image, unpacked without running its hooks, and an ELF vmlinux for a fast PVH boot.
prepare_kernel() {
	kdir=$CACHE/kernel-$kver
	if [ ! -s "$kdir/vmlinux" ]; then
		deb=$(first_file "$CACHE"/linux-image-"$kver"_*.deb)
		if [ -z "$deb" ]; then
			log "downloading linux-image-$kver"
			(cd "$CACHE" && apt-get download "linux-image-$kver" >"$BUILD/apt-download.log" 2>&1) ||
				(apt_update_once && cd "$CACHE" && apt-get download "linux-image-$kver" >"$BUILD/apt-download.log" 2>&1) ||
				die "apt-get download linux-image-$kver failed: see $BUILD/apt-download.log"
			deb=$(first_file "$CACHE"/linux-image-"$kver"_*.deb)
			[ -n "$deb" ] || die "apt-get download linux-image-$kver left no .deb in $CACHE"
		fi
		rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
		dpkg -x "$deb" "$kdir.tmp"
		extract_vmlinux "$kdir.tmp/boot/vmlinuz-$kver" "$kdir.tmp/vmlinux"
		rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
	fi
	[ -d "/usr/src/linux-headers-$kver" ] || apt_install_missing "linux-headers-$kver"
}

# The first existing path among the arguments (a glob's expansion), or nothing. Always status 0: its callers run
# under `set -e` and test for the empty answer themselves.
first_file() {
	for f in "$@"; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}

# Like the kernel's scripts/extract-vmlinux: find the compressed payload in the bzImage and unpack it.
extract_vmlinux() {
	for magic in '\xfd7zXZ\x00:xz -dc' '\x28\xb5\x2f\xfd:zstd -dc' '\x1f\x8b\x08:gzip -dc'; do
		pattern=${magic%%:*}
		decomp=${magic#*:}
		# shellcheck disable=SC2013 # the words are byte offsets (numbers), one per match
		for off in $(LC_ALL=C grep -aobUP "$pattern" "$1" 2>/dev/null | cut -d: -f1); do
			tail -c +$((off + 1)) "$1" | $decomp >"$2" 2>/dev/null || true
			if [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]; then
				return 0
			fi
		done
	done
	die "could not extract an ELF vmlinux from $1"
}

# The stand-in modules, built once per version against the guest kernel's headers, plus the variant $V2-vermagic: the
# same v2 built with the vermagic of Debian's PREEMPT_RT flavour of this kernel (6.1.0-57-rt-amd64), which the real
# kernel refuses (only its nvidia.ko differs; the guest gets only that file).
prepare_modules() {
	src_sum=$(cat "$LAB"/modules/* | md5sum | cut -d' ' -f1)
	for variant in ${variants:-$V1 $V2 $V2-vermagic}; do
		ver=${variant%-vermagic}
		foreign=
		[ "$variant" = "$ver" ] || foreign=${kver%-amd64}-rt-amd64
		out=$BUILD/modules/$variant
		stamp="$kver $src_sum"
		[ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && continue
		log "building stand-in modules $variant for $kver"
		rm -rf "$out" && mkdir -p "$out"
		cp "$LAB"/modules/* "$out/"
		make -C "$out" KDIR="/usr/src/linux-headers-$kver" NV_VERSION="$ver" NV_BUILD_DATE="$(date_of "$ver")" \
			NV_FOREIGN_KERNEL="$foreign" >"$out/build.log" 2>&1 || die "module build $variant failed: see $out/build.log"
		echo "$stamp" >"$out/.stamp"
	done
}

# install_firmware ROOT NVIDIA_KO: dummy files for each firmware= the module lists, under ROOT/lib/firmware/, as
# Ubuntu's nvidia-firmware-<branch>-<version> package installs the real GSP images.
install_firmware() {
	for fw in $(modinfo -F firmware "$2"); do
		mkdir -p "$1/usr/lib/firmware/$(dirname "$fw")"
		echo "nvfix lab: stand-in for $fw" >"$1/usr/lib/firmware/$fw"
	done
}

# Debian's non-free NVIDIA user space (535.x): nvidia-smi and libnvidia-ml1, for the real-NVML fidelity scenario.
# Optional: the scenario that uses it fails with a clear message when this could not be fetched.
prepare_real_nvml() {
	dest=$CACHE/real-nvml
	[ -x "$dest/root/usr/lib/nvidia/current/nvidia-smi" ] && return 0
	src=/etc/apt/sources.list.d/nvfix-lab-non-free.sources
	if [ ! -f "$src" ]; then
		(need_root_for "adding $src") || {
			log "no root: skipping the real NVML download (the real-nvml scenarios will fail)"
			return 0
		}
		need_root_for "adding $src"
		$SUDO tee "$src" >/dev/null <<-'EOF'
			# Added by nvfix tests/lab/lab.sh: Debian's non-free NVIDIA packages for the lab's real-NVML scenario.
			Types: deb
			URIs: http://deb.debian.org/debian
			Suites: bookworm
			Components: non-free
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

			Types: deb
			URIs: http://deb.debian.org/debian-security
			Suites: bookworm-security
			Components: non-free
			Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		apt_updated=
		apt_update_once
	fi
	mkdir -p "$dest/debs"
	for p in nvidia-smi libnvidia-ml1 nvidia-kernel-support; do
		ls "$dest/debs/${p}"_*.deb >/dev/null 2>&1 && continue
		(cd "$dest/debs" && apt-get download "$p" >"$BUILD/apt-download-$p.log" 2>&1) || {
			log "could not download $p (see $BUILD/apt-download-$p.log): the real-nvml scenario will fail"
			return 0
		}
	done
	rm -rf "$dest/root"
	for deb in "$dest"/debs/*.deb; do dpkg -x "$deb" "$dest/root"; done
}

# Copies a binary and the libraries ldd lists into the guest tree at the same paths.
copy_with_libs() {
	root=$1
	shift
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}

# The guest's root file system, shared read-write with QEMU over 9p (each run gets a fresh copy: its "disk").
prepare_root() {
	sum=$(cat "$LAB"/lab.sh "$LAB"/guest/* "$BUILD"/modules/*/.stamp "$nvml_so" | md5sum | cut -d' ' -f1)
	[ -d "$CACHE/real-nvml/root" ] && sum="$sum-real"
	root=$BUILD/root-base
	[ -f "$root/.stamp" ] && [ "$(cat "$root/.stamp")" = "$sum $kver" ] && return 0
	log "building the guest root tree"
	rm -rf "$root" && mkdir -p "$root"
	# Debian's merged /usr layout.
	mkdir -p "$root"/usr/bin "$root"/usr/sbin "$root"/usr/lib/x86_64-linux-gnu "$root"/usr/lib64 "$root"/usr/local/bin \
		"$root"/usr/local/sbin "$root"/etc/modprobe.d "$root"/proc "$root"/sys "$root"/dev "$root"/run "$root"/tmp \
		"$root"/root "$root"/var/log/apt "$root"/lab/state "$root"/lab/results "$root"/lab/bin
	ln -s usr/bin "$root/bin"
	ln -s usr/sbin "$root/sbin"
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"
	# Busybox for the tools, except where the real thing matters: kmod, dash, and the lab's reboot.
	cp /bin/busybox "$root/usr/bin/busybox"
	for applet in $(/bin/busybox --list); do
		case $applet in
		busybox | sh | ash | modprobe | rmmod | insmod | lsmod | depmod | modinfo | reboot | poweroff | halt | init) continue ;;
		esac
		[ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
	done
	copy_with_libs "$root" /usr/bin/dash /usr/bin/kmod
	ln -s dash "$root/usr/bin/sh"
	for t in modprobe rmmod insmod lsmod depmod modinfo; do ln -s ../bin/kmod "$root/usr/sbin/$t"; done
	# glibc's dlopen needs the loader at its usual path; ldd already copied it.
	# Kernel module tree: depmod data from the image package plus the stand-ins of the first version.
	mods=$root/lib/modules/$kver
	mkdir -p "$mods/kernel" "$mods/updates/dkms"
	cp "$kdir"/lib/modules/"$kver"/modules.builtin "$kdir"/lib/modules/"$kver"/modules.builtin.modinfo \
		"$kdir"/lib/modules/"$kver"/modules.order "$mods/"
	# The in-tree modules stage 1 loads (virtio, 9p) at their own paths, as on a real host: the running kernel's own
	# files, whose vermagic is the kernel's (what a vermagic check compares a new module with).
	for ko in $(stage1_modules); do
		rel=${ko#"$kdir/lib/modules/$kver/"}
		mkdir -p "$mods/$(dirname "$rel")"
		cp "$ko" "$mods/$rel"
	done
	# Both versions ride along as the guest's "package cache": lab_install_version copies one into place.
	for ver in $V1 $V2; do
		mkdir -p "$root/lab/versions/$ver"
		cp "$BUILD"/modules/"$ver"/*.ko "$root/lab/versions/$ver/"
		cp "$nvml_so" "$root/lab/versions/$ver/libnvidia-ml.so.$ver"
	done
	mkdir -p "$root/lab/versions/$V2-vermagic"
	cp "$BUILD/modules/$V2-vermagic/nvidia.ko" "$root/lab/versions/$V2-vermagic/"
	cp "$root/lab/versions/$V1"/*.ko "$mods/updates/dkms/"
	install_firmware "$root" "$root/lab/versions/$V1/nvidia.ko"
	cp "$nvml_so" "$root/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.$V1"
	ln -s "libnvidia-ml.so.$V1" "$root/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
	depmod -b "$root" "$kver"
	# Guest side of the lab: stage-2 init, helpers, wrappers.
	cp "$LAB/guest/init" "$LAB/guest/lib.sh" "$root/lab/"
	cp "$LAB/guest/reboot" "$root/usr/local/sbin/reboot"
	cp "$LAB/guest/gpu-job" "$LAB/guest/respawn" "$LAB/guest/nv-nodes" "$LAB/guest/systemctl" "$LAB/guest/shutdown" \
		"$root/lab/bin/"
	# The pty helper for the interactive transcript (busybox has no `script`).
	gcc -O2 -static -o "$root/lab/bin/pty-run" "$LAB/guest/pty-run.c" >"$BUILD/pty-run.log" 2>&1 ||
		die "building guest/pty-run.c failed: see $BUILD/pty-run.log"
	chmod 755 "$root/lab/init" "$root/usr/local/sbin/reboot" "$root"/lab/bin/*
	cp "$LAB/guest/nvidia-lab.conf" "$root/etc/modprobe.d/"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	echo "nvfix-lab" >"$root/etc/hostname"
	printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
	real=$CACHE/real-nvml/root
	if [ -x "$real/usr/lib/nvidia/current/nvidia-smi" ]; then
		# Debian's own paths under /lab/real-nvml; scenarios point LD_LIBRARY_PATH at the real library.
		mkdir -p "$root/lab/real-nvml"
		cp -a "$real/usr/lib/nvidia/current/nvidia-smi" "$real/usr/lib/x86_64-linux-gnu/nvidia/current/"libnvidia-ml.so* \
			"$root/lab/real-nvml/"
		for lib in $(ldd "$real/usr/lib/nvidia/current/nvidia-smi" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
			[ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
		done
	fi
	echo "$sum $kver" >"$root/.stamp"
}

# The modules stage 1 loads (virtio + 9p and what they need), in load order, as paths inside the image package.
stage1_modules() {
	# depmod over the image's full tree once, to let modprobe list the load order.
	[ -f "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"
	modprobe -d "$kdir" -S "$kver" --show-depends -a virtio_pci 9pnet_virtio 9p | awk '$1 == "insmod" { print $2 }'
}

# Stage 1: a small initramfs that loads virtio + 9p from the image package and switches to the 9p root.
prepare_initramfs() {
	out=$BUILD/initramfs-$kver.cpio.gz
	sum=$(cat "$LAB/guest/init1" "$LAB/lab.sh" | md5sum | cut -d' ' -f1)
	[ -f "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$sum" ] && return 0
	log "building the stage-1 initramfs"
	work=$BUILD/initramfs
	rm -rf "$work" && mkdir -p "$work/bin" "$work/mods" "$work/proc" "$work/dev" "$work/sys" "$work/newroot"
	cp /bin/busybox "$work/bin/busybox"
	ln -s busybox "$work/bin/sh"
	stage1_modules |
		while read -r ko; do
			[ -f "$work/mods/${ko##*/}" ] && continue
			echo "${ko##*/}" >>"$work/mods/order"
			cp "$ko" "$work/mods/"
		done
	cp "$LAB/guest/init1" "$work/init"
	chmod 755 "$work/init"
	(cd "$work" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
	echo "$sum" >"$out.stamp"
}

cmd_prepare() {
	mkdir -p "$CACHE" "$BUILD"
	apt_install_missing qemu-system-x86 busybox-static kmod dash make gcc libc6-dev binutils xz-utils
	resolve_kver
	prepare_kernel
	prepare_modules
	prepare_real_nvml
	log "building the stand-in libnvidia-ml"
	(cd "$REPO" && CARGO_TARGET_DIR=$BUILD/target cargo build -q -p nvml-stand-in) || die "cargo build -p nvml-stand-in failed"
	nvml_so=$BUILD/target/debug/libnvidia_ml.so
	prepare_root
	prepare_initramfs
	echo "$kver" >"$BUILD/kver"
	log "prepared: kernel $kver, modules $V1 and $V2"
}

# -------------------------------------------------------------------------------------------------------------- run

# One boot of the scenario's disk; the console on stdout.
boot_qemu() {
	timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 -accel "${LAB_ACCEL:-tcg}" -m 512 -smp 1 \
		-nographic -no-reboot -monitor none -serial stdio -nodefaults \
		-kernel "$CACHE/kernel-$kver/vmlinux" -initrd "$BUILD/initramfs-$kver.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 nvfix.scenario=$name" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-fsdev local,id=disk,path="$disk",security_model=none \
		-device virtio-9p-pci,fsdev=disk,mount_tag=disk \
		</dev/null 2>&1
}

# Copies the console through, appending "<host seconds> LAB-MARK ..." to $1 for each mark line.
stamp_marks() {
	cr=$(printf '\r')
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line"
		case $line in
		*LAB-MARK*) echo "$(date +%s.%N) ${line%"$cr"}" >>"$1" ;;
		esac
	done
}

cmd_run() {
	name=$1
	script=$LAB/scenarios/$name.sh
	[ -f "$script" ] || die "no scenario $name (tests/lab/scenarios/$name.sh)"
	[ -s "$BUILD/kver" ] || die "the lab is not prepared: run tests/lab/lab.sh prepare"
	kver=$(cat "$BUILD/kver")
	nvfix=${NVFIX_BIN:-$REPO/target/debug/nvfix}
	if [ -z "${NVFIX_BIN:-}" ] && [ ! -x "$nvfix" ]; then
		(cd "$REPO" && cargo build -q --bin nvfix) || die "cargo build --bin nvfix failed"
	fi
	[ -x "$nvfix" ] || die "no nvfix binary at $nvfix"

	disk=$BUILD/disks/$name
	logf=$BUILD/logs/$name.log
	mkdir -p "$BUILD/logs" "$BUILD/disks"
	rm -rf "$disk"
	case $name in
	debian-*)
		debian_setup_disk
		cp "$script" "$disk/lab/scenario.sh"
		echo "$name" >"$disk/lab/scenario-name"
		boot_fn=debian_boot_qemu
		;;
	*)
		busybox_setup_disk
		boot_fn=boot_qemu
		;;
	esac
	run_boots
}

# The busybox guest's disk: a fresh copy of the root tree, with nvfix and the guest's shell side.
busybox_setup_disk() {
	cp -a "$BUILD/root-base" "$disk"
	objcopy --strip-debug "$nvfix" "$disk/usr/bin/nvfix" 2>/dev/null || cp "$nvfix" "$disk/usr/bin/nvfix"
	for lib in $(ldd "$nvfix" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
		[ -e "$disk$lib" ] || { mkdir -p "$disk$(dirname "$lib")" && cp -L "$lib" "$disk$lib"; }
	done
	# The guest's shell side fresh from the tree, so editing it needs no new `prepare`.
	cp "$LAB/guest/init" "$LAB/guest/lib.sh" "$disk/lab/"
	cp "$script" "$disk/lab/scenario.sh"
	echo "$name" >"$disk/lab/scenario-name"
}

# Boots the scenario's disk with $boot_fn until the guest reports a verdict; the console goes to $logf.
run_boots() {
	: >"$logf"
	default_timeout=120
	case $name in debian-*) default_timeout=600 ;; esac
	timeout_s=${LAB_BOOT_TIMEOUT:-$default_timeout}
	max_boots=${LAB_MAX_BOOTS:-4}
	boot=1
	start=$(date +%s.%N)
	while :; do
		echo "==== host: boot $boot of scenario $name ====" >>"$logf"
		bstart=$(date +%s.%N)
		set +e
		if [ -n "${LAB_MARKS:-}" ]; then
			# Benchmark: the host's clock stamps the guest's LAB-MARK lines as they arrive (across reboots).
			{
				$boot_fn
				echo $? >"$BUILD/qemu-status"
			} | stamp_marks "$LAB_MARKS" >>"$logf"
			rc=$(cat "$BUILD/qemu-status")
		else
			$boot_fn >>"$logf"
			rc=$?
		fi
		set -e
		bend=$(date +%s.%N)
		echo "==== host: boot $boot ended: qemu status $rc after $(elapsed "$bstart" "$bend") s ====" >>"$logf"
		# isa-debug-exit: the guest writes v, QEMU exits (v << 1) | 1; a guest reboot under -no-reboot exits 0.
		case $rc in
		1) result=pass ;;
		3) result=fail ;;
		5) result="the guest's stage-1 init failed (see the console log)" ;;
		0)
			if tail -n 30 "$logf" | grep -q "reboot: Restarting system"; then
				boot=$((boot + 1))
				if [ "$boot" -gt "$max_boots" ]; then
					result="rebooted more than $max_boots times"
				else
					continue
				fi
			else
				result="guest stopped without a result (panic or power-off)"
			fi
			;;
		124 | 137) result="timed out after ${timeout_s}s in boot $boot" ;;
		*) result="qemu exited with status $rc" ;;
		esac
		break
	done
	end=$(date +%s.%N)
	secs=$(elapsed "$start" "$end")
	echo "==== host: scenario $name: $result ($boot boot(s), $secs s) ====" >>"$logf"
	log "scenario $name: $result ($boot boot(s), $secs s); console: $logf; disk: $disk"
	[ "$result" = pass ]
}

# The downtime benchmark: in one run of the `bench` scenario, reload start -> verified and reboot start -> verified, on
# the host's clock (the guest's cannot span its reboot). Not a timed test: numbers for the README and the issue.
cmd_bench() {
	marks=$BUILD/logs/bench.marks
	mkdir -p "$BUILD/logs"
	: >"$marks"
	# The shipped binary is a release build: a debug build spends seconds more in nvfix itself under emulation.
	if [ -z "${NVFIX_BIN:-}" ]; then
		(cd "$REPO" && cargo build -q --release --bin nvfix) || die "cargo build --release --bin nvfix failed"
		NVFIX_BIN=$REPO/target/release/nvfix
	fi
	log "benchmarking $NVFIX_BIN"
	LAB_MARKS=$marks NVFIX_BIN=$NVFIX_BIN cmd_run bench || die "the bench scenario failed: see $BUILD/logs/bench.log"
	at() { awk -v m="LAB-MARK $1" 'index($0, m) { print $1; exit }' "$marks"; }
	for m in reload-start reload-verified reboot-start reboot-verified; do
		[ -n "$(at $m)" ] || die "no $m mark in $marks (see $BUILD/logs/bench.log)"
	done
	awk -v rs="$(at reload-start)" -v rv="$(at reload-verified)" -v bs="$(at reboot-start)" -v bv="$(at reboot-verified)" \
		-v guest="$(cat "$BUILD/disks/bench/lab/results/reload-seconds" 2>/dev/null)" 'BEGIN {
		reload = rv - rs; reboot = bv - bs
		printf "reload → verified: %.1f s; reboot → verified: %.1f s (reload %.1fx faster)\n", reload, reboot, reboot / reload
		printf "(host clock; the guest clock says reload → verified %s s. The lab boots a small VM in seconds: a real\n", guest
		printf " server adds firmware/POST and its services, typically minutes, so the real ratio is larger.)\n"
	}'
}

# shellcheck source=/dev/null # tests/lab/debian/debian.sh, checked on its own
. "$LAB/debian/debian.sh"

case ${1:-} in
prepare) cmd_prepare ;;
prepare-debian) cmd_prepare_debian ;;
bench) cmd_bench ;;
run)
	[ $# -eq 2 ] || die "usage: lab.sh run <scenario>"
	cmd_run "$2"
	;;
list) for f in "$LAB"/scenarios/*.sh; do basename "$f" .sh; done ;;
*)
	echo "usage: $0 prepare | prepare-debian | run <scenario> | list | bench" >&2
	exit 64
	;;
esac
