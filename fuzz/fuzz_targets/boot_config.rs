//! Fuzzes the boot loader configuration that decides the next kernel: GRUB's grubenv and /etc/default/grub, and
//! systemd-boot's loader.conf, entries and EFI variables. The input is cut at NUL bytes into those files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::guards::{next_boot_kernel, BootConfig};
use nvfix::model::systemd_boot::{efi_string, next_boot, SystemdBootConfig};

fuzz_target!(|data: &[u8]| {
    let _ = efi_string(data);
    let [grubenv, default_grub, kernels, loader_conf, entry, one_shot, default, selected]: [String;
        8] = nvfix_fuzz::parts(data, 8).try_into().unwrap();
    let kernels: Vec<String> = kernels.lines().map(str::to_string).collect();
    let systemd_boot = SystemdBootConfig {
        loader_info: (!selected.is_empty()).then(|| "systemd-boot 255.4-1ubuntu8".to_string()),
        loader_conf: Some(loader_conf),
        entries: vec![
            ("fuzz.conf".to_string(), Some(entry.clone())),
            (
                format!("{}.conf", kernels.first().cloned().unwrap_or_default()),
                Some(entry),
            ),
            ("ubuntu-6.8.0-85-generic.efi".to_string(), None),
        ],
        one_shot: (!one_shot.is_empty()).then_some(one_shot),
        default: (!default.is_empty()).then_some(default),
        selected: (!selected.is_empty()).then_some(selected),
    };
    let _ = next_boot(&systemd_boot, &kernels);
    let next = next_boot_kernel(&BootConfig {
        grubenv: Some(grubenv.clone()),
        default_grub: Some(default_grub.clone()),
        boot_images: kernels.clone(),
        module_dirs: kernels.clone(),
        systemd_boot: Some(systemd_boot),
    });
    // The kernel that boots next is one of the installed ones.
    if let Some(kernel) = &next.kernel {
        assert!(kernels.contains(kernel), "{kernel:?} is not installed");
    }
    let _ = next_boot_kernel(&BootConfig {
        grubenv: Some(grubenv),
        default_grub: Some(default_grub),
        boot_images: Vec::new(),
        module_dirs: kernels,
        systemd_boot: None,
    });
});
