//! Which pods on a node hold GPUs, from `kubectl get pods -o json`: those requesting `nvidia.com/gpu` or a MIG slice
//! (`nvidia.com/mig-*`), the ones a quarantine may evict when the playbook allows it.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A pod to evict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Deserialize)]
struct Pod {
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, rename = "ownerReferences")]
    owner_references: Vec<Owner>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Owner {
    kind: String,
}

#[derive(Deserialize, Default)]
struct Spec {
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default, rename = "initContainers")]
    init_containers: Vec<Container>,
}

#[derive(Deserialize, Default)]
struct Container {
    #[serde(default)]
    resources: Resources,
}

#[derive(Deserialize, Default)]
struct Resources {
    #[serde(default)]
    requests: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    limits: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    phase: Option<String>,
}

fn is_gpu_resource(name: &str) -> bool {
    name == "nvidia.com/gpu" || name.starts_with("nvidia.com/mig-")
}

/// The running pods that request GPUs. Pods a DaemonSet owns (they come straight back) and static pods (the API
/// cannot evict them) are left out, as `kubectl drain` leaves them.
pub fn gpu_pods(json: &str) -> Result<Vec<PodRef>, String> {
    let list: PodList =
        serde_json::from_str(json).map_err(|e| format!("not a pod list from kubectl: {e}"))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| !matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed")))
        .filter(|p| {
            !p.metadata
                .owner_references
                .iter()
                .any(|o| o.kind == "DaemonSet")
        })
        .filter(|p| {
            !p.metadata
                .annotations
                .contains_key("kubernetes.io/config.mirror")
        })
        .filter(|p| {
            p.spec
                .containers
                .iter()
                .chain(&p.spec.init_containers)
                .any(|c| {
                    c.resources
                        .requests
                        .keys()
                        .chain(c.resources.limits.keys())
                        .any(|k| is_gpu_resource(k))
                })
        })
        .map(|p| PodRef {
            namespace: p.metadata.namespace.unwrap_or_else(|| "default".into()),
            name: p.metadata.name,
        })
        .collect())
}

/// The Eviction object the API's eviction subresource takes (policy/v1): it honours PodDisruptionBudgets.
pub fn eviction_body(pod: &PodRef) -> String {
    serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: &str = r#"{"apiVersion":"v1","kind":"List","items":[
      {"metadata":{"name":"train-0","namespace":"ml"},
       "spec":{"containers":[{"name":"t","resources":{"limits":{"nvidia.com/gpu":"8"}}}]},
       "status":{"phase":"Running"}},
      {"metadata":{"name":"infer-mig","namespace":"serve"},
       "spec":{"containers":[{"name":"i","resources":{"requests":{"nvidia.com/mig-1g.10gb":"1"}}}]},
       "status":{"phase":"Running"}},
      {"metadata":{"name":"web","namespace":"default"},
       "spec":{"containers":[{"name":"w","resources":{"limits":{"cpu":"1"}}}]},"status":{"phase":"Running"}},
      {"metadata":{"name":"done","namespace":"ml"},
       "spec":{"containers":[{"name":"d","resources":{"limits":{"nvidia.com/gpu":"1"}}}]},"status":{"phase":"Succeeded"}},
      {"metadata":{"name":"dcgm-x","namespace":"gpu","ownerReferences":[{"kind":"DaemonSet","name":"dcgm"}]},
       "spec":{"containers":[{"name":"e","resources":{"limits":{"nvidia.com/gpu":"1"}}}]},"status":{"phase":"Running"}},
      {"metadata":{"name":"static","namespace":"kube-system","annotations":{"kubernetes.io/config.mirror":"x"}},
       "spec":{"initContainers":[{"name":"s","resources":{"limits":{"nvidia.com/gpu":"1"}}}]},"status":{"phase":"Running"}}
    ]}"#;

    #[test]
    fn only_running_gpu_pods_that_an_eviction_moves() {
        let names: Vec<String> = gpu_pods(PODS)
            .unwrap()
            .into_iter()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        assert_eq!(names, ["ml/train-0", "serve/infer-mig"]);
        assert_eq!(gpu_pods(r#"{"items":[]}"#).unwrap(), []);
        assert!(gpu_pods("error: the server doesn't have a resource type").is_err());
    }

    #[test]
    fn the_eviction_names_the_pod() {
        let body: serde_json::Value = serde_json::from_str(&eviction_body(&PodRef {
            namespace: "ml".into(),
            name: "train-0".into(),
        }))
        .unwrap();
        assert_eq!(body["kind"], "Eviction");
        assert_eq!(body["apiVersion"], "policy/v1");
        assert_eq!(body["metadata"]["namespace"], "ml");
    }
}
