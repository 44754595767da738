# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# respawn.sh: two holders under supervisors (a shell loop, Restart=always, a container restart policy) reopen
# /dev/nvidia0 half a second after they are terminated: a plain CUDA worker (signalled) and a DCGM exporter (a known
# service, signalled too: the guest has no systemd). nvfix's re-scan before unloading must stay quiet for its settle
# period, so it sees them come back, names them, restores (nothing was unloaded) and exits 1; the whole v1 stack
# stays loaded.
lab_load_stack
lab_hold_respawning cuda-worker /dev/nvidia0
lab_hold_respawning dcgm-exporter /dev/nvidia0
first=$(lab_holder_pids /dev/nvidia0)
lab_install_version "$V2"
lab_nvfix reload reload --yes --json --grace 2
lab_expect_eq "reload exit status" "$LAB_STATUS" 1
out=$(cat "$LAB_RESULTS/reload.out")
lab_expect_contains "outcome: restored" "$out" '"outcome": "restored"'
lab_expect_contains "the re-scan reports it" "$out" "still in use right before unloading"
lab_expect_contains "reload names the respawned worker" "$out" "cuda-worker"
lab_expect_contains "reload names the respawned exporter" "$out" "dcgm-exporter"
lab_expect_contains "reload says they came back" "$out" "not there when the plan was made"
lab_expect_not_contains "nothing was unloaded" "$out" "modprobe -r"
lab_expect_eq "no partial stack" "$(lab_stack_versions)" "nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
now=$(lab_holder_pids /dev/nvidia0)
lab_result holders-before "$first"
lab_result holders-after "$now"
lab_check "the holders were terminated and came back as other processes ($first -> $now)" test -n "$now" -a "$now" != "$first"
lab_check "no journal left behind" test ! -e /run/nvfix/journal.json
