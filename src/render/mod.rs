//! Rendering: the human report (colour on a TTY) and the stable JSON contract.

pub mod json;
pub mod report;
