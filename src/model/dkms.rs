//! DKMS state: `dkms status` lines and the `/var/lib/dkms/<module>/<version>/<kernel>/<arch>` tree.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkmsEntry {
    pub module: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// `added`, `built`, `installed`, `broken`, …
    pub state: String,
}

/// Parses `dkms status` output, new (`nvidia/580.95.05, 6.8.0-85-generic, x86_64: installed`) and old
/// (`nvidia, 535.104.05, 5.15.0-1-generic, x86_64: installed`) forms. Unreadable lines are skipped.
///
/// `nvidia/580.95.05: added` (no kernel yet) is read too. The state is the first word after the colon: notes such
/// as `installed (original_module exists)` or `(WARNING! Diff between built and installed module!)` are dropped.
pub fn parse_dkms_status(text: &str) -> Vec<DkmsEntry> {
    text.lines().filter_map(parse_dkms_status_line).collect()
}

fn parse_dkms_status_line(line: &str) -> Option<DkmsEntry> {
    let (what, state) = line.trim().split_once(':')?;
    let state = state.split_whitespace().next()?.trim_end_matches(',');
    let fields: Vec<&str> = what.split(',').map(str::trim).collect();
    let (module, version, rest) = match fields[0].split_once('/') {
        Some((module, version)) => (module, version, &fields[1..]),
        None if fields.len() >= 2 => (fields[0], fields[1], &fields[2..]),
        None => return None,
    };
    let (kernel, arch) = match rest {
        [] => (None, None),
        [kernel] => (Some(*kernel), None),
        [kernel, arch] => (Some(*kernel), Some(*arch)),
        _ => return None,
    };
    let is_word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c))
    };
    if !is_word(module)
        || !is_word(version)
        || kernel.is_some_and(|k| !is_word(k))
        || arch.is_some_and(|a| !is_word(a))
        || !state.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
    {
        return None;
    }
    Some(DkmsEntry {
        module: module.to_string(),
        version: version.to_string(),
        kernel: kernel.map(str::to_string),
        arch: arch.map(str::to_string),
        state: state.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        module: &str,
        version: &str,
        kernel: Option<&str>,
        arch: Option<&str>,
        state: &str,
    ) -> DkmsEntry {
        DkmsEntry {
            module: module.into(),
            version: version.into(),
            kernel: kernel.map(Into::into),
            arch: arch.map(Into::into),
            state: state.into(),
        }
    }

    #[test]
    fn new_form() {
        assert_eq!(
            parse_dkms_status("nvidia/580.95.05, 6.8.0-85-generic, x86_64: installed\n"),
            vec![entry(
                "nvidia",
                "580.95.05",
                Some("6.8.0-85-generic"),
                Some("x86_64"),
                "installed"
            )]
        );
    }

    #[test]
    fn old_form() {
        assert_eq!(
            parse_dkms_status("nvidia, 535.104.05, 5.15.0-1-generic, x86_64: installed\n"),
            vec![entry(
                "nvidia",
                "535.104.05",
                Some("5.15.0-1-generic"),
                Some("x86_64"),
                "installed"
            )]
        );
    }

    #[test]
    fn added_without_kernel_in_both_forms() {
        assert_eq!(
            parse_dkms_status("nvidia/580.95.05: added\nnvidia, 580.65.06: added\n"),
            vec![
                entry("nvidia", "580.95.05", None, None, "added"),
                entry("nvidia", "580.65.06", None, None, "added"),
            ]
        );
    }

    #[test]
    fn a_real_multi_line_status_with_notes_and_noise() {
        let text = "\
Error! Could not locate dkms.conf file.
File: /var/lib/dkms/nvidia/535.86.10/source/dkms.conf does not exist.
nvidia/580.65.06, 6.8.0-79-generic, x86_64: installed (original_module exists)
nvidia/580.95.05, 6.8.0-85-generic, x86_64: built
nvidia/580.95.05, 6.8.0-86-generic, x86_64: installed (WARNING! Diff between built and installed module!)
virtualbox/7.0.16, 6.8.0-85-generic, x86_64: broken

";
        let got = parse_dkms_status(text);
        assert_eq!(
            got,
            vec![
                entry(
                    "nvidia",
                    "580.65.06",
                    Some("6.8.0-79-generic"),
                    Some("x86_64"),
                    "installed"
                ),
                entry(
                    "nvidia",
                    "580.95.05",
                    Some("6.8.0-85-generic"),
                    Some("x86_64"),
                    "built"
                ),
                entry(
                    "nvidia",
                    "580.95.05",
                    Some("6.8.0-86-generic"),
                    Some("x86_64"),
                    "installed"
                ),
                entry(
                    "virtualbox",
                    "7.0.16",
                    Some("6.8.0-85-generic"),
                    Some("x86_64"),
                    "broken"
                ),
            ]
        );
    }

    #[test]
    fn junk_is_skipped() {
        assert!(parse_dkms_status("").is_empty());
        assert!(
            parse_dkms_status(":\n: installed\nnvidia\n,,,,,: x\n\u{fffd}\u{0}: \n").is_empty()
        );
        assert!(parse_dkms_status("nvidia/580.95.05, a, b, c: installed").is_empty());
    }
}
