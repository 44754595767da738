//! Command-line definitions (clap derive types only; behaviour lives in `commands`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "nvfix",
    version,
    about = "Explain and repair NVIDIA driver/library version mismatches, without a reboot when that is safe",
    long_about = "nvfix reads the host's own evidence (loaded module, installed libraries and modules, package logs, \
kernel log, GPU holders, NVML) to explain a `Failed to initialize NVML: Driver/library version mismatch`, \
and says exactly what will fix it."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Host root to inspect: every file is read under it (a fixture tree, a mounted image)
    #[arg(
        long,
        global = true,
        env = "NVFIX_ROOT",
        default_value = "/",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// NVML library to load [default: the system's libnvidia-ml.so.1 when --root is /; not checked otherwise]
    #[arg(long, global = true, env = "NVFIX_NVML_LIB", value_name = "PATH")]
    pub nvml_lib: Option<PathBuf>,
    /// When to use colour in human output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explain the driver's state: what is loaded, what is installed, what changed, who holds the GPU, what to do
    Diagnose(DiagnoseArgs),
    /// List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)
    Ps(PsArgs),
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// Print one JSON object (the documented, stable contract) instead of the report
    #[arg(long)]
    pub json: bool,
    /// Do not scan processes for GPU holders
    #[arg(long)]
    pub no_holders: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print the holders as a JSON array
    #[arg(long)]
    pub json: bool,
}
