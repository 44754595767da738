# killed-midway.sh (for the reload engine; #[ignore]d test): nvfix is SIGKILLed after unloading and before loading;
# `nvfix reload --resume` brings the modules back, nothing is left stopped or unloaded.
# Needs a test hook in the engine that pauses between the two steps: NVFIX_TEST_PAUSE_AFTER_UNLOAD=<seconds>.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
echo "+ NVFIX_TEST_PAUSE_AFTER_UNLOAD=60 nvfix reload --yes &"
NVFIX_TEST_PAUSE_AFTER_UNLOAD=60 nvfix reload --yes >"$LAB_RESULTS/reload.out" 2>&1 &
pid=$!
i=0
while lab_is_loaded nvidia && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
lab_expect_eq "nvfix unloaded nvidia" "$(lab_loaded)" ""
kill -9 "$pid"
wait "$pid" 2>/dev/null
lab_say "killed nvfix (pid $pid) with the modules out"
cat "$LAB_RESULTS/reload.out"
lab_nvfix resume reload --resume --yes
lab_expect_eq "resume exit status" "$LAB_STATUS" 0
lab_expect_eq "stack after resume" "$(lab_loaded)" "nvidia nvidia_drm nvidia_modeset nvidia_uvm"
lab_expect_eq "nvidia after resume" "$(lab_module_version nvidia)" "$V2"
lab_expect_eq "no process left stopped" "$(ps -o stat,comm | awk '$1 ~ /^T/' | wc -l)" 0
