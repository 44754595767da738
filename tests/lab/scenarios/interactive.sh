# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# interactive.sh: a real interactive `nvfix reload` (no --yes) on a terminal: the incident (v1 loaded, two CUDA jobs,
# v2 installed), the diagnosis, the plan, dialoguer's questions answered by pty-run (accept both processes, confirm
# the unload), the spinners, the report. The rendered screen is the transcript tests/lab/transcripts/ keeps.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_hold uvm-app /dev/nvidia-uvm
lab_install_version "$V2"
echo "+ pty-run ... -- nvfix reload"
/lab/bin/pty-run -o "$LAB_RESULTS/interactive.raw" -r "$LAB_RESULTS/interactive.txt" -c 160 -t 120 \
	-e "process(es)?" -s '\r' \
	-e "Unload " -s 'y' \
	-- env COLUMNS=160 nvfix reload
st=$?
lab_result interactive-status "$st"
echo "---- rendered terminal ----"
cat "$LAB_RESULTS/interactive.txt"
echo "---- end ----"
lab_expect_eq "interactive reload exit status" "$st" 0
lab_expect_eq "stack after the interactive reload" "$(lab_stack_versions)" "nvidia=$V2 nvidia_uvm=$V2 nvidia_modeset=$V2 nvidia_drm=$V2"
lab_expect_contains "the process question was shown" "$(cat "$LAB_RESULTS/interactive.txt")" "process(es)?"
lab_expect_contains "the unload question was shown" "$(cat "$LAB_RESULTS/interactive.txt")" "Unload "
if lab_alive cuda-app; then lab_fail "cuda-app still runs"; else lab_pass "cuda-app was terminated"; fi
