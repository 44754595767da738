//! Where a process runs in systemd's tree, from its `/proc/<pid>/cgroup`: a system service unit (stopped through
//! exactly that unit), a user's session (a user process, whatever its name), or neither.
//!
//! Unit names read from a cgroup are untrusted text: one reaches a `systemctl` command line only after passing
//! systemd's own unit-name rules.

/// The systemd place of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPlace {
    /// A system service: `0::/system.slice/dcgm.service` names `dcgm.service`.
    SystemService(String),
    /// A user's login session or user manager: `/user.slice/user-1000.slice/session-3.scope`,
    /// `/user.slice/user-1000.slice/user@1000.service/app.slice/…`.
    UserSession,
    /// Anything else: `init.scope`, a scope outside user sessions, no systemd (`0::/`), an unreadable or garbled
    /// file, or a unit name systemd would not accept.
    Other,
}

/// The longest unit name systemd accepts (`UNIT_NAME_MAX` is 256 with the terminating NUL).
const UNIT_NAME_MAX: usize = 255;

/// Is this a system service unit name systemd would accept, safe to pass to `systemctl` as one argument?
///
/// systemd's rules (`unit_name_is_valid`): the characters `A-Z a-z 0-9 : - _ . \`, one optional `@` between a
/// template's name and its non-empty instance, at most 255 bytes; here also the `.service` suffix, and no leading `-`
/// or `.` (a leading dash would read as an option).
pub fn is_valid_service_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".service") else {
        return false;
    };
    let valid_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\');
    let parts_valid = match stem.split_once('@') {
        Some((template, instance)) => {
            !template.is_empty()
                && !instance.is_empty()
                && template.chars().all(valid_char)
                && instance.chars().all(valid_char)
        }
        None => !stem.is_empty() && stem.chars().all(valid_char),
    };
    parts_valid && name.len() <= UNIT_NAME_MAX && !stem.starts_with(['-', '.'])
}

/// The cgroup path systemd manages: the `name=systemd` line on cgroup v1 (and hybrid), else the unified `0::` line.
fn systemd_path(text: &str) -> Option<&str> {
    let mut unified = None;
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers == "name=systemd" {
            return Some(path.trim());
        }
        if id == "0" && controllers.is_empty() {
            unified = Some(path.trim());
        }
    }
    unified
}

fn is_user_session_segment(segment: &str) -> bool {
    let user_manager = segment
        .strip_prefix("user@")
        .and_then(|s| s.strip_suffix(".service"))
        .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()));
    let session = segment.starts_with("session-") && segment.ends_with(".scope");
    user_manager || session
}

/// Where the process whose `/proc/<pid>/cgroup` reads `text` runs.
///
/// Everything under `user.slice`, and any session scope or user manager, is a user's. Otherwise the first `.service`
/// segment is the unit systemd runs it in (deeper cgroups are the unit's own, delegated ones), when its name is
/// valid; a name that is not is left alone rather than passed on.
pub fn place_from_cgroup(text: &str) -> CgroupPlace {
    let Some(path) = systemd_path(text) else {
        return CgroupPlace::Other;
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first() == Some(&"user.slice")
        || segments.iter().any(|s| is_user_session_segment(s))
    {
        return CgroupPlace::UserSession;
    }
    match segments.iter().find(|s| s.ends_with(".service")) {
        Some(unit) if is_valid_service_name(unit) => CgroupPlace::SystemService(unit.to_string()),
        _ => CgroupPlace::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> CgroupPlace {
        CgroupPlace::SystemService(name.into())
    }

    #[test]
    fn system_services_from_v2_v1_and_hybrid() {
        assert_eq!(
            place_from_cgroup("0::/system.slice/dcgm.service\n"),
            service("dcgm.service")
        );
        assert_eq!(
            place_from_cgroup("0::/system.slice/nvidia-persistenced.service\n"),
            service("nvidia-persistenced.service")
        );
        // v1: the name=systemd hierarchy names the unit; other controllers may say something else.
        let v1 = "12:memory:/\n4:devices:/system.slice\n1:name=systemd:/system.slice/nvidia-dcgm.service\n";
        assert_eq!(place_from_cgroup(v1), service("nvidia-dcgm.service"));
        let hybrid = "1:name=systemd:/system.slice/dcgm-exporter.service\n0::/system.slice/dcgm-exporter.service\n";
        assert_eq!(place_from_cgroup(hybrid), service("dcgm-exporter.service"));
        // A delegated unit's own sub-cgroups, a custom slice, a template instance.
        assert_eq!(
            place_from_cgroup("0::/system.slice/gpu-poller.service/worker\n"),
            service("gpu-poller.service")
        );
        assert_eq!(
            place_from_cgroup("0::/gpu.slice/trainer@3.service\n"),
            service("trainer@3.service")
        );
    }

    #[test]
    fn user_sessions_are_users_whatever_runs_in_them() {
        for text in [
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/nv-hostengine.service\n",
            "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n",
            "1:name=systemd:/user.slice/user-1000.slice/session-c2.scope\n",
        ] {
            assert_eq!(place_from_cgroup(text), CgroupPlace::UserSession, "{text}");
        }
    }

    #[test]
    fn no_systemd_scopes_and_garbage_are_other() {
        for text in [
            "0::/\n",
            "0::/init.scope\n",
            "0::/system.slice/docker-4f2d1e8a9b7c.scope\n",
            "12:pids:/docker/4f2d1e8a9b7c\n",
            "",
            "garbage",
            "\u{0}\u{1}\u{fffd}",
            // Names systemd would never accept must not reach a command line.
            "0::/system.slice/-rf.service\n",
            "0::/system.slice/a b.service\n",
            "0::/system.slice/x;reboot.service\n",
            "0::/system.slice/$(reboot).service\n",
            "0::/system.slice/.service\n",
            "0::/system.slice/@.service\n",
            "0::/system.slice/getty@.service\n",
            "0::/system.slice/a@b@c.service\n",
            "0::/system.slice/dcgm.service.d\n",
        ] {
            assert_eq!(place_from_cgroup(text), CgroupPlace::Other, "{text:?}");
        }
    }

    #[test]
    fn unit_names_follow_systemd_rules() {
        for name in [
            "dcgm.service",
            "nvidia-dcgm.service",
            "getty@tty1.service",
            "systemd-fsck@dev-disk-by\\x2duuid-1234.service",
            "a:b_c.d.service",
        ] {
            assert!(is_valid_service_name(name), "{name}");
        }
        let long = format!("{}.service", "a".repeat(UNIT_NAME_MAX));
        for name in [
            "dcgm",
            "dcgm.socket",
            "dcgm.service ",
            "-x.service",
            "é.service",
            "a/b.service",
            "a\nb.service",
            long.as_str(),
        ] {
            assert!(!is_valid_service_name(name), "{name:?}");
        }
    }
}
