//! The one integration-test binary: runs the real `nvfix` binary against fixture host trees (and the QEMU lab).

mod harness;

mod ansible;
mod auto;
mod check;
mod completion_bash;
mod diagnose;
mod generated;
mod hold;
mod hostile;
mod kubernetes;
mod lab;
mod man_pages;
mod metrics;
mod module_cache;
mod numbers;
mod nvml;
mod playbook_select;
mod preflight;
mod prometheus;
mod ps;
mod python_re;
mod quarantine;
mod real_world;
mod reboot;
mod reload;
mod run_lock;
mod services;
mod slurm;
mod upgrade;
