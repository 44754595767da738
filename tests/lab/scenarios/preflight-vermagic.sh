# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# preflight-vermagic.sh: DKMS built the new nvidia.ko for another kernel (Debian's PREEMPT_RT flavour of this ABI: its
# vermagic's flags differ, which a CONFIG_MODVERSIONS kernel checks). v1 loaded and held, v2 on disk with that nvidia.ko.
# The kernel's own refusal first (insmod: "Invalid module format", dmesg "version magic"), then nvfix's: diagnose says
# repair (preflight-vermagic), `nvfix reload --yes` refuses (69) and the whole v1 stack stays loaded, stamps unchanged.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
cp "/lab/versions/$V2-vermagic/nvidia.ko" "$LAB_UPDATES/nvidia.ko"
depmod -a
stamps=$(lab_stack_stamps)
lab_result stamps-before "$stamps"
new=$(modinfo -n nvidia)
lab_result new-nvidia "$new"
lab_expect_eq "modprobe would load the v2 file" "$(modinfo -F version "$new")" "$V2"
lab_result vermagic-on-disk "$(modinfo -F vermagic "$new" | head -n1)"
lab_result vermagic-kernel "$(uname -r)"

lab_run /usr/sbin/insmod "$new"
lab_result kernel-refusal "$LAB_OUT"
lab_check "the kernel refuses the v2 nvidia built for another kernel (insmod fails)" test "$LAB_STATUS" != 0
lab_expect_contains "with the format error" "$LAB_OUT" "Invalid module format"
magic=$(dmesg | grep 'version magic' | tail -n1)
lab_result kernel-log "$magic"
lab_expect_contains "dmesg names the version magic" "$magic" "preempt_rt"

lab_nvfix diagnose diagnose --json
lab_check "diagnose: action repair" grep -q '"action": "repair"' "$LAB_RESULTS/diagnose.out"
lab_check "diagnose: the vermagic finding" grep -q 'preflight-vermagic' "$LAB_RESULTS/diagnose.out"
lab_nvfix reload reload --yes
lab_expect_eq "reload exit status (unavailable)" "$LAB_STATUS" 69
lab_check "reload names the vermagic check" grep -qiE 'vermagic|version magic' "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err"
lab_expect_old_stack_kept cuda-app "$stamps"
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
