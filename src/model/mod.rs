//! The pure model: parsed facts, the verdict with its reasons, the reload plan. No I/O happens here.
//!
//! Every parser takes text or bytes and returns typed values; reading files is the host layer's job.

pub mod apt_history;
pub mod apt_simulation;
pub mod auto;
pub mod check;
pub mod containers;
pub mod dkms;
pub mod dnf_transaction;
pub mod dpkg;
pub mod driver_version;
pub mod evidence;
pub mod excerpt;
pub mod facts;
pub mod gpu_pods;
pub mod guards;
pub mod hold;
pub mod holder_stops;
pub mod holders;
pub mod host_kind;
pub mod kernel_log;
pub mod kmod_config;
pub mod library;
pub mod log_position;
pub mod modinfo;
pub mod module_image;
pub mod module_signature;
pub mod modules;
pub mod nvfix_config;
pub mod plan;
pub mod playbook;
pub mod playbook_ref;
pub mod preflight;
pub mod python_re;
pub mod reboot_state;
pub mod repair_advice;
pub mod systemd_boot;
pub mod systemd_unit;
pub mod unattended_log;
pub mod upgrade;
pub mod verdict;
pub mod verify;
pub mod version;
pub mod yaml_limits;

pub use evidence::{Evidence, ParseError};
pub use version::DriverVersion;
