# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# stuck-unload.sh: a module whose exit blocks in the kernel (nvidia_uvm exit_block_s: msleep, D state), as a real
# module stuck on hardware does. The kernel's side first: an rmmod of it sits in D state and SIGKILL does not end it.
# Then `options nvidia_uvm exit_block_s=60`, the v1 stack loaded and held, v2 installed: `nvfix reload --yes
# --module-timeout 10` terminates the holder, unloads nvidia_drm and nvidia_modeset, and its `modprobe -r nvidia_uvm`
# blocks. nvfix must give up (SIGTERM, SIGKILL, a bounded wait), leave that child behind, return well before the 60 s
# are up, exit 69 saying only a reboot recovers, and keep its journal (/run/nvfix/journal.json) for the record.
lab_load_stack
# The kernel: a module exit that sleeps uninterruptibly keeps rmmod in D state, SIGKILL or not, until it returns.
lab_run sh -c 'echo 4 >/sys/module/nvidia_uvm/parameters/exit_block_s'
t0=$(lab_now)
$RMMOD nvidia_uvm &
rm_pid=$!
i=0
while [ "$(cut -d' ' -f3 "/proc/$rm_pid/stat" 2>/dev/null)" != D ] && [ $i -lt 20 ]; do
	sleep 0.1
	i=$((i + 1))
done
lab_expect_eq "rmmod of a module whose exit blocks: state" "$(cut -d' ' -f3 "/proc/$rm_pid/stat")" D
kill -9 "$rm_pid"
sleep 0.5
lab_expect_eq "after SIGKILL it is still there, still in D state" "$(cut -d' ' -f3 "/proc/$rm_pid/stat" 2>/dev/null)" D
wait "$rm_pid"
took=$(lab_elapsed "$t0")
lab_result kernel-block-seconds "$took"
lab_check "it returned only when the exit did (>= 4 s: $took s)" awk -v t="$took" 'BEGIN { exit !(t >= 4) }'
lab_check "nvidia_uvm is gone" sh -c '! grep -q "^nvidia_uvm " /proc/modules'

# The incident, with a stuck nvidia_uvm exit armed from modprobe.d before the module is loaded.
echo "options nvidia_uvm exit_block_s=60" >/etc/modprobe.d/lab-stuck-unload.conf
lab_run "$MODPROBE" nvidia_uvm
lab_expect_eq "nvidia_uvm armed from modprobe.d" "$(cat /sys/module/nvidia_uvm/parameters/exit_block_s)" 60
lab_expect_eq "the v1 stack is loaded" "$(lab_stack_versions)" "nvidia=$V1 nvidia_uvm=$V1 nvidia_modeset=$V1 nvidia_drm=$V1"
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
stamps=$(lab_stack_stamps)
lab_result stamps-before "$stamps"
lab_nvfix reload reload --yes --module-timeout 10
lab_expect_eq "reload exit status (reboot required)" "$LAB_STATUS" 69
secs=$(cat "$LAB_RESULTS/reload.seconds")
lab_check "nvfix gave up and returned well before the exit's 60 s ($secs s)" awk -v t="$secs" 'BEGIN { exit !(t < 45) }'
lab_check "reload says a reboot is needed" grep -qi reboot "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err"
lab_check "the journal is kept" test -s /run/nvfix/journal.json
lab_result journal "$(cat /run/nvfix/journal.json 2>/dev/null)"
if lab_alive cuda-app; then lab_fail "cuda-app still runs"; else lab_pass "cuda-app was terminated"; fi
lab_expect_eq "nvidia_drm and nvidia_modeset went" "$(lab_loaded)" "nvidia nvidia_uvm"
lab_expect_eq "nvidia is still the same load" "$(lab_stack_stamps | cut -d' ' -f1)" "${stamps%% *}"
stuck=$(ps -o pid,stat,args | awk '$2 ~ /^D/ && /nvidia_uvm/' | grep -E 'modprobe|rmmod')
lab_result stuck-child "$stuck"
lab_check "the modprobe -r nvidia_uvm nvfix left behind is in D state" test -n "$stuck"
