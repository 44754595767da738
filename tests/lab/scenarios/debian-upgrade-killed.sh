# shellcheck shell=sh # sourced by the Debian guest's /lab/run after tests/lab/guest/lib.sh and debian-lib.sh
# debian-upgrade-killed.sh (Debian guest): Ubuntu's prebuilt flavour (linux-modules-nvidia-580-<kernel>, no DKMS).
# nvfix upgrade is killed (SIGKILL) right after the install, before the reload: v2's libraries and modules on disk,
# v1 loaded. `nvfix upgrade --resume` reads the journal and finishes: reload, verify, hold at v2. Then the same to v3,
# where the admin reloads by hand after the kill and the next `nvfix auto` finishes the upgrade (the hold).
lab_use_nvfix_binary

# upgrade_killed_after_install KEY: `nvfix upgrade --yes --kill` in the background, SIGKILLed once its journal says
# `installed` (the test hook pauses it there for 60 s); output in KEY.out/KEY.err.
upgrade_killed_after_install() {
	echo "+ NVFIX_TEST_PAUSE_AFTER_PHASE=installed nvfix upgrade --yes --kill &"
	NVFIX_TEST_PAUSE_AFTER_PHASE=installed nvfix upgrade --yes --kill >"$LAB_RESULTS/$1.out" 2>"$LAB_RESULTS/$1.err" &
	pid=$!
	i=0
	until grep -q '"phase": "installed"' /var/lib/nvfix/upgrade.json 2>/dev/null || [ $i -ge 600 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	lab_check "$1: the journal says installed" grep -q '"phase": "installed"' /var/lib/nvfix/upgrade.json
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
}
lab_run apt-get update -qq
# The prebuilt flavour at v1: the DKMS package (and the metapackage that needs it) out, the prebuilt modules in.
lab_run apt-get remove -y -qq nvidia-driver-580 nvidia-dkms-580
lab_run apt-get install -y -qq "linux-modules-nvidia-580-$LAB_KVER=$V1$REV"
lab_expect_eq "v1 prebuilt on disk" "$(lab_disk_version)" "$V1"
lab_nvfix hold hold
lab_publish v2
lab_run apt-get update -qq

lab_nvfix dry-run upgrade --dry-run
lab_expect_contains "the plan uses the prebuilt package" "$(cat "$LAB_RESULTS/dry-run.out")" "prebuilt (linux-modules-nvidia-580-$LAB_KVER)"
upgrade_killed_after_install killed
lab_say "nvfix upgrade killed: $(tail -n 3 "$LAB_RESULTS/killed.err" | tr '\n' ' ')"
lab_expect_eq "killed: v2 library installed" "$(lab_lib_version)" "$V2"
lab_expect_eq "killed: v2 on disk" "$(lab_disk_version)" "$V2"
lab_expect_eq "killed: v1 still loaded" "$(lab_proc_version)" "$V1"

lab_nvfix diagnose-killed diagnose --json
lab_expect_contains "diagnose: the mismatch the kill left" "$(cat "$LAB_RESULTS/diagnose-killed.out")" '"verdict": "version-mismatch"'
lab_nvfix resume upgrade --resume --yes --kill
lab_expect_eq "resume exit status" "$LAB_STATUS" 0
lab_expect_eq "v2 loaded" "$(lab_proc_version)" "$V2"
lab_expect_eq "the prebuilt package is v2" "$(lab_pkg_version "linux-modules-nvidia-580-$LAB_KVER")" "$V2$REV"
lab_run apt-mark showhold
lab_expect_contains "held again at v2: the prebuilt modules" "$LAB_OUT" "linux-modules-nvidia-580-$LAB_KVER"
lab_expect_contains "held again at v2: the library" "$LAB_OUT" libnvidia-compute-580
lab_check "no upgrade journal left" test ! -e /var/lib/nvfix/upgrade.json
lab_check "gpu-job.service runs" lab_wait_active gpu-job.service 20
lab_nvfix verify verify
lab_expect_eq "verify" "$LAB_STATUS" 0

# Killed again on the way to v3, and this time the admin reloads by hand: the next `nvfix auto` finishes the upgrade
# (holds v3, removes the journal).
lab_publish v3
lab_run apt-get update -qq
upgrade_killed_after_install killed-v3
lab_expect_eq "killed again: v2 still loaded" "$(lab_proc_version)" "$V2"
lab_nvfix reload-v3 reload --yes --kill
lab_expect_eq "the admin's reload" "$LAB_STATUS" 0
lab_check "the journal is still there (not held yet)" test -e /var/lib/nvfix/upgrade.json
lab_nvfix auto-v3 auto --json
lab_expect_eq "auto exit status" "$LAB_STATUS" 0
lab_expect_contains "auto finished the upgrade" "$(cat "$LAB_RESULTS/auto-v3.out")" "finish the upgrade to $V3"
lab_check "auto removed the journal" test ! -e /var/lib/nvfix/upgrade.json
lab_expect_eq "v3 loaded" "$(lab_proc_version)" "$V3"
lab_nvfix hold-status hold --status
lab_expect_eq "hold --status: v3 protected" "$LAB_STATUS" 0
