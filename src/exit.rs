//! Exit statuses, all in one place. 0 and 1 answer the question asked; 64 and up say nvfix could not run (sysexits).

/// The host is healthy, or the requested action succeeded.
pub const OK: i32 = 0;
/// A problem was found (any verdict other than healthy), or a remediation failed and the host was restored.
pub const PROBLEM: i32 = 1;
/// `nvfix auto`: a reboot is needed but neither `--allow-reboot` nor the playbook allows one.
pub const REBOOT_REQUIRED: i32 = 10;
/// `nvfix auto`: a reboot was scheduled, or handed to the cluster's engine.
pub const REBOOT_SCHEDULED: i32 = 11;
/// Command-line usage error.
pub const USAGE: i32 = 64;
/// Input data was malformed (e.g. a playbook that does not parse).
pub const DATA_ERROR: i32 = 65;
/// A required input (the root, a file named on the command line) does not exist.
pub const NO_INPUT: i32 = 66;
/// The action cannot help here (e.g. reload when the module on disk does not match).
pub const UNAVAILABLE: i32 = 69;
/// An internal error (a bug in nvfix).
pub const SOFTWARE: i32 = 70;
/// Temporary failure: try again later (another nvfix holds the lock, a guard deferred the action).
pub const TEMP_FAIL: i32 = 75;
/// Permission denied (not root, or refused by policy).
pub const NO_PERMISSION: i32 = 77;
/// Configuration error.
pub const CONFIG: i32 = 78;

/// Every status with its constant's name and general meaning, for documentation (the man pages' tables); each
/// command's page says what a status means for that command.
pub const ALL: [(i32, &str, &str); 12] = [
    (OK, "OK", "The host is healthy, or the requested action succeeded."),
    (PROBLEM, "PROBLEM", "A problem was found, or a remediation failed and the host was restored."),
    (REBOOT_REQUIRED, "REBOOT_REQUIRED", "A reboot is needed but neither --allow-reboot nor the playbook allows one."),
    (REBOOT_SCHEDULED, "REBOOT_SCHEDULED", "A reboot was scheduled, or handed to the cluster's engine."),
    (USAGE, "USAGE", "Command-line usage error."),
    (DATA_ERROR, "DATA_ERROR", "Input data was malformed (a playbook that is not YAML, an unreadable journal)."),
    (NO_INPUT, "NO_INPUT", "A required input does not exist (the --root folder, a file named on the command line)."),
    (UNAVAILABLE, "UNAVAILABLE", "The action cannot help here."),
    (SOFTWARE, "SOFTWARE", "An internal error (a bug in nvfix)."),
    (TEMP_FAIL, "TEMP_FAIL", "Temporary failure: try again later (another nvfix holds the lock, a guard deferred the action)."),
    (NO_PERMISSION, "NO_PERMISSION", "Permission denied: not root, or refused by policy."),
    (CONFIG, "CONFIG", "Configuration error (a playbook that is not valid)."),
];

/// The general meaning of `code` ([`ALL`]), or None for a status nvfix never returns.
pub fn meaning(code: i32) -> Option<&'static str> {
    ALL.iter().find(|(c, _, _)| *c == code).map(|(_, _, m)| *m)
}
