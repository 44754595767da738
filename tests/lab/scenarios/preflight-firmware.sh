# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# preflight-firmware.sh: the new nvidia lists GSP firmware (nvidia/<ver>/gsp_*.bin) and one file is missing (a
# half-installed nvidia-firmware package): the real driver would load and then fail to bring up the GPU. v1 loaded and
# held, v2 installed with its firmware, then gsp_ga10x.bin removed: diagnose says repair (preflight-firmware), `nvfix
# reload --yes` refuses (69) naming the file, and the whole v1 stack stays loaded, stamps unchanged.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
stamps=$(lab_stack_stamps)
lab_result stamps-before "$stamps"
listed=$(modinfo -F firmware nvidia | sort | tr '\n' ' ')
lab_result firmware-listed "$listed"
lab_expect_contains "the v2 nvidia lists its GSP firmware" "$listed" "nvidia/$V2/gsp_ga10x.bin"
for fw in $listed; do
	lab_check "installed: /lib/firmware/$fw" test -s "/lib/firmware/$fw"
done
lab_run rm "/lib/firmware/nvidia/$V2/gsp_ga10x.bin"

lab_nvfix diagnose diagnose --json
lab_check "diagnose: action repair" grep -q '"action": "repair"' "$LAB_RESULTS/diagnose.out"
lab_check "diagnose: the firmware finding" grep -q 'preflight-firmware' "$LAB_RESULTS/diagnose.out"
lab_nvfix reload reload --yes
lab_expect_eq "reload exit status (unavailable)" "$LAB_STATUS" 69
lab_check "reload names the missing file" grep -q gsp_ga10x.bin "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err"
lab_expect_old_stack_kept cuda-app "$stamps"
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
