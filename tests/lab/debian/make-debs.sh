#!/bin/sh
# shellcheck disable=SC2016 # maintainer scripts are written as literal text: their $1 and $k expand when dpkg runs them
# make-debs.sh: builds the stand-in NVIDIA driver of one version as Debian packages shaped like NVIDIA's Ubuntu ones
# (dpkg-deb --build from small trees; no debhelper), into OUT:
#
#   make-debs.sh OUT VERSION KVER MODULE_SRC NVML_SO PREBUILT_KO_DIR [broken]
#
#   libnvidia-compute-580          the stand-in libnvidia-ml.so.VERSION (+ .so.1), NVML's contract
#   nvidia-firmware-580-VERSION    dummy GSP images /lib/firmware/nvidia/VERSION/gsp_*.bin (what nvidia.ko lists)
#   nvidia-dkms-580                the module sources in /usr/src/nvidia-VERSION, built by DKMS in postinst
#   linux-modules-nvidia-580-KVER  the same modules prebuilt for KVER (Ubuntu's signed prebuilt flavour)
#   nvidia-compute-utils-580       nvidia-persistenced (holds /dev/nvidiactl) and its unit, Restart=always
#   nvidia-utils-580               nvidia-smi (a stand-in that asks NVML through `nvfix verify`)
#   nvidia-driver-580              the metapackage: all of the above at exactly VERSION
#
# `broken`: the DKMS source does not compile (debian-dkms-fail): a real compiler error in DKMS's make.log.
set -eu
OUT=$1 VER=$2 KVER=$3 SRC=$4 NVML_SO=$5 PREBUILT=$6 BROKEN=${7:-}
REV=$VER-0ubuntu0.24.04.1
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

# control NAME DEPENDS DESCRIPTION [EXTRA FIELDS...]: DEBIAN/control for package NAME in $WORK/NAME.
control() {
	name=$1 deps=$2 desc=$3
	shift 3
	mkdir -p "$WORK/$name/DEBIAN"
	{
		echo "Package: $name"
		echo "Source: nvidia-graphics-drivers-580"
		echo "Version: $REV"
		echo "Architecture: amd64"
		echo "Maintainer: nvfix lab <nvfix@localhost>"
		echo "Section: non-free/libs"
		echo "Priority: optional"
		[ -n "$deps" ] && echo "Depends: $deps"
		for f in "$@"; do echo "$f"; done
		echo "Description: $desc (nvfix lab stand-in)"
		echo " A stand-in for NVIDIA's package of the same name, for the nvfix QEMU lab; no GPU code."
	} >"$WORK/$name/DEBIAN/control"
}

script() { # script NAME PHASE BODY
	printf '#!/bin/sh\nset -e\n%s\n' "$3" >"$WORK/$1/DEBIAN/$2"
	chmod 755 "$WORK/$1/DEBIAN/$2"
}

build() {
	find "$WORK/$1" -type d -exec chmod 755 {} +
	dpkg-deb --root-owner-group -Zxz -z1 --build "$WORK/$1" "$OUT/${1}_${REV}_amd64.deb" >/dev/null
}

# --- libnvidia-compute-580
p=libnvidia-compute-580
control "$p" "libc6" "NVIDIA libcompute package" "Provides: libnvidia-ml.so.1, libnvidia-compute"
lib=$WORK/$p/usr/lib/x86_64-linux-gnu
mkdir -p "$lib"
cp "$NVML_SO" "$lib/libnvidia-ml.so.$VER"
ln -s "libnvidia-ml.so.$VER" "$lib/libnvidia-ml.so.1"
script "$p" postinst 'if [ "$1" = configure ]; then ldconfig; fi'
script "$p" postrm 'if [ "$1" = remove ]; then ldconfig; fi'
build "$p"

# --- nvidia-firmware-580-VERSION
p=nvidia-firmware-580-$VER
control "$p" "" "Firmware files used by the kernel module"
for fw in $(modinfo -F firmware "$PREBUILT/nvidia.ko"); do
	mkdir -p "$WORK/$p/lib/firmware/${fw%/*}"
	echo "nvfix lab: stand-in for $fw" >"$WORK/$p/lib/firmware/$fw"
done
build "$p"

# --- nvidia-dkms-580: sources + dkms.conf; postinst builds for every kernel with headers, prerm removes (as
# dh_dkms's scripts do).
p=nvidia-dkms-580
control "$p" "dkms, nvidia-firmware-580-$VER (= $REV)" "NVIDIA DKMS package" \
	"Provides: nvidia-dkms-kernel" "Conflicts: nvidia-dkms-kernel" "Replaces: nvidia-dkms-kernel"
usrc=$WORK/$p/usr/src/nvidia-$VER
mkdir -p "$usrc"
cp "$SRC"/Kbuild "$SRC"/*.c "$SRC"/*.h "$usrc/"
if [ -n "$BROKEN" ]; then
	printf '\n#error "nvidia %s: this stand-in release does not build against this kernel (nvfix lab: debian-dkms-fail)"\n' \
		"$VER" >>"$usrc/nvidia.c"
fi
date=$(awk -v v="$VER" '$1 == v { $1 = ""; sub(/^ /, ""); print }' "$HERE/build-dates")
{
	echo "PACKAGE_NAME=\"nvidia\""
	echo "PACKAGE_VERSION=\"$VER\""
	echo "AUTOINSTALL=\"yes\""
	echo "MAKE[0]=\"make -C \${kernel_source_dir} M=\${dkms_tree}/\${PACKAGE_NAME}/\${PACKAGE_VERSION}/build NV_VERSION=$VER NV_BUILD_DATE='$date' modules\""
	echo "CLEAN=\"true\""
	i=0
	for m in nvidia nvidia-uvm nvidia-modeset nvidia-drm nvidia-peermem; do
		echo "BUILT_MODULE_NAME[$i]=\"$m\""
		echo "DEST_MODULE_LOCATION[$i]=\"/updates/dkms\""
		i=$((i + 1))
	done
} >"$usrc/dkms.conf"
script "$p" postinst "if [ \"\$1\" = configure ]; then
	dkms add -m nvidia -v $VER >/dev/null 2>&1 || true
	for k in /lib/modules/*/build; do
		[ -e \"\$k\" ] || continue
		kver=\${k#/lib/modules/}; kver=\${kver%/build}
		dkms install -m nvidia -v $VER -k \"\$kver\"
	done
fi"
script "$p" prerm "if [ \"\$1\" = remove ] || [ \"\$1\" = upgrade ] || [ \"\$1\" = deconfigure ]; then
	dkms remove -m nvidia -v $VER --all >/dev/null 2>&1 || true
fi"
build "$p"

# --- linux-modules-nvidia-580-KVER: prebuilt modules where Ubuntu puts them.
p=linux-modules-nvidia-580-$KVER
control "$p" "nvidia-firmware-580-$VER (= $REV)" "Linux kernel nvidia modules for version $KVER" \
	"Provides: nvidia-dkms-kernel" "Conflicts: nvidia-dkms-kernel"
mkdir -p "$WORK/$p/lib/modules/$KVER/kernel/nvidia-580"
cp "$PREBUILT"/*.ko "$WORK/$p/lib/modules/$KVER/kernel/nvidia-580/"
script "$p" postinst "depmod -a $KVER || true"
script "$p" postrm "depmod -a $KVER || true"
build "$p"

# --- nvidia-compute-utils-580: the persistence daemon holding /dev/nvidiactl, Restart=always.
p=nvidia-compute-utils-580
control "$p" "libnvidia-compute-580 (= $REV), init-system-helpers" "NVIDIA compute utilities"
mkdir -p "$WORK/$p/usr/bin" "$WORK/$p/lib/systemd/system"
cp "$HERE/nvidia-persistenced" "$WORK/$p/usr/bin/nvidia-persistenced"
chmod 755 "$WORK/$p/usr/bin/nvidia-persistenced"
cp "$HERE/nvidia-persistenced.service" "$WORK/$p/lib/systemd/system/"
script "$p" postinst 'if [ "$1" = configure ]; then
	deb-systemd-helper unmask nvidia-persistenced.service >/dev/null || true
	deb-systemd-helper enable nvidia-persistenced.service >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke restart nvidia-persistenced.service >/dev/null || true
	fi
fi'
script "$p" prerm 'if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop nvidia-persistenced.service >/dev/null || true
fi'
script "$p" postrm 'if [ "$1" = purge ]; then deb-systemd-helper purge nvidia-persistenced.service >/dev/null || true; fi'
build "$p"

# --- nvidia-utils-580
p=nvidia-utils-580
control "$p" "libnvidia-compute-580 (= $REV)" "NVIDIA driver support binaries"
mkdir -p "$WORK/$p/usr/bin"
printf '#!/bin/sh\n# nvidia-smi stand-in (nvfix lab): asks NVML through nvfix.\nexec nvfix verify "$@"\n' >"$WORK/$p/usr/bin/nvidia-smi"
chmod 755 "$WORK/$p/usr/bin/nvidia-smi"
build "$p"

# --- nvidia-driver-580: the metapackage.
p=nvidia-driver-580
control "$p" "libnvidia-compute-580 (= $REV), nvidia-dkms-580 (= $REV), nvidia-compute-utils-580 (= $REV), nvidia-utils-580 (= $REV)" \
	"NVIDIA driver metapackage"
build "$p"
