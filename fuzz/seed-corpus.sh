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
seed state_files 'WHO            UID USER PID  COMM     WHAT     WHY                  MODE\nUnattended     0   root 1234 unattende shutdown Stop ongoing upgrade delay\n'
