//! Helpers to build the Kubernetes objects every Harbor component needs, the way the
//! chart builds them: restricted security contexts, probes, scheduling knobs.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, EnvVar, EnvVarSource, HTTPGetAction, LocalObjectReference, PersistentVolumeClaim, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::RenderError;
use crate::api::spec::ComponentSpec;
use crate::wit::{SecretKeyRef, Topology};

/// The uid/gid Harbor's photon images run as (the chart's `securityContext`).
pub const HARBOR_UID: i64 = 10000;

/// Metadata with a name and labels; the host forces the namespace.
pub fn meta(name: &str, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta { name: Some(name.to_owned()), labels: Some(labels.clone()), ..ObjectMeta::default() }
}

/// PSS-restricted container security context: non-root, no privilege escalation, every
/// capability dropped, RuntimeDefault seccomp.
pub fn restricted_container_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        privileged: Some(false),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }),
        ..SecurityContext::default()
    }
}

/// Pod security context running as `uid` with the same group and fsGroup.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }),
        ..PodSecurityContext::default()
    }
}

/// An HTTP GET probe on a container port.
pub fn http_probe(path: &str, port: u16, scheme: &str, initial_delay: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(i32::from(port)),
            scheme: Some(scheme.to_uppercase()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        ..Probe::default()
    }
}

/// A ConfigMap holding files or environment values.
pub fn config_map(name: &str, labels: &BTreeMap<String, String>, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap { metadata: meta(name, labels), data: Some(data), ..ConfigMap::default() }
}

/// A ClusterIP Service selecting `selector` with the given ports.
pub fn cluster_ip_service(
    name: &str,
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
    ports: Vec<ServicePort>,
) -> Service {
    Service {
        metadata: meta(name, labels),
        spec: Some(ServiceSpec { selector: Some(selector.clone()), ports: Some(ports), ..ServiceSpec::default() }),
        ..Service::default()
    }
}

/// A Service port mapping `port` to the container's `target`.
pub fn service_port(name: &str, port: u16, target: u16) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: i32::from(port),
        target_port: Some(IntOrString::Int(i32::from(target))),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// The replica count of a component, refusing a negative number with the field named.
pub fn replicas(spec: &ComponentSpec, field: &str) -> Result<i32, RenderError> {
    match spec.replicas {
        None => Ok(1),
        Some(n) if n >= 0 => Ok(n),
        Some(n) => Err(RenderError::invalid(format!("{field}.replicas"), format!("must be 0 or more, got {n}"))),
    }
}

/// Applies a component's scheduling and identity knobs to its pod spec, and the
/// cluster-wide image pull secrets.
pub fn apply_pod_settings(pod: &mut PodSpec, spec: &ComponentSpec, topology: &Topology) {
    if !spec.node_selector.is_empty() {
        pod.node_selector = Some(spec.node_selector.clone());
    }
    if !spec.tolerations.is_empty() {
        pod.tolerations = Some(spec.tolerations.clone());
    }
    pod.affinity = spec.affinity.clone();
    if !spec.topology_spread_constraints.is_empty() {
        pod.topology_spread_constraints = Some(spec.topology_spread_constraints.clone());
    }
    pod.priority_class_name = spec.priority_class_name.clone();
    pod.service_account_name = spec.service_account_name.clone();
    pod.automount_service_account_token = Some(false);
    if !topology.image_pull_secrets.is_empty() {
        pod.image_pull_secrets = Some(topology.image_pull_secrets.iter().map(|name| LocalObjectReference { name: name.clone() }).collect());
    }
}

/// Pod labels: the selector plus the user's extra labels (which never override the
/// selector, or the Deployment would stop matching its own pods).
pub fn pod_labels(selector: &BTreeMap<String, String>, spec: &ComponentSpec) -> BTreeMap<String, String> {
    let mut labels = spec.pod_labels.clone();
    labels.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

/// Pod annotations from the spec, or None when there are none.
pub fn pod_annotations(spec: &ComponentSpec) -> Option<BTreeMap<String, String>> {
    (!spec.pod_annotations.is_empty()).then(|| spec.pod_annotations.clone())
}

/// An environment variable with a literal value.
pub fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value.to_owned()), value_from: None }
}

/// An environment variable read from a key of a Secret.
pub fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.name.clone(), key: secret.key.clone(), optional: None }),
            ..EnvVarSource::default()
        }),
    }
}

/// Harbor's own Services, in the chart's order, for NO_PROXY.
const NO_PROXY_COMPONENTS: &[&str] = &["core", "jobservice", "database", "registry", "portal", "trivy", "exporter"];

/// The chart's `harbor.noProxy`: every Harbor Service the topology has, then the user's
/// hosts, so in-cluster traffic never goes through the proxy.
pub fn no_proxy(topology: &Topology, user: &str) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    for component in NO_PROXY_COMPONENTS {
        // Components may share a Service (registryctl rides on the registry's).
        if let Ok(c) = topology.component(component)
            && !hosts.contains(&c.service_name.as_str())
        {
            hosts.push(&c.service_name);
        }
    }
    if !user.is_empty() {
        hosts.push(user);
    }
    hosts.join(",")
}

/// A Deployment of `pod` selecting `selector`, with the component's pod labels and
/// annotations. Callers set a strategy when the chart does.
pub fn deployment(
    name: &str,
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
    replicas: i32,
    spec: &ComponentSpec,
    pod: PodSpec,
) -> Deployment {
    Deployment {
        metadata: meta(name, labels),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            revision_history_limit: Some(10),
            selector: LabelSelector { match_labels: Some(selector.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(selector, spec)),
                    annotations: pod_annotations(spec),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The grace period the chart gives the pods that hold work in flight (core, database,
/// Redis, jobservice, registry): uploads, token requests, jobs and checkpoints finish
/// before SIGKILL.
pub const TERMINATION_GRACE_SECONDS: i64 = 120;

/// A PodDisruptionBudget for a component running more than one replica: node drains and
/// cluster upgrades evict at most one of its pods at a time. None for one replica (a
/// budget there would block every drain). Beyond the chart, which renders none by
/// default.
pub fn disruption_budget(
    name: &str,
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
    replicas: i32,
) -> Option<PodDisruptionBudget> {
    (replicas > 1).then(|| PodDisruptionBudget {
        metadata: meta(name, labels),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(selector.clone()), ..LabelSelector::default() }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

/// A StatefulSet of `pod` governed by the Service `service_name`, with the
/// component's pod labels and annotations and its claim templates.
#[allow(clippy::too_many_arguments)]
pub fn stateful_set(
    name: &str,
    labels: &BTreeMap<String, String>,
    selector: &BTreeMap<String, String>,
    replicas: i32,
    service_name: &str,
    spec: &ComponentSpec,
    pod: PodSpec,
    claim_templates: Option<Vec<PersistentVolumeClaim>>,
) -> StatefulSet {
    StatefulSet {
        metadata: meta(name, labels),
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(service_name.to_owned()),
            selector: LabelSelector { match_labels: Some(selector.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(selector, spec)),
                    annotations: pod_annotations(spec),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: claim_templates,
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_only_for_more_than_one_replica_evicting_one_pod_at_a_time() {
        let labels = BTreeMap::from([("app".to_owned(), "harbor".to_owned())]);
        let selector = BTreeMap::from([("component".to_owned(), "core".to_owned())]);
        assert!(disruption_budget("demo-harbor-core", &labels, &selector, 1).is_none());
        assert!(disruption_budget("demo-harbor-core", &labels, &selector, 0).is_none());
        let budget = disruption_budget("demo-harbor-core", &labels, &selector, 3).unwrap_or_default();
        let spec = budget.spec.unwrap_or_default();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.min_available, None);
        assert_eq!(spec.selector.and_then(|s| s.match_labels), Some(selector));
        assert_eq!(budget.metadata.name.as_deref(), Some("demo-harbor-core"));
    }
}
