//! Stand-in libnvidia-ml (filled in by its own task).
