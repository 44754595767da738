#!/bin/sh
# image-hook.sh: mmdebstrap's customize hook for the Debian guest (runs on the host, the new tree at $1): the local apt
# repository and its sources, unattended-upgrades' config, v1 of the stand-in driver installed by apt (DKMS builds it
# here, natively), the lab's units, and what costs boot time masked.
#
#   image-hook.sh ROOT   with LAB_DEBIAN (this folder), LAB_REPO (the built repository), LAB_KVER, LAB_KDIR (the
#                        unpacked kernel package), LAB_STAGE1_MODULES (paths of the in-tree modules stage 1 loads)
set -eu
R=$1
G=$LAB_DEBIAN/guest

# The local repository, as the only source: the guest has no network. `current` names the published snapshot.
mkdir -p "$R/srv"
cp -a "$LAB_REPO" "$R/srv/nvfix-repo"
ln -sfn v1 "$R/srv/nvfix-repo/current"
rm -f "$R/etc/apt/sources.list"
echo "deb [trusted=yes] file:/srv/nvfix-repo/current ./" >"$R/etc/apt/sources.list.d/nvfix-lab.list"
cp "$G/20auto-upgrades" "$G/52nvfix-lab-unattended-upgrades" "$R/etc/apt/apt.conf.d/"

# The running kernel's module tree as far as the guest needs it: depmod data and the modules stage 1 loads, at their
# in-tree paths (udev and kmod find them; DKMS installs next to them).
mods=$R/lib/modules/$LAB_KVER
mkdir -p "$mods/kernel"
cp "$LAB_KDIR/lib/modules/$LAB_KVER/modules.builtin" "$LAB_KDIR/lib/modules/$LAB_KVER/modules.builtin.modinfo" \
	"$LAB_KDIR/lib/modules/$LAB_KVER/modules.order" "$mods/"
for ko in $LAB_STAGE1_MODULES; do
	rel=${ko#"$LAB_KDIR/lib/modules/$LAB_KVER/"}
	mkdir -p "$mods/$(dirname "$rel")"
	cp "$ko" "$mods/$rel"
done

# v1, as the host ran it before the incident: installed with apt from the local repository (DKMS builds it now).
chroot "$R" apt-get update -qq
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nvidia-driver-580 >"$LAB_LOG_DIR/image-apt-install.log" 2>&1 ||
	{ cat "$LAB_LOG_DIR/image-apt-install.log" >&2; exit 1; }
chroot "$R" depmod -a "$LAB_KVER"

# The lab's hardware stand-ins (what udev and nvidia-modprobe do on a GPU host) and its workload.
install -m 755 "$LAB_DEBIAN/../guest/nv-nodes" "$R/usr/local/sbin/nv-nodes"
install -m 755 "$LAB_DEBIAN/../guest/gpu-job" "$R/usr/local/bin/cuda-train"
install -m 644 "$G/nvidia-lab.conf" "$R/etc/modprobe.d/nvidia-lab.conf"
for u in nvidia-lab-load.service gpu-job.service nvfix-lab.service; do
	install -m 644 "$G/$u" "$R/etc/systemd/system/$u"
	ln -sf "/etc/systemd/system/$u" "$R/etc/systemd/system/multi-user.target.wants/$u"
done
mkdir -p "$R/lab"

# Boot time: no timers that would run apt or other work at boot (scenarios start apt-daily*.service themselves), no
# gettys on the console the lab reads.
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer systemd-tmpfiles-clean.timer \
	getty@tty1.service serial-getty@ttyS0.service systemd-pstore.service e2scrub_reap.service \
	systemd-timesyncd.service; do
	ln -sf /dev/null "$R/etc/systemd/system/$u"
done
rm -f "$R"/etc/systemd/system/timers.target.wants/* "$R/etc/systemd/system/getty.target.wants/getty@tty1.service"
# A fixed machine id: not a "first boot" (which would run presets) on every fresh overlay.
echo 6e7666697806c61622d6465626961e12 >"$R/etc/machine-id"
echo nvfix-lab >"$R/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 1\nlab /lab 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n' >"$R/etc/fstab"
# No password: root's shell is only reached through the lab's runner.
chroot "$R" passwd -d root >/dev/null
# Nothing of the build host's package caches.
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_Packages* 2>/dev/null || true
