# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# incident.sh: the project's origin. v1 loaded, a CUDA job holds /dev/nvidia0 and another /dev/nvidia-uvm, apt
# upgraded modules and the (stand-in) libnvidia-ml to v2: diagnose says version-mismatch/reload; `nvfix reload --yes`
# terminates the holders, unloads, loads v2 and verifies through NVML (the v2 stand-in at the system path); diagnose
# then says healthy and `nvfix verify` passes. An idle container started before the upgrade (its own mount namespace,
# the v1 library bind-mounted) holds no device, so it survives the reload: verification names it for a restart.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_hold uvm-app /dev/nvidia-uvm
lab_container idle-container
lab_install_version "$V2"
lab_nvfix diagnose-before diagnose --json
lab_expect_contains "verdict before" "$(cat "$LAB_RESULTS/diagnose-before.out")" '"verdict": "version-mismatch"'
lab_expect_contains "action before" "$(cat "$LAB_RESULTS/diagnose-before.out")" '"action": "reload"'
lab_expect_contains "NVML before: code 18" "$(tr -d ' \n' <"$LAB_RESULTS/diagnose-before.out")" '"code":18'
lab_nvfix reload reload --yes --json
lab_expect_eq "reload exit status" "$LAB_STATUS" 0
lab_expect_contains "reload outcome" "$(cat "$LAB_RESULTS/reload.out")" '"outcome": "fixed"'
lab_expect_contains "reload verified" "$(cat "$LAB_RESULTS/reload.out")" '"verified": true'
for m in $LAB_STACK; do
	lab_expect_eq "$m after reload" "$(lab_module_version "$m")" "$V2"
done
lab_expect_eq "/proc/driver/nvidia/version after reload" "$(lab_proc_version)" "$V2"
if lab_alive cuda-app; then lab_fail "cuda-app still runs"; else lab_pass "cuda-app was terminated"; fi
if lab_alive uvm-app; then lab_fail "uvm-app still runs"; else lab_pass "uvm-app was terminated"; fi
lab_expect_eq "nobody holds /dev/nvidia0" "$(lab_holder_pids /dev/nvidia0)" ""
lab_check "no journal left behind" test ! -e /run/nvfix/journal.json
container=$(cat /run/lab-pids/idle-container)
lab_check "the idle container survived the reload" test -d "/proc/$container"
reload_json=$(tr -d ' \n' <"$LAB_RESULTS/reload.out")
lab_expect_contains "the reload names the container still on $V1" "$reload_json" "\"pid\":$container,\"mounts\":"
lab_expect_contains "with the stale version" "$reload_json" "\"stale_versions\":[\"$V1\"]"
lab_expect_contains "whose library was replaced" "$reload_json" '"deleted":true'

lab_nvfix verify verify --json
lab_expect_eq "nvfix verify exit status" "$LAB_STATUS" 0
lab_nvfix diagnose-after diagnose --json
lab_expect_eq "diagnose after: exit status" "$LAB_STATUS" 0
lab_expect_contains "verdict after" "$(cat "$LAB_RESULTS/diagnose-after.out")" '"verdict": "healthy"'
lab_result stack-after "$(lab_stack_versions)"
