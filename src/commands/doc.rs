//! The text a command's man page adds to what clap knows (DESCRIPTION, EXIT STATUS, FILES, EXAMPLES, SEE ALSO).
//! Each command declares its own [`CommandDoc`] beside its code (`pub const DOC` in its module); [`doc_for`] finds it.

use crate::exit;

/// One exit status a command can return, with what it means for that command (None: the general meaning in
/// [`exit::ALL`]).
#[derive(Debug, Clone, Copy)]
pub struct ExitDoc {
    pub code: i32,
    pub meaning: Option<&'static str>,
}

/// A status with the command's own meaning.
pub const fn own(code: i32, meaning: &'static str) -> ExitDoc {
    ExitDoc {
        code,
        meaning: Some(meaning),
    }
}

/// A status with its general meaning.
pub const fn general(code: i32) -> ExitDoc {
    ExitDoc {
        code,
        meaning: None,
    }
}

/// What every command can return whatever it does: a usage error (clap), a missing `--root` folder, a bug.
pub const EVERY_COMMAND: [ExitDoc; 3] = [
    general(exit::USAGE),
    own(exit::NO_INPUT, "The --root folder does not exist."),
    general(exit::SOFTWARE),
];

#[derive(Debug, Clone, Copy)]
pub struct CommandDoc {
    /// DESCRIPTION: paragraphs for an admin: what it does, when to use it, what it changes on the host.
    pub description: &'static [&'static str],
    /// Every status this command can return beyond [`EVERY_COMMAND`] (which a command may restate with its own
    /// meaning). The page lists exactly these; a test holds the command's code to them.
    pub exit: &'static [ExitDoc],
    /// FILES: the host paths this command reads or writes (each described once, in the man page's file table).
    pub files: &'static [&'static str],
    /// EXAMPLES: (command line, what it does).
    pub examples: &'static [(&'static str, &'static str)],
    /// SEE ALSO beyond nvfix(1) and the pages every page names: `name(section)`.
    pub see_also: &'static [&'static str],
}

impl CommandDoc {
    /// The statuses the page lists, in numeric order: the command's own, then [`EVERY_COMMAND`] where the command
    /// did not restate them.
    pub fn statuses(&self) -> Vec<ExitDoc> {
        let mut all: Vec<ExitDoc> = self.exit.to_vec();
        for every in EVERY_COMMAND {
            if !all.iter().any(|e| e.code == every.code) {
                all.push(every);
            }
        }
        all.sort_by_key(|e| e.code);
        all
    }
}

/// nvfix(1)'s own text: the program as a whole. Its EXIT STATUS lists every status, each with the commands that
/// return it (from their declarations), so no page copies another's table.
pub const NVFIX: CommandDoc = CommandDoc {
    description: &[
        "nvfix explains a \"Failed to initialize NVML: Driver/library version mismatch\" from the host's own evidence \
         and fixes it safely. The usual cause: a package upgrade replaced the NVIDIA user-space libraries while the \
         old kernel module stayed loaded, so every CUDA program and nvidia-smi fail until the module matches again.",
        "nvfix diagnose says what happened and what will fix it. nvfix reload swaps the kernel modules without a \
         reboot when that is safe (stopping the GPU's holders first, journaled, restored on failure); nvfix reboot \
         reboots into a matching kernel after checking every guard; nvfix hold keeps the next unattended upgrade \
         from doing it again. nvfix auto does all of this unattended, within a playbook's policy \
         (nvfix-playbook(5)); nvfix metrics and nvfix-check.timer report the verdict to Prometheus.",
        "Every command reads the host under --root (default /), so a mounted image or a copied tree can be \
         diagnosed elsewhere; the commands that change the host refuse to act on anything but the live root.",
    ],
    exit: &[],
    files: &[],
    examples: &[
        ("nvfix diagnose", "Explain the driver's state and what to do."),
        ("sudo nvfix reload --dry-run", "What a reload without a reboot would do, changing nothing."),
        ("sudo nvfix hold", "Pin the driver so the next unattended upgrade cannot break NVML again."),
        ("nvfix --root /mnt/image diagnose --json", "Inspect a mounted image, as JSON."),
    ],
    see_also: &["nvfix-playbook(5)", "fuser(1)", "unattended-upgrade(8)"],
};

/// The doc of a command by its path below `nvfix` (`"reload"`, `"playbook check"`); None for a command without one
/// (a test requires one for every visible command). A command group (`playbook`) has one too: its page lists its
/// commands' statuses.
pub fn doc_for(path: &str) -> Option<&'static CommandDoc> {
    use super::*;
    Some(match path {
        "" => &NVFIX,
        "diagnose" => &diagnose::DOC,
        "ps" => &ps::DOC,
        "reload" => &reload::DOC,
        "verify" => &verify::DOC,
        "hold" => &hold::DOC,
        "metrics" => &metrics::DOC,
        "check" => &check::DOC,
        "auto" => &auto::DOC,
        "sentinel" => &sentinel::DOC,
        "reboot" => &reboot::DOC,
        "playbook" => &playbook::DOC,
        "playbook check" => &playbook::CHECK_DOC,
        "playbook list" => &playbook::LIST_DOC,
        "upgrade" => &upgrade::DOC,
        _ => return None,
    })
}
