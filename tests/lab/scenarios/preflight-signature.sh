# shellcheck shell=sh # sourced by the guest's /lab/init (dash) after tests/lab/guest/lib.sh
# preflight-signature.sh: a Secure Boot host whose DKMS key was never enrolled, as issue 10 found it. v1 loaded and
# held, unsigned v2 on disk, then signature enforcement switched on at run time. The kernel's own refusal first: insmod
# of the new nvidia.ko gets "Key was rejected by service" (the signature check runs before the already-loaded one).
# Then nvfix: diagnose says repair (preflight-signature), and `nvfix reload --yes` refuses (69) before stopping
# anything: the holder still runs and the whole v1 stack stays loaded with its original load stamps.
lab_load_stack
lab_hold cuda-app /dev/nvidia0
lab_install_version "$V2"
stamps=$(lab_stack_stamps)
lab_result stamps-before "$stamps"
new=$(modinfo -n nvidia)
lab_result new-nvidia "$new"
lab_expect_eq "modprobe would load the v2 file" "$(modinfo -F version "$new")" "$V2"
lab_check "the v2 file carries no signature" test -z "$(modinfo -F signer "$new")"

lab_run sh -c 'echo 1 >/sys/module/module/parameters/sig_enforce'
lab_expect_eq "signature enforcement is on" "$(cat /sys/module/module/parameters/sig_enforce)" Y
lab_run /usr/sbin/insmod "$new"
lab_result kernel-refusal "$LAB_OUT"
lab_check "the kernel refuses the unsigned v2 nvidia (insmod fails)" test "$LAB_STATUS" != 0
lab_expect_contains "with the signature error" "$LAB_OUT" "Key was rejected by service"
lab_expect_contains "dmesg says why" "$(dmesg | tail -n 5)" "Loading of unsigned module is rejected"

lab_nvfix diagnose diagnose --json
lab_check "diagnose: action repair" grep -q '"action": "repair"' "$LAB_RESULTS/diagnose.out"
lab_check "diagnose: the signature finding" grep -q 'preflight-signature' "$LAB_RESULTS/diagnose.out"
lab_nvfix reload reload --yes
lab_expect_eq "reload exit status (unavailable)" "$LAB_STATUS" 69
lab_check "reload names the signature check" grep -qiE 'signature' "$LAB_RESULTS/reload.out" "$LAB_RESULTS/reload.err"
lab_expect_old_stack_kept cuda-app "$stamps"
lab_expect_eq "nvidia was loaded once (never reloaded)" "$(dmesg | grep -c 'nvidia: loading stand-in')" 1
