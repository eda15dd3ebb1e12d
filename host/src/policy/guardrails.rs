//! Guardrails on plugin output. A plugin is sandboxed, but what it returns is applied
//! with the operator's credentials; these rules keep a plugin to the objects its
//! component needs. Every object is checked before any object of the component is
//! applied, so a violation applies nothing of that component.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use super::resource::GuardrailSpec;

/// Kinds the bundled renderers return: the default `allowedKinds`.
pub const DEFAULT_KINDS: &[&str] = &[
    "ConfigMap", "Secret", "Service", "Deployment", "StatefulSet", "PersistentVolumeClaim",
    "Ingress", "HTTPRoute",
];

/// Kinds that are not namespaced. A static list rather than discovery, so the same
/// check runs offline (`berth render`) and in the controller.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "PriorityClass", "RuntimeClass", "IngressClass", "GatewayClass", "CSIDriver", "CSINode",
    "VolumeAttachment", "CertificateSigningRequest", "FlowSchema", "PriorityLevelConfiguration",
];

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The rules in force for one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    pub allowed_kinds: BTreeSet<String>,
    /// Normalised ("docker.io/goharbor"); empty allows any.
    pub allowed_registries: Vec<String>,
    pub allow_rbac: bool,
    pub allow_cluster_scoped: bool,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            allowed_kinds: DEFAULT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            allowed_registries: Vec::new(),
            allow_rbac: false,
            allow_cluster_scoped: false,
        }
    }
}

/// The rule an object broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ClusterScoped,
    Rbac,
    AllowedKinds,
    AllowedRegistries,
}

impl Rule {
    /// The policy field that states the rule, as a user would search for it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ClusterScoped => "allowClusterScoped",
            Rule::Rbac => "allowRBAC",
            Rule::AllowedKinds => "allowedKinds",
            Rule::AllowedRegistries => "allowedRegistries",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One object that broke one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guardrail {rule} refuses {kind}/{name}: {detail}")]
pub struct Violation {
    pub rule: Rule,
    pub kind: String,
    pub name: String,
    pub detail: String,
}

impl Guardrails {
    /// Layers a component's spec over its policy's over Berth's defaults.
    pub fn from_specs(policy: Option<&GuardrailSpec>, component: Option<&GuardrailSpec>) -> Guardrails {
        let mut rails = Guardrails::default();
        for spec in [policy, component].into_iter().flatten() {
            if let Some(kinds) = &spec.allowed_kinds {
                rails.allowed_kinds = kinds.iter().cloned().collect();
            }
            if let Some(registries) = &spec.allowed_registries {
                rails.allowed_registries = registries.iter().map(|r| normalise_prefix(r)).collect();
            }
            if let Some(allow) = spec.allow_rbac {
                rails.allow_rbac = allow;
            }
            if let Some(allow) = spec.allow_cluster_scoped {
                rails.allow_cluster_scoped = allow;
            }
        }
        rails
    }

    /// Checks every object; the first violation is returned.
    pub fn check(&self, objects: &[Map<String, Value>]) -> Result<(), Violation> {
        objects.iter().try_for_each(|o| self.check_object(o))
    }

    fn check_object(&self, object: &Map<String, Value>) -> Result<(), Violation> {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = object.pointer_str("/metadata/name");
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let violation = |rule, detail: String| Violation { rule, kind: kind.to_owned(), name: name.to_owned(), detail };
        // Most specific rule first, so the error says the real reason.
        if !self.allow_cluster_scoped && CLUSTER_SCOPED_KINDS.contains(&kind) {
            return Err(violation(Rule::ClusterScoped, format!("{kind} is cluster-scoped")));
        }
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        if !self.allow_rbac && group == RBAC_GROUP {
            return Err(violation(Rule::Rbac, format!("{api_version} {kind} grants permissions")));
        }
        if !self.allowed_kinds.contains(kind) {
            let allowed: Vec<&str> = self.allowed_kinds.iter().map(String::as_str).collect();
            return Err(violation(Rule::AllowedKinds, format!("{kind} is not one of [{}]", allowed.join(", "))));
        }
        if !self.allowed_registries.is_empty() {
            for image in images(object) {
                let normalised = normalise_image(image);
                if !self.allowed_registries.iter().any(|prefix| has_prefix(&normalised, prefix)) {
                    return Err(violation(
                        Rule::AllowedRegistries,
                        format!("image {image} is from none of [{}]", self.allowed_registries.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }
}

trait PointerStr {
    fn pointer_str(&self, pointer: &str) -> &str;
}

impl PointerStr for Map<String, Value> {
    fn pointer_str(&self, pointer: &str) -> &str {
        let mut parts = pointer.trim_start_matches('/').split('/');
        let Some(first) = parts.next() else { return "" };
        let mut value = self.get(first);
        for part in parts {
            value = value.and_then(|v| v.get(part));
        }
        value.and_then(Value::as_str).unwrap_or_default()
    }
}

/// Every container image in an object: pod templates of workloads, CronJob's job
/// template, or a bare Pod.
fn images(object: &Map<String, Value>) -> Vec<&str> {
    let pod_specs = [
        object.get("spec"),
        object.get("spec").and_then(|s| s.pointer("/template/spec")),
        object.get("spec").and_then(|s| s.pointer("/jobTemplate/spec/template/spec")),
    ];
    let mut found = Vec::new();
    for pod in pod_specs.into_iter().flatten() {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for container in pod.get(list).and_then(Value::as_array).into_iter().flatten() {
                if let Some(image) = container.get("image").and_then(Value::as_str) {
                    found.push(image);
                }
            }
        }
    }
    found
}

/// An image reference with its registry spelled out, as the container runtime reads
/// it: "goharbor/core:v2" is "docker.io/goharbor/core:v2", "nginx" is
/// "docker.io/library/nginx".
fn normalise_image(image: &str) -> String {
    let (first, rest) = match image.split_once('/') {
        Some(split) => split,
        None => return format!("docker.io/library/{image}"),
    };
    if first.contains('.') || first.contains(':') || first == "localhost" {
        image.to_owned()
    } else {
        format!("docker.io/{first}/{rest}")
    }
}

/// A registry or repository prefix from a policy, normalised like an image, without a
/// trailing slash.
fn normalise_prefix(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.contains('/') || prefix.contains('.') || prefix.contains(':') || prefix == "localhost" {
        let normalised = normalise_image(prefix);
        normalised.trim_end_matches('/').to_owned()
    } else {
        // A bare word is a Docker Hub namespace ("goharbor").
        format!("docker.io/{prefix}")
    }
}

/// Whether an image is the prefix itself or lies under it, on a path boundary:
/// "docker.io/goharbor" admits "docker.io/goharbor/core:v2", not "docker.io/goharborx/…".
fn has_prefix(image: &str, prefix: &str) -> bool {
    match image.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') || rest.starts_with('@'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn deployment(image: &str) -> Map<String, Value> {
        object(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}))
    }

    fn rule_of(rails: &Guardrails, o: Map<String, Value>) -> Option<Rule> {
        rails.check(&[o]).err().map(|v| v.rule)
    }

    #[test]
    fn defaults_allow_berths_kinds_and_refuse_rbac_and_cluster_scope() {
        let rails = Guardrails::default();
        assert_eq!(rule_of(&rails, deployment("goharbor/harbor-core:v2.14.0")), None);
        let role = object(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}));
        assert_eq!(rule_of(&rails, role.clone()), Some(Rule::Rbac));
        let namespace = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}));
        assert_eq!(rule_of(&rails, namespace), Some(Rule::ClusterScoped));
        let cluster_role = object(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}));
        assert_eq!(rule_of(&rails, cluster_role), Some(Rule::ClusterScoped));
        let cron = object(json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}}));
        assert_eq!(rule_of(&rails, cron), Some(Rule::AllowedKinds));

        // Allowing RBAC still needs the kind to be allowed.
        let spec = GuardrailSpec { allow_rbac: Some(true), ..Default::default() };
        let rails = Guardrails::from_specs(None, Some(&spec));
        assert_eq!(rule_of(&rails, role.clone()), Some(Rule::AllowedKinds));
        let spec = GuardrailSpec { allow_rbac: Some(true), allowed_kinds: Some(vec!["Role".to_owned()]), ..Default::default() };
        assert_eq!(rule_of(&Guardrails::from_specs(None, Some(&spec)), role), None);
    }

    #[test]
    fn registries_match_on_path_boundaries_after_normalising() {
        let spec = GuardrailSpec {
            allowed_registries: Some(vec!["goharbor".to_owned(), "registry.example.com/mirror/".to_owned()]),
            ..Default::default()
        };
        let rails = Guardrails::from_specs(Some(&spec), None);
        assert_eq!(rule_of(&rails, deployment("goharbor/harbor-core:v2.14.0")), None);
        assert_eq!(rule_of(&rails, deployment("docker.io/goharbor/harbor-core@sha256:00")), None);
        assert_eq!(rule_of(&rails, deployment("registry.example.com/mirror/core:1")), None);
        assert_eq!(rule_of(&rails, deployment("goharborx/core:1")), Some(Rule::AllowedRegistries));
        assert_eq!(rule_of(&rails, deployment("nginx")), Some(Rule::AllowedRegistries));
        assert_eq!(rule_of(&rails, deployment("evil.example.com/miner:1.0")), Some(Rule::AllowedRegistries));
        assert_eq!(rule_of(&rails, deployment("registry.example.com/other/core:1")), Some(Rule::AllowedRegistries));
    }

    #[test]
    fn component_rules_override_the_policys() {
        let policy = GuardrailSpec { allowed_kinds: Some(vec!["ConfigMap".to_owned()]), ..Default::default() };
        let component = GuardrailSpec { allowed_kinds: Some(vec!["NetworkPolicy".to_owned()]), ..Default::default() };
        let rails = Guardrails::from_specs(Some(&policy), Some(&component));
        assert!(rails.allowed_kinds.contains("NetworkPolicy"));
        assert!(!rails.allowed_kinds.contains("ConfigMap"));
    }

    #[test]
    fn a_violation_names_rule_and_object() {
        let v = Guardrails::default().check(&[deployment("x"), object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))]);
        let message = v.err().map(|v| v.to_string()).unwrap_or_default();
        assert!(message.contains("allowedKinds") && message.contains("Pod/p"), "{message}");
    }
}
