//! The one integration-test binary: runs the real `nvfix` binary against fixture host trees (and the QEMU lab).

mod harness;

mod ansible;
mod auto;
mod check;
mod diagnose;
mod generated;
mod hold;
mod kubernetes;
mod lab;
mod metrics;
mod module_cache;
mod numbers;
mod nvml;
mod preflight;
mod prometheus;
mod ps;
mod quarantine;
mod real_world;
mod reboot;
mod reload;
mod run_lock;
mod services;
mod slurm;
