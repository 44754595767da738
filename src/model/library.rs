//! User-space driver libraries (libnvidia-ml, libcuda): versions from their file names.

use super::DriverVersion;
use serde::Serialize;

/// A user-space NVIDIA library file found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryFile {
    /// Host path of the versioned file (`/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05`).
    pub path: String,
    pub version: DriverVersion,
    /// The `libX.so.1` link that points at it, when there is one (what the dynamic loader picks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `libnvidia-ml.so.580.95.05` with stem `libnvidia-ml` → `580.95.05`. `libnvidia-ml.so.1` and `libnvidia-ml.so` → None.
pub fn version_from_file_name(file_name: &str, stem: &str) -> Option<DriverVersion> {
    let rest = file_name.strip_prefix(stem)?.strip_prefix(".so.")?;
    let v: DriverVersion = rest.parse().ok()?;
    // `.so.1` is the soname link, never a driver version; real versions have a 3-digit branch or more parts.
    if v.parts().len() < 2 {
        return None;
    }
    // Jetson's `libcuda.so.1.1` is a soname version, not driver 1.1: no driver branch was ever below 10.
    if v.parts()[0] < 10 {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_names() {
        assert_eq!(
            version_from_file_name("libnvidia-ml.so.580.95.05", "libnvidia-ml")
                .unwrap()
                .as_str(),
            "580.95.05"
        );
        assert_eq!(
            version_from_file_name("libcuda.so.580.142", "libcuda")
                .unwrap()
                .as_str(),
            "580.142"
        );
        assert!(version_from_file_name("libnvidia-ml.so.1", "libnvidia-ml").is_none());
        assert!(
            version_from_file_name("libcuda.so.1.1", "libcuda").is_none(),
            "Jetson's soname"
        );
        assert!(version_from_file_name("libnvidia-ml.so", "libnvidia-ml").is_none());
        assert!(version_from_file_name("libnvidia-mlx.so.580.95.05", "libnvidia-ml").is_none());
    }
}
