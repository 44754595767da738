//! How a reload stops each process that holds the GPU: through the systemd unit its cgroup names, through the CUDA MPS
//! control program, or by a signal; and which holders are only library users, left running.

use super::holders::{GpuHolder, KnownService};
use super::plan::ProcessTarget;
use std::collections::BTreeMap;

/// One system unit to stop (and start again), with the holders it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStop {
    pub unit: String,
    /// The GPU service it is, when nvfix knows it (by unit or program name).
    pub service: Option<KnownService>,
    /// How plans and prompts name it.
    pub label: String,
    pub processes: Vec<ProcessTarget>,
    /// The unit came from the processes' cgroup (not from the fixed name of a service recognised by program name).
    pub from_cgroup: bool,
}

impl ServiceStop {
    /// Monitoring first (it polls and would reopen the device), the daemons the driver needs last.
    fn rank(&self) -> usize {
        match self.service {
            Some(KnownService::DcgmExporter) => 0,
            Some(KnownService::Dcgm) => 1,
            Some(KnownService::DisplayManager | KnownService::DisplayServer) => 2,
            // Workloads run as units, and an MPS daemon run as one: with the jobs, before the driver's daemons.
            None | Some(KnownService::MpsControl | KnownService::MpsServer) => 3,
            Some(KnownService::FabricManager) => 5,
            Some(KnownService::Persistenced) => 6,
        }
    }

    /// Stopped after the processes are signalled, started again first: the daemons the driver itself needs.
    pub fn stops_last(&self) -> bool {
        self.rank() >= 5
    }

    /// Why the plan stops it this way, for the step's `why`.
    pub fn why(&self) -> String {
        match (&self.service, self.stops_last()) {
            (_, true) => format!("{} keeps the driver open; stopped last, started again first", self.label),
            (Some(_), false) => format!(
                "{} holds the GPU; stopped through systemd so it does not respawn, started again afterwards",
                self.label
            ),
            (None, false) => format!(
                "{} runs in the system service {} and holds the GPU; stopped through systemd, not signalled (its unit \
                 could restart a signalled process: Restart=), and started again afterwards",
                self.label, self.unit
            ),
        }
    }
}

/// The holders of one plan, by how each is stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolderStops {
    /// Units to stop, in stop order.
    pub services: Vec<ServiceStop>,
    /// CUDA MPS processes outside a unit: quit through `nvidia-cuda-mps-control`.
    pub mps: Vec<ProcessTarget>,
    /// Processes signalled: users' jobs, user sessions, containers, services where no unit can be named.
    pub processes: Vec<ProcessTarget>,
    /// Display servers and managers outside containers (stopping them is a blocker without `--allow-display-stop`).
    pub display: Vec<ProcessTarget>,
    /// Processes that map the driver's libraries with no device open: left running.
    pub library_users: Vec<ProcessTarget>,
}

/// The unit a holder outside a container is stopped through: the one its cgroup names, else (no systemd, cgroup
/// unreadable) the packaged name of a service recognised by its program name, which the executor signals instead
/// when systemd is not there to ask.
fn unit_of(h: &GpuHolder) -> Option<(String, bool)> {
    if let Some(unit) = &h.unit {
        return Some((unit.clone(), true));
    }
    if h.user_session {
        // A session's display server goes with the display manager that owns the session.
        return match h.service {
            Some(KnownService::DisplayServer) => KnownService::DisplayServer
                .unit()
                .map(|u| (u.to_string(), false)),
            _ => None,
        };
    }
    h.service
        .and_then(KnownService::unit)
        .map(|u| (u.to_string(), false))
}

/// Sorts the holders into how a reload stops them.
pub fn holder_stops(holders: &[GpuHolder]) -> HolderStops {
    let mut stops = HolderStops::default();
    let mut units: BTreeMap<String, ServiceStop> = BTreeMap::new();
    for h in holders {
        let target = ProcessTarget::from_holder(h);
        if h.devices.is_empty() {
            stops.library_users.push(target);
            continue;
        }
        let is_mps = matches!(
            h.service,
            Some(KnownService::MpsControl | KnownService::MpsServer)
        );
        let is_display = matches!(
            h.service,
            Some(KnownService::DisplayManager | KnownService::DisplayServer)
        );
        if h.container.is_some() {
            // A service in a container is restarted by its runtime's policy, not by systemd: signal it. MPS quits
            // through its control program wherever it runs.
            if is_mps {
                stops.mps.push(target);
            } else {
                stops.processes.push(target);
            }
            continue;
        }
        if is_display {
            stops.display.push(target.clone());
        }
        match unit_of(h) {
            Some((unit, from_cgroup)) => {
                let entry = units.entry(unit.clone()).or_insert_with(|| ServiceStop {
                    unit,
                    service: h.service,
                    label: h
                        .service
                        .map_or_else(|| h.comm.clone(), |s| s.label().to_string()),
                    processes: Vec::new(),
                    from_cgroup,
                });
                entry.processes.push(target);
            }
            None if is_mps => stops.mps.push(target),
            None => stops.processes.push(target),
        }
    }
    stops.services = units.into_values().collect();
    stops
        .services
        .sort_by(|a, b| (a.rank(), &a.unit).cmp(&(b.rank(), &b.unit)));
    stops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::holders::classify_holder;

    fn holder(pid: i32, comm: &str, cgroup: &str) -> GpuHolder {
        let kind = classify_holder(comm, comm, Some(cgroup));
        GpuHolder {
            pid,
            user: "root".into(),
            uid: 0,
            command: comm.into(),
            comm: comm.into(),
            started_secs_after_boot: Some(10),
            devices: vec!["/dev/nvidia0".into()],
            libraries: Vec::new(),
            container: kind.container,
            service: kind.service,
            unit: kind.unit,
            user_session: kind.user_session,
        }
    }

    fn units(s: &HolderStops) -> Vec<&str> {
        s.services.iter().map(|x| x.unit.as_str()).collect()
    }

    fn pids(p: &[ProcessTarget]) -> Vec<i32> {
        p.iter().map(|t| t.pid).collect()
    }

    #[test]
    fn dcgm_as_dcgm_service_is_stopped_as_that_unit_not_signalled() {
        let s = holder_stops(&[holder(
            10,
            "nv-hostengine",
            "0::/system.slice/dcgm.service\n",
        )]);
        assert_eq!(units(&s), vec!["dcgm.service"]);
        assert_eq!(s.services[0].service, Some(KnownService::Dcgm));
        assert!(s.processes.is_empty());
        // Packaged as nvidia-dcgm.service: that name, from the cgroup.
        let s = holder_stops(&[holder(
            10,
            "nv-hostengine",
            "0::/system.slice/nvidia-dcgm.service\n",
        )]);
        assert_eq!(units(&s), vec!["nvidia-dcgm.service"]);
    }

    #[test]
    fn a_users_nv_hostengine_is_signalled_and_stops_no_system_unit() {
        let s = holder_stops(&[holder(
            20,
            "nv-hostengine",
            "0::/user.slice/user-1000.slice/session-3.scope\n",
        )]);
        assert!(s.services.is_empty(), "{:?}", s.services);
        assert_eq!(pids(&s.processes), vec![20]);
    }

    #[test]
    fn an_unknown_system_service_is_stopped_through_its_unit_and_says_why() {
        let s = holder_stops(&[holder(
            30,
            "infer-server",
            "0::/system.slice/inference.service\n",
        )]);
        assert_eq!(units(&s), vec!["inference.service"]);
        let stop = &s.services[0];
        assert_eq!((stop.service, stop.label.as_str()), (None, "infer-server"));
        assert!(!stop.stops_last());
        assert!(stop.why().contains("Restart="), "{}", stop.why());
        assert!(s.processes.is_empty());
    }

    #[test]
    fn units_are_ordered_monitoring_first_driver_daemons_last() {
        let s = holder_stops(&[
            holder(
                1,
                "nvidia-persistenced",
                "0::/system.slice/nvidia-persistenced.service\n",
            ),
            holder(2, "job", "0::/system.slice/zz-batch.service\n"),
            holder(
                3,
                "dcgm-exporter",
                "0::/system.slice/dcgm-exporter.service\n",
            ),
            holder(4, "nv-hostengine", "0::/system.slice/dcgm.service\n"),
            holder(5, "nv-hostengine", "0::/system.slice/dcgm.service\n"),
        ]);
        assert_eq!(
            units(&s),
            vec![
                "dcgm-exporter.service",
                "dcgm.service",
                "zz-batch.service",
                "nvidia-persistenced.service"
            ]
        );
        assert_eq!(
            pids(&s.services[1].processes),
            vec![4, 5],
            "one unit, both processes"
        );
        assert!(s.services[3].stops_last());
    }

    #[test]
    fn containers_mps_display_and_no_systemd_keep_their_handling() {
        let docker = "0::/system.slice/docker-4f2d1e8a9b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e.scope\n";
        let s = holder_stops(&[
            holder(1, "nv-hostengine", docker),
            holder(
                2,
                "nvidia-cuda-mps-control",
                "0::/user.slice/user-1000.slice/session-3.scope\n",
            ),
            holder(
                3,
                "Xorg",
                "0::/user.slice/user-1000.slice/session-2.scope\n",
            ),
            holder(4, "nvidia-persistenced", "0::/\n"),
        ]);
        assert_eq!(
            pids(&s.processes),
            vec![1],
            "a container's service is signalled"
        );
        assert_eq!(pids(&s.mps), vec![2]);
        assert_eq!(pids(&s.display), vec![3]);
        // The session's X server goes with the display manager; no systemd cgroup: the packaged name, as before.
        assert_eq!(
            units(&s),
            vec!["display-manager.service", "nvidia-persistenced.service"]
        );
        assert!(s.services.iter().all(|x| !x.from_cgroup));
        // An MPS daemon run as a unit is stopped as that unit.
        let s = holder_stops(&[holder(
            5,
            "nvidia-cuda-mps-control",
            "0::/system.slice/cuda-mps.service\n",
        )]);
        assert_eq!(units(&s), vec!["cuda-mps.service"]);
        assert!(s.mps.is_empty());
    }

    #[test]
    fn library_users_are_left_running() {
        let mut h = holder(9, "python3", "0::/system.slice/inference.service\n");
        h.devices.clear();
        let s = holder_stops(&[h]);
        assert!(s.services.is_empty());
        assert_eq!(pids(&s.library_users), vec![9]);
    }
}
