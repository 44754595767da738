# shellcheck shell=bash disable=SC2154 # sourced by tests/lab/lab.sh (bash), which sets LAB, BUILD, CACHE, REPO, kver, disk, nvfix, script, name, timeout_s
# debian.sh: the Debian guest (systemd as PID 1) for lab.sh, sourced by it: `prepare-debian` builds the stand-in driver
# as Debian packages, their local apt repository, and the guest image from Debian's packages (mmdebstrap, cached);
# `run debian-*` boots a qcow2 overlay of that image per scenario, with /lab shared over 9p as in the busybox lab.

DEB=$LAB/debian
V3=580.105.08
DEB_BUILD=$BUILD/debian
# What the image holds besides Debian's `apt` variant (essential + apt): systemd as init and logind (dbus) for
# shutdown/inhibitors, udev, and what the incident needs: kmod, DKMS and its compiler, the kernel headers,
# unattended-upgrades (python3).
DEB_INCLUDE="systemd,systemd-sysv,dbus,udev,kmod,dkms,gcc,make,libc6-dev,unattended-upgrades,python3,procps,init-system-helpers"
DEB_MIRROR=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEB_SECURITY_MIRROR=${LAB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# The stand-in driver's packages for one version into $DEB_BUILD/debs/<dir>.
debian_make_debs() { # DIR VERSION [broken]
	out=$DEB_BUILD/debs/$1
	rm -rf "$out"
	sh "$DEB/make-debs.sh" "$out" "$2" "$kver" "$LAB/modules" "$nvml_so" "$BUILD/modules/$2" ${3:+"$3"} ||
		die "building the $1 packages failed"
}

# A flat repository per snapshot (what the guest's apt sees when it is published): Packages + a Release file whose
# Origin/Label unattended-upgrades' Origins-Pattern allows.
debian_make_repo() { # SNAPSHOT DEB_DIRS...
	dir=$DEB_BUILD/repo/$1
	shift
	rm -rf "$dir" && mkdir -p "$dir"
	for d in "$@"; do cp "$DEB_BUILD/debs/$d"/*.deb "$dir/"; done
	(cd "$dir" && dpkg-scanpackages -m . 2>/dev/null >Packages && gzip -9kn Packages)
	{
		echo "Origin: nvfix-lab"
		echo "Label: nvfix-lab"
		echo "Suite: stable"
		echo "Codename: nvfix-lab"
		echo "Date: Wed, 22 Oct 2025 06:00:00 UTC"
		echo "Architectures: amd64"
		echo "Description: nvfix QEMU lab: the stand-in NVIDIA driver"
		echo "SHA256:"
		for f in Packages Packages.gz; do
			echo " $(sha256sum "$dir/$f" | cut -d' ' -f1) $(stat -c %s "$dir/$f") $f"
		done
	} >"$dir/Release"
}

# The in-tree modules the Debian guest's stage 1 loads (virtio disk, ext4, 9p), in load order; not crc32c-intel, which
# TCG's CPU model cannot run (SSE4.2): crc32c_generic serves ext4.
debian_stage1_modules() {
	[ -f "$kdir/lib/modules/$kver/modules.dep" ] || depmod -b "$kdir" "$kver"
	modprobe -d "$kdir" -S "$kver" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p |
		awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' | grep -v '/crc32c-intel\.ko$'
}

debian_prepare_initramfs() {
	out=$DEB_BUILD/initramfs-$kver.cpio.gz
	work=$DEB_BUILD/initramfs
	rm -rf "$work" && mkdir -p "$work/bin" "$work/mods" "$work/proc" "$work/dev" "$work/sys" "$work/newroot"
	cp /bin/busybox "$work/bin/busybox"
	ln -s busybox "$work/bin/sh"
	for ko in $(debian_stage1_modules); do
		echo "${ko##*/}" >>"$work/mods/order"
		cp "$ko" "$work/mods/"
	done
	install -m 755 "$DEB/guest/init1" "$work/init"
	(cd "$work" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
}

cmd_prepare_debian() {
	cmd_prepare
	apt_install_missing mmdebstrap dpkg-dev e2fsprogs qemu-utils cpio
	kver=$(cat "$BUILD/kver")
	kdir=$CACHE/kernel-$kver
	nvml_so=$BUILD/target/debug/libnvidia_ml.so
	variants="$V3" prepare_modules
	mkdir -p "$DEB_BUILD"
	# What goes into the image (the runner and the helpers travel with each run instead).
	sum=$(cat "$DEB"/make-debs.sh "$DEB"/image-hook.sh "$DEB"/nvidia-* "$DEB"/build-dates "$DEB"/guest/*.service \
		"$DEB"/guest/*upgrades "$DEB"/guest/nvidia-lab.conf "$LAB"/guest/nv-nodes "$LAB"/guest/gpu-job \
		"$BUILD"/modules/*/.stamp "$nvml_so" | md5sum | cut -d' ' -f1)
	image=$CACHE/debian-$kver.img
	debian_prepare_initramfs
	if [ -f "$image" ] && [ "$(cat "$image.stamp" 2>/dev/null)" = "$sum $DEB_INCLUDE" ]; then
		log "Debian guest image up to date: $image"
		return 0
	fi
	log "building the stand-in driver packages ($V1, $V2, $V3, $V2 broken)"
	debian_make_debs v1 "$V1"
	debian_make_debs v2 "$V2"
	debian_make_debs v3 "$V3"
	debian_make_debs v2-broken "$V2" broken
	debian_make_repo v1 v1
	debian_make_repo v2 v1 v2
	debian_make_repo v3 v1 v2 v3
	debian_make_repo v2-broken v1 v2-broken
	need_root_for "building the Debian guest image (mmdebstrap, chroot)"
	log "building the Debian guest image with mmdebstrap (a few minutes; log: $DEB_BUILD/mmdebstrap.log)"
	t0=$(date +%s)
	root=$DEB_BUILD/root
	$SUDO rm -rf "$root"
	# shellcheck disable=SC2016
	$SUDO env LAB_DEBIAN="$DEB" LAB_REPO="$DEB_BUILD/repo" LAB_KVER="$kver" LAB_KDIR="$kdir" LAB_LOG_DIR="$DEB_BUILD" \
		LAB_STAGE1_MODULES="$(debian_stage1_modules | tr '\n' ' ')" \
		mmdebstrap --mode=root --variant=apt --include="$DEB_INCLUDE,linux-headers-$kver" \
		--customize-hook='sh "$LAB_DEBIAN/image-hook.sh" "$1"' \
		bookworm "$root" "deb $DEB_MIRROR bookworm main" "deb $DEB_MIRROR bookworm-updates main" \
		"deb $DEB_SECURITY_MIRROR bookworm-security main" >"$DEB_BUILD/mmdebstrap.log" 2>&1 ||
		die "mmdebstrap failed: see $DEB_BUILD/mmdebstrap.log"
	rm -f "$image.tmp"
	$SUDO mkfs.ext4 -q -F -L nvfix-lab -E lazy_itable_init=1 -d "$root" "$image.tmp" 3G >"$DEB_BUILD/mkfs.log" 2>&1 ||
		die "mkfs.ext4 -d failed: see $DEB_BUILD/mkfs.log"
	$SUDO rm -rf "$root"
	[ -z "$SUDO" ] || $SUDO chown "$(id -u):$(id -g)" "$image.tmp"
	mv "$image.tmp" "$image"
	echo "$sum $DEB_INCLUDE" >"$image.stamp"
	log "Debian guest image built in $(($(date +%s) - t0)) s: $image"
}

# The scenario's disk: a qcow2 overlay of the cached image, and /lab (the 9p share) with the runner, the helpers, the
# scenario, nvfix and, for the scenarios that install it, nvfix's .deb.
debian_setup_disk() {
	image=$CACHE/debian-$kver.img
	[ -f "$image" ] || die "the Debian guest is not prepared: run tests/lab/lab.sh prepare-debian"
	[ -f "$DEB_BUILD/initramfs-$kver.cpio.gz" ] || die "no Debian stage-1 initramfs: run tests/lab/lab.sh prepare-debian"
	mkdir -p "$disk/lab/bin" "$disk/lab/state" "$disk/lab/results"
	qemu-img create -q -f qcow2 -b "$image" -F raw "$disk/disk.qcow2"
	objcopy --strip-debug "$nvfix" "$disk/lab/bin/nvfix" 2>/dev/null || cp "$nvfix" "$disk/lab/bin/nvfix"
	cp "$LAB/guest/lib.sh" "$DEB/guest/debian-lib.sh" "$DEB/guest/run" "$disk/lab/"
	cp "$LAB/guest/nv-nodes" "$LAB/guest/gpu-job" "$disk/lab/bin/"
	chmod 755 "$disk/lab/bin"/*
	if grep -q '^# lab-needs: nvfix-deb' "$script"; then
		deb=${NVFIX_DEB:-}
		if [ -z "$deb" ]; then
			# The package as packaging/build-deb makes it (cargo deb + md5sums), around the binary under test (no release build: minutes on 2
			# cores): that binary stands in for target/release/nvfix in a target folder of the lab's own.
			mkdir -p "$BUILD/deb-target/release"
			objcopy --strip-debug "$nvfix" "$BUILD/deb-target/release/nvfix" 2>/dev/null ||
				cp "$nvfix" "$BUILD/deb-target/release/nvfix"
			deb=$disk/nvfix.deb
			CARGO_TARGET_DIR=$BUILD/deb-target "$REPO/packaging/build-deb" --no-build -o "$deb" >"$BUILD/cargo-deb.log" 2>&1 ||
				die "packaging/build-deb failed (are cargo-deb and dpkg-dev installed?): see $BUILD/cargo-deb.log"
		fi
		cp "$deb" "$disk/lab/nvfix.deb"
	fi
}

debian_boot_qemu() {
	timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 -accel "${LAB_ACCEL:-tcg}" -m 1536 -smp 2 \
		-nographic -no-reboot -monitor none -serial stdio -nodefaults \
		-kernel "$CACHE/kernel-$kver/vmlinux" -initrd "$DEB_BUILD/initramfs-$kver.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=3 systemd.show_status=0 panic=-1 nvfix.scenario=$name" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-drive file="$disk/disk.qcow2",if=virtio,format=qcow2,cache=unsafe \
		-fsdev local,id=lab,path="$disk/lab",security_model=none \
		-device virtio-9p-pci,fsdev=lab,mount_tag=lab \
		</dev/null 2>&1
}
