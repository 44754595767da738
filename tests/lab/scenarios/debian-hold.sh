# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-hold.sh (Debian guest): `nvfix hold` against real unattended-upgrades. v1 installed and loaded; after
# `nvfix hold`, v3 is published and apt-daily + apt-daily-upgrade run for real: nothing of the driver is upgraded.
# After `nvfix hold --undo` the same run upgrades the driver to v3 (DKMS builds it).
lab_use_nvfix_binary
lab_expect_eq "v1 installed" "$(lab_pkg_version nvidia-driver-580)" "$V1$REV"
lab_nvfix hold hold
lab_expect_eq "nvfix hold exit status" "$LAB_STATUS" 0
lab_run apt-mark showhold
lab_result holds "$(echo "$LAB_OUT" | tr '\n' ' ')"
lab_expect_contains "apt-mark holds the metapackage" "$LAB_OUT" nvidia-driver-580
lab_expect_contains "and the DKMS package" "$LAB_OUT" nvidia-dkms-580
lab_expect_contains "and the library" "$LAB_OUT" libnvidia-compute-580
lab_run cat /etc/apt/apt.conf.d/51nvfix-hold
lab_nvfix hold-status hold --status
lab_expect_eq "hold --status: nothing can replace the driver" "$LAB_STATUS" 0

lab_publish v3
lab_unattended_upgrade
lab_result held-versions "$(lab_pkg_version nvidia-driver-580) $(lab_pkg_version libnvidia-compute-580) $(lab_pkg_version nvidia-dkms-580)"
lab_expect_eq "held: the metapackage stays v1" "$(lab_pkg_version nvidia-driver-580)" "$V1$REV"
lab_expect_eq "held: the library stays v1" "$(lab_pkg_version libnvidia-compute-580)" "$V1$REV"
lab_expect_eq "held: the DKMS package stays v1" "$(lab_pkg_version nvidia-dkms-580)" "$V1$REV"
lab_expect_eq "held: the modules on disk stay v1" "$(lab_disk_version)" "$V1"
lab_expect_not_contains "apt's history has no upgrade of the driver" "$(cat /var/log/apt/history.log)" "$V3"

lab_nvfix hold-undo hold --undo
lab_expect_eq "nvfix hold --undo exit status" "$LAB_STATUS" 0
lab_run apt-mark showhold
lab_expect_eq "nothing held any more" "$LAB_OUT" ""
lab_check "the drop-in is gone" test ! -e /etc/apt/apt.conf.d/51nvfix-hold
lab_unattended_upgrade
lab_result undone-versions "$(lab_pkg_version nvidia-driver-580) $(lab_pkg_version libnvidia-compute-580) $(lab_pkg_version nvidia-dkms-580)"
lab_expect_eq "released: unattended-upgrades installs v3" "$(lab_pkg_version nvidia-driver-580)" "$V3$REV"
lab_expect_eq "released: DKMS built v3" "$(lab_disk_version)" "$V3"
lab_expect_contains "apt's history: unattended-upgrade upgraded to v3" "$(cat /var/log/apt/history.log)" "$V3$REV"
