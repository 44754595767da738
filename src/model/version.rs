//! NVIDIA driver versions (`580.65.06`, `580.142`, `34.1.1`): parsing, comparison and display.

use super::excerpt::excerpt;
use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A driver version as NVIDIA writes it: two or three dot-separated numeric parts.
/// The original text is kept (leading zeros matter to humans: `580.65.06`), comparison is numeric.
#[derive(Debug, Clone)]
pub struct DriverVersion {
    text: String,
    parts: Vec<u32>,
}

impl DriverVersion {
    /// The branch (first part), e.g. 580.
    pub fn branch(&self) -> u32 {
        self.parts[0]
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn parts(&self) -> &[u32] {
        &self.parts
    }
    /// Finds a driver version at the start of `s` (e.g. `580.95.05-0ubuntu1` → `580.95.05`).
    pub fn parse_prefix(s: &str) -> Option<DriverVersion> {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        s[..end].trim_end_matches('.').parse().ok()
    }
}

impl FromStr for DriverVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let parts: Result<Vec<u32>, _> = s
            .split('.')
            .map(|p| {
                if p.is_empty() || p.len() > 6 {
                    Err(())
                } else {
                    p.parse::<u32>().map_err(|_| ())
                }
            })
            .collect();
        match parts {
            Ok(parts) if (2..=4).contains(&parts.len()) => Ok(DriverVersion {
                text: s.to_string(),
                parts,
            }),
            _ => Err(format!("not a driver version: {:?}", excerpt(s))),
        }
    }
}

impl PartialEq for DriverVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}
impl Eq for DriverVersion {}
impl PartialOrd for DriverVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DriverVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts)
    }
}
impl std::hash::Hash for DriverVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts.hash(state)
    }
}
impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl Serialize for DriverVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_and_two_part_versions() {
        let v: DriverVersion = "580.65.06".parse().unwrap();
        assert_eq!(v.parts(), &[580, 65, 6]);
        assert_eq!(v.to_string(), "580.65.06");
        assert_eq!(v.branch(), 580);
        let open: DriverVersion = "580.142".parse().unwrap();
        assert!(open > v);
    }

    #[test]
    fn rejects_junk() {
        for bad in ["", "580", "abc", "580..1", "580.65.06.1.2", "1.2.3456789"] {
            assert!(bad.parse::<DriverVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn compares_numerically() {
        let a: DriverVersion = "580.95.05".parse().unwrap();
        let b: DriverVersion = "580.95.5".parse().unwrap();
        assert_eq!(a, b);
        assert!("580.65.06".parse::<DriverVersion>().unwrap() < a);
    }

    #[test]
    fn prefix_of_package_versions() {
        assert_eq!(
            DriverVersion::parse_prefix("580.95.05-0ubuntu0.24.04.2")
                .unwrap()
                .as_str(),
            "580.95.05"
        );
        assert_eq!(
            DriverVersion::parse_prefix("535.309.01-1~deb12u1")
                .unwrap()
                .as_str(),
            "535.309.01"
        );
        assert!(DriverVersion::parse_prefix("1:2").is_none());
    }
}
