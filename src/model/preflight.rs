//! The pre-flight's rules: will the kernel accept the modules a reload would load?
//!
//! Checked before anything is stopped, because once the old modules are out the only thing that can be loaded is
//! what is on disk.
//!
//! Pure: the host layer (`host::preflight`) resolves the files and reads them into [`PreflightInputs`]; [`check`]
//! turns those into findings, each with a stable code, the evidence file and the fix. A finding blocks the reload
//! (`plan.rs`) and turns diagnose's `reload` into `repair` (`verdict.rs`).

use super::module_signature::{SignatureState, Signer};
use serde::Serialize;

/// The mode `/sys/kernel/security/lockdown` shows in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lockdown {
    None,
    Integrity,
    Confidentiality,
}

/// `none [integrity] confidentiality` → Integrity; anything without one bracketed known mode → None (unreadable).
pub fn parse_lockdown(text: &str) -> Option<Lockdown> {
    let start = text.find('[')?;
    let end = start + text[start..].find(']')?;
    match &text[start + 1..end] {
        "none" => Some(Lockdown::None),
        "integrity" => Some(Lockdown::Integrity),
        "confidentiality" => Some(Lockdown::Confidentiality),
        _ => None,
    }
}

/// `/sys/module/module/parameters/sig_enforce`: `Y` or `N` (a bool parameter; `1`/`0` accepted too).
pub fn parse_sig_enforce(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// The `SecureBoot-8be4df61-…` EFI variable as efivarfs shows it: 4 attribute bytes, then the value (1 = on).
pub fn parse_secure_boot_variable(bytes: &[u8]) -> Option<bool> {
    match bytes.get(4) {
        Some(1) => Some(true),
        Some(0) => Some(false),
        _ => None,
    }
}

/// An asymmetric key the kernel holds, from `/proc/keys`: the name part of its description (the certificate's
/// subject CN, or `O: CN`) and the key id the kernel put after it (subjectKeyIdentifier, else serial), lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// The keyrings whose keys may verify modules (builtin, secondary, platform, machine/MOK).
const MODULE_KEYRINGS: &[&str] = &[
    ".builtin_trusted_keys",
    ".secondary_trusted_keys",
    ".platform",
    ".machine",
];

/// Parses `/proc/keys`. Returns None when none of the kernel's trusted keyrings is visible (a non-root reader sees
/// only its own keys: an empty list there proves nothing).
pub fn parse_proc_keys(text: &str) -> Option<Vec<TrustedKey>> {
    let mut keyrings_visible = false;
    let mut keys = Vec::new();
    for line in text.lines() {
        // id flags usage timeout perm uid gid type description…
        let mut fields = line.split_whitespace();
        let Some(kind) = fields.nth(7) else { continue };
        let rest: Vec<&str> = fields.collect();
        let description = rest.join(" ");
        match kind {
            "keyring"
                if MODULE_KEYRINGS
                    .iter()
                    .any(|k| description.starts_with(&format!("{k}:"))) =>
            {
                keyrings_visible = true;
            }
            k if k.starts_with("asymmetri") => keys.push(trusted_key(&description)),
            _ => {}
        }
    }
    keyrings_visible.then_some(keys)
}

/// `Debian Secure Boot CA: 6ccece7e…a1: X509.rsa 4c6c0d1f []` → name and key id.
fn trusted_key(description: &str) -> TrustedKey {
    let parts: Vec<&str> = description.split(": ").collect();
    let is_hex =
        |s: &str| s.len() >= 2 && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.iter().rposition(|p| is_hex(p)) {
        Some(i) if i > 0 => TrustedKey {
            name: parts[..i].join(": "),
            key_id: Some(parts[i].to_ascii_lowercase()),
        },
        _ => TrustedKey {
            name: parts.first().copied().unwrap_or_default().to_string(),
            key_id: None,
        },
    }
}

/// What decides whether the kernel demands signed modules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KernelModulePolicy {
    /// `/sys/module/module/parameters/sig_enforce`; None when absent or unreadable.
    pub sig_enforce: Option<bool>,
    /// `/sys/kernel/security/lockdown`; None when absent or unreadable.
    pub lockdown: Option<Lockdown>,
    /// The SecureBoot EFI variable; None when absent (legacy boot, no efivarfs) or unreadable.
    pub secure_boot: Option<bool>,
    /// Keys in the kernel's trusted keyrings; None when they could not be seen (not root, no `/proc/keys`).
    pub trusted_keys: Option<Vec<TrustedKey>>,
}

pub const SIG_ENFORCE_PATH: &str = "/sys/module/module/parameters/sig_enforce";
pub const LOCKDOWN_PATH: &str = "/sys/kernel/security/lockdown";
pub const SECURE_BOOT_PATH: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";
pub const PROC_KEYS_PATH: &str = "/proc/keys";

impl KernelModulePolicy {
    /// Why the kernel enforces module signatures, or None when it does not.
    pub fn enforcement(&self) -> Option<String> {
        let lockdown_enforces = matches!(
            self.lockdown,
            Some(Lockdown::Integrity | Lockdown::Confidentiality)
        );
        let mode = match self.lockdown {
            Some(Lockdown::Confidentiality) => "confidentiality",
            _ => "integrity",
        };
        if self.sig_enforce == Some(true) {
            Some(format!(
                "module signatures are enforced ({SIG_ENFORCE_PATH} is Y)"
            ))
        } else if lockdown_enforces && self.secure_boot == Some(true) {
            Some(format!(
                "Secure Boot is on; this kernel enforces module signatures under it (lockdown: {mode})"
            ))
        } else if lockdown_enforces {
            Some(format!(
                "kernel lockdown is {mode}: unsigned modules are rejected"
            ))
        } else if self.secure_boot == Some(true) && self.lockdown.is_none() {
            Some(format!(
                "Secure Boot is on and the kernel's lockdown state cannot be read ({LOCKDOWN_PATH}): assuming the \
                 kernel enforces module signatures under it, as distribution kernels do"
            ))
        } else {
            None
        }
    }
}

/// A firmware file a module lists (`firmware=nvidia/580.95.05/gsp_ga10x.bin`) and where it was found, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirmwareFile {
    pub name: String,
    /// The file found under `/lib/firmware` (plain, `.zst` or `.xz`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// A dependency `modules.dep` lists for a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyFile {
    pub module: String,
    pub path: String,
    pub present: bool,
    /// modprobe will insert it: it is not loaded now, or the reload takes it out first.
    pub needed: bool,
}

/// What `modprobe --show-depends` said about a module, compared with nvfix's own resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ModprobeView {
    NotChecked {
        reason: String,
    },
    Agrees,
    /// modprobe would insert another file than the one nvfix resolved.
    Disagrees {
        insmod: Vec<String>,
    },
    /// modprobe itself could not resolve the module.
    Failed {
        message: String,
    },
}

/// One module a reload would load: how modprobe finds it, and what its file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedModule {
    /// The name the reload asks modprobe for (`nvidia`).
    pub name: String,
    /// The module name that resolves to (`nvidia_367` through an alias), when different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_as: Option<String>,
    /// The `modprobe.d` file whose alias renamed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_file: Option<String>,
    /// The file `modules.dep` names (host path); None when the module is not in `modules.dep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The file depmod's search order and overrides would pick, when it is not `path`: `modules.dep` is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depmod_would_pick: Option<String>,
    pub deps: Vec<DependencyFile>,
    /// Why the file could not be read (absent, unreadable, not a module); the checks below need it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vermagic: Option<String>,
    /// Built with modversions (a `__versions` section): the kernel checks symbol CRCs and ignores the release part
    /// of the vermagic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub modversions: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureState>,
    pub firmware: Vec<FirmwareFile>,
    pub modprobe: ModprobeView,
}

/// The running kernel's own vermagic, read from one of its in-tree modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunningVermagic {
    pub vermagic: String,
    /// The module file it was read from.
    pub from: String,
}

/// Everything the pre-flight needs, gathered for the running kernel only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightInputs {
    pub kernel: String,
    /// `/lib/modules/<kernel>/modules.dep`.
    pub modules_dep: String,
    /// Why `modules.dep` could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules_dep_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_vermagic: Option<RunningVermagic>,
    pub policy: KernelModulePolicy,
    pub modules: Vec<ResolvedModule>,
}

/// A reason the new stack would not load. Codes are stable (`preflight-signature`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightFinding {
    pub code: &'static str,
    pub module: String,
    pub message: String,
    /// The file that shows it.
    pub evidence: String,
    /// What to run to fix it.
    pub fix: String,
}

/// Every finding code [`check`] can produce.
pub const FINDING_CODES: &[&str] = &[
    "preflight-missing-module",
    "preflight-unreadable-module",
    "preflight-missing-dependency",
    "preflight-stale-modules-dep",
    "preflight-modprobe-disagrees",
    "preflight-vermagic",
    "preflight-signature",
    "preflight-firmware",
];

/// Judges the inputs: an empty list means every check passed.
pub fn check(inputs: &PreflightInputs) -> Vec<PreflightFinding> {
    let enforcement = inputs.policy.enforcement();
    let mut findings = Vec::new();
    for m in &inputs.modules {
        let mut out = Collector {
            module: &m.name,
            findings: &mut findings,
        };
        match &m.path {
            None => missing_module(m, inputs, &mut out),
            Some(path) => {
                resolution_findings(m, path, inputs, &mut out);
                file_findings(m, path, inputs, enforcement.as_deref(), &mut out);
            }
        }
    }
    findings
}

/// Findings for one module.
struct Collector<'a> {
    module: &'a str,
    findings: &'a mut Vec<PreflightFinding>,
}

impl Collector<'_> {
    fn push(&mut self, code: &'static str, message: String, evidence: &str, fix: String) {
        self.findings.push(PreflightFinding {
            code,
            module: self.module.to_string(),
            message,
            evidence: evidence.to_string(),
            fix,
        });
    }
}

fn missing_module(m: &ResolvedModule, inputs: &PreflightInputs, out: &mut Collector<'_>) {
    let k = &inputs.kernel;
    let why = match &inputs.modules_dep_error {
        Some(e) => format!("{} cannot be read ({e})", inputs.modules_dep),
        None => format!("{} has no entry for it", inputs.modules_dep),
    };
    out.push(
        "preflight-missing-module",
        format!(
            "modprobe cannot find {}{} for kernel {k}: {why}",
            m.name,
            alias_text(m)
        ),
        &inputs.modules_dep,
        format!(
            "{}, or sudo depmod -a {k} if the file is there",
            rebuild_command(m, k)
        ),
    );
}

/// How the file was found: its dependencies on disk, `modules.dep` up to date, modprobe agreeing.
fn resolution_findings(
    m: &ResolvedModule,
    path: &str,
    inputs: &PreflightInputs,
    out: &mut Collector<'_>,
) {
    let k = &inputs.kernel;
    for d in m.deps.iter().filter(|d| d.needed && !d.present) {
        out.push(
            "preflight-missing-dependency",
            format!(
                "{} needs {} ({}), which is not on disk",
                m.name, d.module, d.path
            ),
            &inputs.modules_dep,
            format!(
                "sudo depmod -a {k} (and reinstall the package that ships {})",
                d.module
            ),
        );
    }
    if let Some(pick) = &m.depmod_would_pick {
        out.push(
            "preflight-stale-modules-dep",
            format!(
                "modules.dep names {path} for {}, but depmod's search order picks {pick}: modules.dep is stale",
                m.name
            ),
            &inputs.modules_dep,
            format!("sudo depmod -a {k}"),
        );
    }
    match &m.modprobe {
        ModprobeView::Disagrees { insmod } => out.push(
            "preflight-modprobe-disagrees",
            format!(
                "modprobe --show-depends {} would insert {}, not {path}",
                m.name,
                insmod.last().map_or("nothing", String::as_str)
            ),
            &inputs.modules_dep,
            format!(
                "sudo depmod -a {k}, then compare modprobe --show-depends {}",
                m.name
            ),
        ),
        ModprobeView::Failed { message } => out.push(
            "preflight-modprobe-disagrees",
            format!("modprobe --show-depends {} fails: {message}", m.name),
            &inputs.modules_dep,
            format!("sudo depmod -a {k}"),
        ),
        ModprobeView::Agrees | ModprobeView::NotChecked { .. } => {}
    }
}

/// What the file itself says: readable, built for this kernel, signed as the kernel demands, firmware present.
fn file_findings(
    m: &ResolvedModule,
    path: &str,
    inputs: &PreflightInputs,
    enforcement: Option<&str>,
    out: &mut Collector<'_>,
) {
    let rebuild = rebuild_command(m, &inputs.kernel);
    if let Some(e) = &m.read_error {
        out.push(
            "preflight-unreadable-module",
            format!("{path} cannot be read as a kernel module: {e}"),
            path,
            rebuild,
        );
        return;
    }
    if let Some(message) = vermagic_problem(m, inputs) {
        out.push("preflight-vermagic", message, path, rebuild.clone());
    }
    if let (Some(why), Some(sig)) = (enforcement, &m.signature) {
        if let Some((message, fix)) = signature_problem(m, sig, why, &inputs.policy, &rebuild) {
            out.push("preflight-signature", message, path, fix);
        }
    }
    for f in m.firmware.iter().filter(|f| f.found.is_none()) {
        out.push(
            "preflight-firmware",
            format!(
                "{} lists firmware {} but /lib/firmware/{} is missing: the module loads, the GPU then fails to \
                 initialise (RmInitAdapter failed)",
                m.name, f.name, f.name
            ),
            &format!("/lib/firmware/{}", f.name),
            firmware_fix(m),
        );
    }
}

fn alias_text(m: &ResolvedModule) -> String {
    match (&m.requested_as, &m.alias_file) {
        (Some(r), Some(f)) => format!(" (alias of {r} in {f})"),
        (Some(r), None) => format!(" (as {r})"),
        _ => String::new(),
    }
}

fn rebuild_command(m: &ResolvedModule, kernel: &str) -> String {
    format!(
        "sudo dkms install nvidia/{} -k {kernel} --force",
        m.version.as_deref().unwrap_or("<version>")
    )
}

fn firmware_fix(m: &ResolvedModule) -> String {
    match &m.version {
        Some(v) => format!(
            "sudo apt-get install nvidia-firmware-{}-{v} (or the driver package that ships /lib/firmware/nvidia/{v})",
            v.split('.').next().unwrap_or(v)
        ),
        None => "install the firmware package of the new driver (nvidia-firmware-<branch>-<version>)".into(),
    }
}

/// The vermagic rule: the release must be the running kernel's, and the flags after it those of the kernel's own
/// modules (when one could be read). A module without vermagic is refused by the kernel too.
fn vermagic_problem(m: &ResolvedModule, inputs: &PreflightInputs) -> Option<String> {
    let Some(vermagic) = &m.vermagic else {
        return Some(format!(
            "{} carries no vermagic: the kernel refuses it (Invalid module format)",
            m.name
        ));
    };
    let mut words = vermagic.split_whitespace();
    let release = words.next().unwrap_or("");
    let flags: Vec<&str> = words.collect();
    // RHEL's weak-updates links modules of another minor kernel that weak-modules found kABI-compatible; built with
    // modversions, the kernel skips the release and checks the symbol CRCs instead.
    let kabi_link = m.modversions
        && m.path
            .as_deref()
            .is_some_and(|p| p.contains("/weak-updates/"));
    if release != inputs.kernel && !kabi_link {
        return Some(format!(
            "{} was built for kernel {release}, not the running {}: the kernel refuses it (version magic '{}', \
             Invalid module format)",
            m.name,
            inputs.kernel,
            vermagic.trim_end()
        ));
    }
    let running = inputs.running_vermagic.as_ref()?;
    let want: Vec<&str> = running.vermagic.split_whitespace().skip(1).collect();
    (flags != want).then(|| {
        format!(
            "{}'s version magic '{}' does not match the running kernel's '{}' (from {}): the kernel refuses it",
            m.name,
            vermagic.trim_end(),
            running.vermagic.trim_end(),
            running.from
        )
    })
}

/// The signature rule under enforcement: a signature must be there and well-formed, and when both its signer and the
/// trusted keys can be read, the signer must be among them.
fn signature_problem(
    m: &ResolvedModule,
    sig: &SignatureState,
    why: &str,
    policy: &KernelModulePolicy,
    rebuild: &str,
) -> Option<(String, String)> {
    const ENROL: &str = "sudo mokutil --import /var/lib/dkms/mok.pub (DKMS's signing key; \
                         /var/lib/shim-signed/mok/MOK.der on older Ubuntu), then reboot and enrol it in MokManager";
    match sig {
        SignatureState::Unsigned => Some((
            format!(
                "{} is not signed and {why}: the kernel rejects it (Key was rejected by service)",
                m.name
            ),
            format!("{rebuild} (DKMS signs what it builds), then {ENROL}"),
        )),
        SignatureState::Malformed { reason } => Some((
            format!(
                "{}'s signature is malformed ({reason}) and {why}: the kernel rejects it",
                m.name
            ),
            format!("rebuild and sign it again: {rebuild}"),
        )),
        SignatureState::Signed {
            signer: Some(signer),
            ..
        } => {
            let keys = policy.trusted_keys.as_ref()?;
            (!is_trusted(signer, keys)).then(|| {
                (
                    format!(
                        "{} is signed by {}, which is not among the kernel's trusted keys, and {why}: the kernel \
                         rejects it (Key was rejected by service)",
                        m.name,
                        signer.describe()
                    ),
                    format!("{ENROL}; a reboot alone does not help"),
                )
            })
        }
        SignatureState::Signed { signer: None, .. } => None,
    }
}

/// Is the signer one of the trusted keys? By key id (subjectKeyIdentifier or serial), or by the issuer's name
/// against the key's name (a self-signed MOK's issuer is its subject).
pub fn is_trusted(signer: &Signer, keys: &[TrustedKey]) -> bool {
    match signer {
        Signer::KeyId { key_id } => keys.iter().any(|k| k.key_id.as_deref() == Some(key_id)),
        Signer::IssuerSerial {
            issuer_cn, serial, ..
        } => keys.iter().any(|k| {
            k.key_id.as_deref() == Some(serial.as_str())
                || issuer_cn
                    .as_deref()
                    .is_some_and(|cn| k.name == cn || k.name.ends_with(&format!(": {cn}")))
        }),
    }
}

/// What the pre-flight could not check, said once each (the report shows them as notes, not refusals).
pub fn notes(inputs: &PreflightInputs) -> Vec<String> {
    let mut notes = Vec::new();
    if inputs.running_vermagic.is_none() {
        notes.push(format!(
            "vermagic: no in-tree module of kernel {} could be read, so only the release was compared",
            inputs.kernel
        ));
    }
    let p = &inputs.policy;
    match p.enforcement() {
        None if p.sig_enforce.is_none() && p.lockdown.is_none() && p.secure_boot.is_none() => notes.push(
            "signatures: no sig_enforce, lockdown or Secure Boot variable could be read: the kernel is taken not to \
             enforce module signatures"
                .into(),
        ),
        None => notes.push(format!(
            "signatures: the kernel does not enforce module signatures (sig_enforce {}, lockdown {}, Secure Boot {})",
            match p.sig_enforce {
                Some(true) => "Y",
                Some(false) => "N",
                None => "unreadable",
            },
            match p.lockdown {
                Some(Lockdown::None) => "none",
                Some(_) => "on",
                None => "unreadable",
            },
            match p.secure_boot {
                Some(true) => "on",
                Some(false) => "off",
                None => "absent",
            }
        )),
        Some(why) => {
            notes.push(format!("signatures: {why}"));
            if inputs.policy.trusted_keys.is_none() {
                notes.push(format!(
                    "signatures: the kernel's trusted keys could not be seen ({PROC_KEYS_PATH}, root only): the \
                     signer was not checked against them"
                ));
            }
            for m in &inputs.modules {
                if let Some(SignatureState::Signed {
                    signer: None,
                    unreadable: Some(why),
                }) = &m.signature
                {
                    notes.push(format!("signatures: {}'s signer could not be read ({why})", m.name));
                }
            }
        }
    }
    let mut reasons: Vec<&str> = inputs
        .modules
        .iter()
        .filter_map(|m| match &m.modprobe {
            ModprobeView::NotChecked { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    reasons.dedup();
    for r in reasons {
        notes.push(format!("modprobe --show-depends: not checked ({r})"));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "6.8.0-85-generic";

    fn module(name: &str) -> ResolvedModule {
        ResolvedModule {
            name: name.into(),
            requested_as: None,
            alias_file: None,
            path: Some(format!("/lib/modules/{K}/updates/dkms/{name}.ko.zst")),
            depmod_would_pick: None,
            deps: vec![],
            read_error: None,
            version: Some("580.95.05".into()),
            vermagic: Some(format!("{K} SMP preempt mod_unload modversions ")),
            modversions: false,
            signature: Some(SignatureState::Unsigned),
            firmware: vec![],
            modprobe: ModprobeView::Agrees,
        }
    }

    fn inputs(modules: Vec<ResolvedModule>) -> PreflightInputs {
        PreflightInputs {
            kernel: K.into(),
            modules_dep: format!("/lib/modules/{K}/modules.dep"),
            modules_dep_error: None,
            running_vermagic: Some(RunningVermagic {
                vermagic: format!("{K} SMP preempt mod_unload modversions "),
                from: format!("/lib/modules/{K}/kernel/drivers/video/video.ko.zst"),
            }),
            policy: KernelModulePolicy::default(),
            modules,
        }
    }

    fn codes(i: &PreflightInputs) -> Vec<&'static str> {
        check(i).iter().map(|f| f.code).collect()
    }

    fn enforcing(keys: Option<Vec<TrustedKey>>) -> KernelModulePolicy {
        KernelModulePolicy {
            sig_enforce: Some(true),
            trusted_keys: keys,
            ..Default::default()
        }
    }

    #[test]
    fn policy_files() {
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n"),
            Some(Lockdown::Integrity)
        );
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality"),
            Some(Lockdown::None)
        );
        assert_eq!(parse_lockdown("none integrity confidentiality"), None);
        assert_eq!(parse_lockdown("]["), None);
        assert_eq!(parse_lockdown("[bogus]"), None);
        assert_eq!(parse_sig_enforce("Y\n"), Some(true));
        assert_eq!(parse_sig_enforce("N"), Some(false));
        assert_eq!(parse_sig_enforce(""), None);
        assert_eq!(parse_secure_boot_variable(&[6, 0, 0, 0, 1]), Some(true));
        assert_eq!(parse_secure_boot_variable(&[6, 0, 0, 0, 0]), Some(false));
        assert_eq!(parse_secure_boot_variable(&[6, 0]), None);
        assert_eq!(parse_secure_boot_variable(&[]), None);
    }

    #[test]
    fn proc_keys_lines() {
        let text = "\
1e7c8ed6 I------     1 perm 1f0b0000     0     0 keyring   .builtin_trusted_keys: 1
0b5d1c2b I------     1 perm 1f030000     0     0 asymmetri Debian Secure Boot CA: 6ccece7e4c6c0d1f6149f3dd27dfcc5cbb419ea1: X509.rsa 4c6c0d1f []
2a3f1c11 I------     1 perm 1f030000     0     0 asymmetri Canonical Ltd.: Kernel signing: 88ab12cd: X509.rsa 88ab12cd []
garbage
";
        let keys = parse_proc_keys(text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name, "Debian Secure Boot CA");
        assert_eq!(
            keys[0].key_id.as_deref(),
            Some("6ccece7e4c6c0d1f6149f3dd27dfcc5cbb419ea1")
        );
        assert_eq!(keys[1].name, "Canonical Ltd.: Kernel signing");
        // A user's own view: no trusted keyring visible → unknown, not "no keys".
        assert_eq!(
            parse_proc_keys("0b5d1c2b I------     1 perm 1f030000  1000  1000 user      mine: 5\n"),
            None
        );
        assert_eq!(parse_proc_keys(""), None);
        assert_eq!(parse_proc_keys("\u{0}\u{1}\n \n"), None);
    }

    #[test]
    fn enforcement_rules() {
        assert_eq!(KernelModulePolicy::default().enforcement(), None);
        assert!(enforcing(None)
            .enforcement()
            .unwrap()
            .contains("sig_enforce"));
        let sb = KernelModulePolicy {
            secure_boot: Some(true),
            lockdown: Some(Lockdown::Integrity),
            sig_enforce: Some(false),
            ..Default::default()
        };
        assert!(sb
            .enforcement()
            .unwrap()
            .starts_with("Secure Boot is on; this kernel enforces module signatures under it"));
        // Secure Boot on, lockdown unreadable: fail safe.
        let unknown = KernelModulePolicy {
            secure_boot: Some(true),
            ..Default::default()
        };
        assert!(unknown.enforcement().unwrap().contains("cannot be read"));
        // Secure Boot on but the kernel says lockdown none and sig_enforce N: it does not enforce.
        let lax = KernelModulePolicy {
            secure_boot: Some(true),
            lockdown: Some(Lockdown::None),
            sig_enforce: Some(false),
            ..Default::default()
        };
        assert_eq!(lax.enforcement(), None);
        let locked = KernelModulePolicy {
            lockdown: Some(Lockdown::Confidentiality),
            ..Default::default()
        };
        assert!(locked.enforcement().unwrap().contains("confidentiality"));
    }

    #[test]
    fn a_clean_stack_passes() {
        assert!(check(&inputs(vec![module("nvidia"), module("nvidia_uvm")])).is_empty());
    }

    #[test]
    fn unsigned_under_enforcement_is_refused_with_the_mok_fix() {
        let mut i = inputs(vec![module("nvidia")]);
        i.policy = enforcing(Some(vec![]));
        let f = check(&i);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "preflight-signature");
        assert!(f[0].message.contains("not signed"), "{}", f[0].message);
        assert!(f[0].fix.contains("mokutil --import"));
        assert!(f[0].evidence.ends_with("nvidia.ko.zst"));
    }

    #[test]
    fn signer_against_trusted_keys() {
        let signer = Signer::IssuerSerial {
            issuer_cn: Some("DKMS module signing key".into()),
            issuer: "CN=DKMS module signing key".into(),
            serial: "1c2b3a49".into(),
        };
        let mut m = module("nvidia");
        m.signature = Some(SignatureState::Signed {
            signer: Some(signer.clone()),
            unreadable: None,
        });
        let enrolled = TrustedKey {
            name: "DKMS module signing key".into(),
            key_id: Some("aa11".into()),
        };
        let other = TrustedKey {
            name: "Debian Secure Boot CA".into(),
            key_id: Some("6ccece7e".into()),
        };
        let mut i = inputs(vec![m]);
        i.policy = enforcing(Some(vec![other.clone()]));
        let f = check(&i);
        assert_eq!(f[0].code, "preflight-signature");
        assert!(
            f[0].message
                .contains("\"DKMS module signing key\" serial 1c2b3a49"),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.contains("a reboot alone does not help"));
        i.policy = enforcing(Some(vec![other.clone(), enrolled]));
        assert!(check(&i).is_empty());
        // Keys not visible: a note, not a refusal.
        i.policy = enforcing(None);
        assert!(check(&i).is_empty());
        assert!(notes(&i).iter().any(|n| n.contains("could not be seen")));
        // By key id.
        let by_id = Signer::KeyId {
            key_id: "6ccece7e".into(),
        };
        assert!(is_trusted(&by_id, &[other]));
        assert!(!is_trusted(&by_id, &[]));
        // An unreadable signer under enforcement: noted, not refused.
        i.modules[0].signature = Some(SignatureState::Signed {
            signer: None,
            unreadable: Some("junk".into()),
        });
        i.policy = enforcing(Some(vec![]));
        assert!(check(&i).is_empty());
        assert!(notes(&i)
            .iter()
            .any(|n| n.contains("signer could not be read")));
        // Malformed: refused.
        i.modules[0].signature = Some(SignatureState::Malformed {
            reason: "truncated".into(),
        });
        assert_eq!(codes(&i), vec!["preflight-signature"]);
    }

    #[test]
    fn vermagic_release_and_flags() {
        let mut m = module("nvidia");
        m.vermagic = Some("6.8.0-79-generic SMP preempt mod_unload modversions ".into());
        let i = inputs(vec![m.clone()]);
        let f = check(&i);
        assert_eq!(f[0].code, "preflight-vermagic");
        assert!(f[0].message.contains("built for kernel 6.8.0-79-generic"));
        // RHEL's weak-updates: a kABI-compatible module of another minor kernel, built with modversions.
        let mut weak = m.clone();
        weak.path = Some(format!("/lib/modules/{K}/weak-updates/nvidia/nvidia.ko"));
        weak.modversions = true;
        assert!(check(&inputs(vec![weak.clone()])).is_empty());
        weak.modversions = false;
        assert_eq!(codes(&inputs(vec![weak])), vec!["preflight-vermagic"]);
        m.vermagic = Some(format!("{K} SMP mod_unload "));
        assert_eq!(codes(&inputs(vec![m.clone()])), vec!["preflight-vermagic"]);
        // Without the kernel's own vermagic, the flags are not compared (and a note says so).
        let mut i = inputs(vec![m.clone()]);
        i.running_vermagic = None;
        assert!(check(&i).is_empty());
        assert!(notes(&i)[0].contains("only the release"));
        m.vermagic = None;
        assert_eq!(codes(&inputs(vec![m])), vec!["preflight-vermagic"]);
    }

    #[test]
    fn missing_files_dependencies_firmware_and_modprobe() {
        let mut m = module("nvidia");
        m.path = None;
        m.requested_as = Some("nvidia_367".into());
        m.alias_file = Some("/etc/modprobe.d/nvidia.conf".into());
        let f = check(&inputs(vec![m]));
        assert_eq!(f[0].code, "preflight-missing-module");
        assert!(
            f[0].message.contains("alias of nvidia_367"),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.contains("depmod -a"));

        let mut m = module("nvidia_drm");
        m.deps = vec![
            DependencyFile {
                module: "drm".into(),
                path: "/x/drm.ko".into(),
                present: false,
                needed: false,
            },
            DependencyFile {
                module: "nvidia_modeset".into(),
                path: "/x/nvidia-modeset.ko".into(),
                present: false,
                needed: true,
            },
        ];
        m.depmod_would_pick = Some("/lib/modules/x/kernel/nvidia-drm.ko".into());
        m.modprobe = ModprobeView::Disagrees {
            insmod: vec!["/elsewhere/nvidia-drm.ko".into()],
        };
        assert_eq!(
            codes(&inputs(vec![m])),
            vec![
                "preflight-missing-dependency",
                "preflight-stale-modules-dep",
                "preflight-modprobe-disagrees"
            ]
        );

        let mut m = module("nvidia");
        m.firmware = vec![
            FirmwareFile {
                name: "nvidia/580.95.05/gsp_ga10x.bin".into(),
                found: Some("/lib/firmware/nvidia/580.95.05/gsp_ga10x.bin.zst".into()),
            },
            FirmwareFile {
                name: "nvidia/580.95.05/gsp_tu10x.bin".into(),
                found: None,
            },
        ];
        let f = check(&inputs(vec![m]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "preflight-firmware");
        assert_eq!(
            f[0].evidence,
            "/lib/firmware/nvidia/580.95.05/gsp_tu10x.bin"
        );
        assert!(f[0].fix.contains("nvidia-firmware-580-580.95.05"));

        let mut m = module("nvidia");
        m.read_error = Some("not an ELF file".into());
        m.modprobe = ModprobeView::Failed {
            message: "FATAL: Module nvidia not found".into(),
        };
        assert_eq!(
            codes(&inputs(vec![m])),
            vec![
                "preflight-modprobe-disagrees",
                "preflight-unreadable-module"
            ]
        );
    }

    #[test]
    fn modules_dep_unreadable_refuses_every_module() {
        let mut a = module("nvidia");
        a.path = None;
        let mut i = inputs(vec![a]);
        i.modules_dep_error = Some("permission denied".into());
        let f = check(&i);
        assert!(f[0].message.contains("cannot be read (permission denied)"));
    }
}
