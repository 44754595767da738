//! Integration tests: nvml.
