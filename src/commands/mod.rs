//! One module per subcommand, each with the same entry shape: `run(&Context, &Args) -> anyhow::Result<i32>`.

pub mod auto;
pub mod check;
pub mod completion_hints;
pub mod completions;
pub mod diagnose;
pub mod doc;
pub mod hold;
pub mod man;
pub mod metrics;
pub mod playbook;
pub mod ps;
pub mod reboot;
pub mod reload;
pub mod sentinel;
pub mod upgrade;
pub mod verify;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::Failure;
use crate::exit;
use crate::host::nvml_gate::{LockHeld, NvmlLock};
use crate::host::reload::Journal;
use crate::host::run_lock::{self, LockError, RunLock};
use crate::host::HostRoot;
use std::path::PathBuf;

/// What every command needs: the host root, the NVML library to use, and how to render.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: HostRoot,
    /// The NVML library to probe, or None when NVML is not to be checked.
    pub nvml_lib: Option<PathBuf>,
    pub color: bool,
    /// The width human tables fit: the terminal's on stdout, else 80.
    pub columns: usize,
}

impl Context {
    pub fn from_args(global: &GlobalArgs) -> anyhow::Result<Context> {
        if !global.root.is_dir() {
            return Err(Failure::new(
                exit::NO_INPUT,
                format!("host root {} is not a folder", global.root.display()),
            )
            .into());
        }
        let root = HostRoot::new(global.root.clone());
        let nvml_lib = match &global.nvml_lib {
            Some(p) => Some(p.clone()),
            None if root.is_system() => Some(PathBuf::from("libnvidia-ml.so.1")),
            None => None,
        };
        Ok(Context {
            root,
            nvml_lib,
            color: crate::render::terminal::colour_for_stdout(global.color),
            columns: crate::render::terminal::stdout_columns(),
        })
    }
}

impl Context {
    /// Gathers the host's facts the way every command does (NVML per `--nvml-lib`), with or without the holder scan.
    pub fn gather(&self, holders: bool) -> crate::model::facts::HostFacts {
        self.gather_with(holders, false)
    }

    /// `gather`, also looking into other mount namespaces for containers with driver libraries mounted. NVML is
    /// called under the run lock, taken for the call (not checked while another nvfix holds it).
    pub fn gather_with(&self, holders: bool, containers: bool) -> crate::model::facts::HostFacts {
        self.gather_nvml_lock(holders, containers, NvmlLock::Take, false)
    }

    /// `gather` reading every kernel's module files (a reboot is judged on the kernel that boots next).
    pub fn gather_all_kernels(&self, holders: bool) -> crate::model::facts::HostFacts {
        self.gather_nvml_lock(holders, false, NvmlLock::Take, true)
    }

    /// `gather_with` for a command that holds the run lock itself (`reload` planning what it then executes).
    pub fn gather_under_lock(
        &self,
        holders: bool,
        containers: bool,
        lock: &RunLock,
    ) -> crate::model::facts::HostFacts {
        // A command that acts reads every kernel's modules: a reboot is judged on the kernel that boots next.
        self.gather_nvml_lock(
            holders,
            containers,
            NvmlLock::Held(LockHeld::of(lock)),
            true,
        )
    }

    fn gather_nvml_lock(
        &self,
        holders: bool,
        containers: bool,
        nvml_lock: NvmlLock,
        all_kernels: bool,
    ) -> crate::model::facts::HostFacts {
        crate::host::gather::gather(
            &self.root,
            &crate::host::gather::GatherOptions {
                nvml_lib: self.nvml_lib.clone(),
                nvml_lock,
                holders,
                containers,
                all_kernels,
                read_only: false,
            },
        )
    }
}

/// Takes the run lock every command that changes the host holds, before it reads or touches anything it will act on:
/// another nvfix holding it is 75 (try again later), a planted or unusable lock folder 77.
pub fn take_run_lock(root: &HostRoot) -> Result<RunLock, Failure> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    run_lock::acquire(root, now).map_err(|e| match e {
        LockError::Busy { .. } => Failure::new(exit::TEMP_FAIL, e.to_string()),
        LockError::Refused(_) | LockError::Io { .. } => {
            Failure::new(exit::NO_PERMISSION, e.to_string())
        }
    })
}

/// The run lock, then the journal an interrupted reload left (reload and auto resume it): in this order, so a second
/// nvfix never reads — let alone restores — the journal of a reload that is still running.
pub fn lock_and_load_journal(root: &HostRoot) -> Result<(RunLock, Option<Journal>), Failure> {
    let lock = take_run_lock(root)?;
    let journal = Journal::load(&Journal::path(root)).map_err(|e| {
        Failure::new(
            exit::DATA_ERROR,
            format!("{e}; look at it, bring the modules and services back by hand, then remove it"),
        )
    })?;
    Ok((lock, journal))
}

pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let ctx = Context::from_args(&cli.global)?;
    match &cli.command {
        Command::Diagnose(args) => diagnose::run(&ctx, args),
        Command::Ps(args) => ps::run(&ctx, args),
        Command::Reload(args) => reload::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Hold(args) => hold::run(&ctx, args),
        Command::Metrics(args) => metrics::run(&ctx, args),
        Command::Check(args) => check::run(&ctx, args),
        Command::Auto(args) => auto::run(&ctx, args),
        Command::Sentinel(args) => sentinel::run(&ctx, args),
        Command::Reboot(args) => reboot::run(&ctx, args),
        Command::Playbook(args) => playbook::run(&ctx, args),
        Command::Upgrade(args) => upgrade::run(&ctx, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}
