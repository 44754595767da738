//! The host layer: every effect nvfix has on or reads from a machine, each behind a small seam.
//!
//! Files are read through [`HostRoot`] (relative to `--root`), commands run through a [`runner::CommandRunner`]
//! that tests replace with a recorder, NVML is loaded through [`nvml`].

pub mod atomic_write;
pub mod bounded_child;
pub mod error;
pub mod gather;
pub mod hold;
pub mod host_kind;
pub mod journal;
pub mod kmsg;
pub mod modfiles;
pub mod module_cache;
pub mod module_reader;
pub mod module_stream;
pub mod narrow;
pub mod nvml;
pub mod nvml_gate;
pub mod playbook_files;
pub mod preflight;
pub mod procscan;
pub mod quarantine;
pub mod read_budget;
pub mod reboot;
pub mod reload;
pub mod root;
pub mod run_lock;
pub mod runner;
pub mod upgrade;

pub use error::HostError;
pub use root::HostRoot;
