//! The kernel's messages from the systemd journal, through the command runner: the source of last resort on a live
//! host whose ring buffer is closed to nvfix and which keeps no text log (no rsyslog: kern.log and messages absent).

use super::runner::{CommandRunner, CommandSpec};
use std::time::Duration;

/// How long journalctl may take: a big journal on a slow disk can take seconds; a hung one must not stall diagnose.
const JOURNAL_TIMEOUT: Duration = Duration::from_secs(10);

/// `journalctl -k -o short-iso --no-pager` (`-k` is this boot's kernel messages): the text, when it ran and printed
/// something; None otherwise (not installed, no journal, no permission).
pub fn kernel_messages(runner: &dyn CommandRunner) -> Option<String> {
    let spec = CommandSpec::new("journalctl", &["-k", "-o", "short-iso", "--no-pager"])
        .with_timeout(JOURNAL_TIMEOUT);
    let out = runner.run(&spec).ok()?;
    (out.success() && !out.stdout.trim().is_empty()).then_some(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::runner::{CommandOutput, RecordingRunner};
    use crate::model::kernel_log::parse_kernel_log;

    #[test]
    fn reads_the_kernel_messages_of_this_boot_in_short_iso() {
        let runner = RecordingRunner::new();
        runner.respond(
            "journalctl",
            CommandOutput {
                status: 0,
                stdout: "2026-03-03T19:20:11+0000 gpu-node-3 kernel: NVRM RmInitAdapter: Cannot initialize GSP firmware RM\n\
                         2026-03-03T19:20:11+0000 gpu-node-3 kernel: NVRM: GPU 0000:01:00.0: RmInitAdapter failed! (0x63:0x56:1689)\n"
                    .into(),
                stderr: String::new(),
            },
        );
        let text = kernel_messages(&runner).unwrap();
        assert_eq!(
            runner.commands(),
            vec!["journalctl -k -o short-iso --no-pager"]
        );
        let facts = parse_kernel_log(&text);
        assert_eq!(
            (facts.gsp_failures.len(), facts.init_failures.len()),
            (1, 1)
        );
    }

    #[test]
    fn a_failing_or_empty_journal_gives_nothing() {
        let runner = RecordingRunner::new();
        runner.respond(
            "journalctl",
            CommandOutput {
                status: 1,
                stdout: String::new(),
                stderr: "No journal files were found.\n".into(),
            },
        );
        assert_eq!(kernel_messages(&runner), None);
        assert_eq!(kernel_messages(&RecordingRunner::new()), None, "no output");
    }
}
