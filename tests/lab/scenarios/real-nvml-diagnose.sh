# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# real-nvml-diagnose.sh: the mismatch as the unmodified Debian libnvidia-ml (535.x) reports it to nvfix: nvml.code 18.
REAL=/lab/real-nvml
[ -e "$REAL/libnvidia-ml.so.1" ] || lab_fail "Debian's libnvidia-ml is not in the lab (prepare could not fetch it)"
lab_load_stack
lab_nvfix diagnose --nvml-lib "$REAL/libnvidia-ml.so.1" diagnose --json
lab_expect_contains "nvml code 18" "$(tr -d ' \n' <"$LAB_RESULTS/diagnose.out")" '"code":18'
