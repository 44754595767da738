# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# real-nvml.sh: Debian's unmodified nvidia-smi + libnvidia-ml (535.x) against the v1 stand-in nvidia: the real
# library's version check fails exactly as on a real host after a user-space upgrade.
REAL=/lab/real-nvml
if [ ! -x "$REAL/nvidia-smi" ]; then
	lab_fail "Debian's nvidia-smi is not in the lab (prepare could not fetch the non-free packages)"
else
	lab_run "$MODPROBE" -a nvidia nvidia_uvm
	lab_expect_status "real nvidia-smi exit status" 18 env LD_LIBRARY_PATH="$REAL" "$REAL/nvidia-smi"
	lab_expect_contains "real nvidia-smi message" "$LAB_OUT" "Failed to initialize NVML: Driver/library version mismatch"
	lab_result nvidia-smi-status "$LAB_STATUS"
	lab_result nvidia-smi-output "$LAB_OUT"
	lab_expect_contains "kernel logged the API mismatch naming the client" "$(dmesg)" "NVRM: API mismatch: the client 'nvidia-smi' (pid"
	lab_expect_contains "kernel log names both versions" "$(dmesg)" "has the version 535.309.01, but this kernel module has"
	dmesg | grep NVRM
	lab_expect_eq "the stack is unchanged" "$(lab_loaded)" "nvidia nvidia_uvm"
fi
