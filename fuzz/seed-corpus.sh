#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the test fixtures (and the shipped playbooks), plus a few one-line seeds for the
# formats no fixture holds (kmsg records, mountinfo, boot loader files, versions). The corpus itself is not committed:
# run this before fuzzing (fuzz/ci.sh does). Files are named by their content's hash, so a rerun adds nothing twice.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures

# add <target> <file>...: copies each file into the target's corpus under its hash.
add() {
  local target=$1
  shift
  mkdir -p "corpus/$target"
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "corpus/$target/$(sha1sum "$f" | cut -c1-16)"
  done
}

# seed <target> <printf format> [args]: one seed written from text.
seed() {
  local target=$1
  shift
  local tmp
  tmp=$(mktemp)
  # shellcheck disable=SC2059
  printf "$@" >"$tmp"
  add "$target" "$tmp"
  rm -f "$tmp"
}

# with_knob <target> <file>...: the narrow target reads its first byte as chunk and trickle sizes.
with_knob() {
  local target=$1
  shift
  local f tmp
  tmp=$(mktemp)
  for f in "$@"; do
    [ -f "$f" ] || continue
    { printf '\x23'; cat "$f"; } >"$tmp"
    add "$target" "$tmp"
  done
  rm -f "$tmp"
}

shopt -s nullglob
add driver_version "$fixtures"/*/proc/driver/nvidia/version
add proc_modules "$fixtures"/*/proc/modules "$fixtures"/*/sys/module/*/initstate "$fixtures"/*/sys/module/*/refcnt \
  "$fixtures"/*/sys/module/*/parameters/*
add modinfo_elf "$fixtures"/modules/*/*.ko "$fixtures"/modules/in-tree/*.ko
add decompress "$fixtures"/modules/*/*.ko.xz "$fixtures"/modules/*/*.ko.zst "$fixtures"/modules/*/*.ko.gz \
  "$fixtures"/modules/580.95.05/nvidia.ko
add package_logs "$fixtures"/*/var/log/apt/history.log "$fixtures"/*/var/log/dpkg.log "$fixtures"/*/var/log/dnf.rpm.log
add dpkg_status "$fixtures"/*/var/lib/dpkg/status "$fixtures"/*/etc/apt/apt.conf.d/*
add kernel_log "$fixtures"/*/var/log/kern.log
add cgroup_mountinfo "$fixtures"/*/proc/*/cgroup
add playbook ../playbooks/*.yaml
add kmod_config "$fixtures"/*/usr/lib/modules/*/modules.dep
add preflight "$fixtures"/*/proc/keys "$fixtures"/*/sys/kernel/security/lockdown \
  "$fixtures"/*/sys/module/module/parameters/sig_enforce "$fixtures"/*/sys/firmware/efi/efivars/SecureBoot-*
# Decompression bombs: tens of kilobytes that expand past the 1 GiB cap (zstd) or to 200 MiB (xz); they must be refused quickly and small.
if command -v zstd >/dev/null && [ ! -f corpus/decompress/bomb.zst ]; then
  head -c 1100M /dev/zero | zstd -q -1 -c >corpus/decompress/bomb.zst
fi
if command -v xz >/dev/null && [ ! -f corpus/decompress/bomb.xz ]; then
  head -c 200M /dev/zero | xz -0 -c >corpus/decompress/bomb.xz
fi
with_knob narrow "$fixtures"/*/var/lib/dpkg/status "$fixtures"/*/var/log/apt/history.log "$fixtures"/*/var/log/dpkg.log

seed kernel_log '6,1234,5678901,-;NVRM: API mismatch: the client has the version 580.95.05, but\n SUBSYSTEM=pci\n4,1235,5678950,-;NVRM: this kernel module has the version 580.65.06.\n'
seed kernel_log 'Oct 22 06:30:01 gpu01 kernel: [ 5.678901] NVRM: RmInitAdapter failed! (0x63:0x56:1689)#012next\n'
seed cgroup_mountinfo '0::/system.slice/docker-4f1c2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f.scope\n'
seed cgroup_mountinfo '1234 1200 0:52 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.65.06 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 ro,nosuid,nodev - overlay overlay rw\n'
seed blacklist 'nvidia-\000nvidia-driver-580'
seed blacklist 'libnvidia-compute-580$\000libnvidia-compute-580'
seed boot_config 'saved_entry=Ubuntu, with Linux 6.8.0-85-generic\nnext_entry=\n\000GRUB_DEFAULT=saved\n\0006.8.0-85-generic\n6.8.0-79-generic\n\000default @saved\ntimeout 3\n\000title Ubuntu\nversion 6.8.0-85-generic\nlinux /vmlinuz-6.8.0-85-generic\nsort-key ubuntu\n\000\000ubuntu-6.8.0-*\000fuzz.conf'
seed boot_config 'saved_entry=0c9a-6.8.0-85-generic\n\000GRUB_DEFAULT=0\n\0006.8.0-85-generic\n'
seed version_compare '580.95.05\000580.65.06\000580.142'
seed version_compare '6.8.0-85-generic\0006.8.0-9-generic\0006.8.0-85-generic-rc1'
# shellcheck disable=SC2016 # $CMDLINE_OPTS is literal modprobe.d text, not a variable of this script
seed kmod_config 'updates/dkms/nvidia.ko.zst: kernel/drivers/video/video.ko.zst\n\000alias nvidia nvidia_367\ninstall nvidia modprobe -i nvidia-current $CMDLINE_OPTS\n\000search updates ubuntu built-in\noverride nvidia 6.8.0-* updates/dkms\n\000nvidia\0006.8.0-85-generic'
seed state_files '{"format":1,"manager":"apt","packages":["nvidia-driver-580"],"dropin":true}'
seed apt_output 'Inst libnvidia-compute-580 [580.65.06-0ubuntu0.24.04.1] (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64]) []\nInst nvidia-firmware-580-580.95.05 (580.95.05-0ubuntu0.24.04.1 nvfix-lab:./ [amd64])\nRemv foo [1]\n\000nvidia-driver-580:\n  Installed: 580.65.06-0ubuntu0.24.04.1\n  Candidate: 580.95.05-0ubuntu0.24.04.1\n  Version table:\n     580.95.05-0ubuntu0.24.04.1 500\n        500 file:/srv/nvfix-repo/current ./ Packages\n *** 580.65.06-0ubuntu0.24.04.1 100\n        100 /var/lib/dpkg/status\n'
seed state_files '{"format":1,"started_at":1,"phase":"installed","plan":{"manager":"apt","branch":580,"from_version":"580.65.06","to_version":"580.95.05","install":[{"name":"nvidia-driver-580","version":"580.95.05-1"}],"changes":[],"kernels":[{"kernel":"6.1.0-57-amd64","role":"running","source":{"kind":"dkms","dkms_package":"nvidia-dkms-580"}}],"release_holds":[],"rollback":[],"rollback_missing":[],"reload_stops":[],"notes":[]}}'
seed state_files 'WHO            UID USER PID  COMM     WHAT     WHY                  MODE\nUnattended     0   root 1234 unattende shutdown Stop ongoing upgrade delay\n'

# Hostile shapes (issue 16): Python-only and Python-invalid blacklist entries, a costly Unicode class, foreign-arch
# names; deep YAML nesting and a half-anchored `re:`; dnf lines that pair far apart; multiarch dpkg status; reboot
# records with numbers at their extremes; a narrowed read of one endless line.
seed blacklist 'x)|(nvidia\000libnvidia-compute-580'
seed blacklist '\\w{500}\000nvidia-driver-580'
seed blacklist '(?i)NVIDIA-\000nvidia-driver-580'
seed blacklist 'libnvidia-compute-580$\000libnvidia-compute-580:i386'
seed blacklist 'nvidia(?!-open)\000nvidia-driver-580-open'
seed blacklist '(?P<a>n)(?P=a)*+\000nnvidia'
seed blacklist 'a{,2}[]a-]\\x41(?#c)?(?x) b\000aa]A'
if [ ! -f corpus/playbook/deep-flow.yaml ]; then
  mkdir -p corpus/playbook
  { printf 'version: 1\nreload: '; head -c 4000 /dev/zero | tr '\0' '['; } >corpus/playbook/deep-flow.yaml
  python3 -c 'print("version: 1\n" + "".join(" " * d + "k%d:\n" % d for d in range(60)))' >corpus/playbook/deep-block.yaml 2>/dev/null || true
fi
seed playbook 'version: 1\nreload:\n  holders:\n    users: ["re:x)|(svc", "re:svc-.*"]\n'
seed package_logs '2026-02-14T09:30:12+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.x86_64\n2026-02-14T09:30:13+0000 SUBDEBUG Upgrade: libnvidia-ml-3:575.57.08-1.el9.i686\n2026-02-14T09:30:20+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.x86_64\n2026-02-14T09:30:21+0000 SUBDEBUG Upgraded: libnvidia-ml-3:570.124.06-1.el9.i686\n'
seed dpkg_status 'Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22.6\n\nPackage: libnvidia-compute-580\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 580.95.05-1\n\nPackage: libnvidia-compute-580\nStatus: hold ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 580.95.05-1\n'
seed state_files '{"format":1,"reboots":[{"boot_id":"b1","requested_at":-9223372036854775808,"scheduled_for":9223372036854775807,"method":"shutdown","reason":"x"}]}'
seed kernel_log '6,18446744073709551615,18446744073709551615,-;NVRM: API mismatch\n4,1,1,-;[9223372036854.775807] NVRM: x\n'
seed narrow '\043Package: nvidia-driver-580 %01000d' 0
