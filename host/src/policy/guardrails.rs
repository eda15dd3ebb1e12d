//! Guardrails on plugin output. A plugin is sandboxed, but what it returns is applied
//! with the operator's credentials; these rules keep a plugin to the objects its
//! component needs. Every object is checked before any object of the component is
//! applied, so a violation applies nothing of that component.
//!
//! On by default, with no PluginPolicy: Berth's kinds only (a kind is its API group and
//! name: a `Deployment` of `evil.example.com/v1` is not a Deployment), never a Secret
//! (secret material comes only from generated-secret declarations), names inside the
//! component's own name space, pods meeting the Restricted Pod Security Standard
//! ([`super::pod_security`]), images from the cluster's configured registry, nothing
//! cluster-scoped, no RBAC. A policy may widen kinds and registries, allow RBAC or
//! cluster scope, and relax named pod-security controls, per component.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use super::pod_security::{self, Control};
use super::resource::GuardrailSpec;

// The default `allowedKinds` are the kinds the bundled renderers return
// (`crate::components::bundled_kinds`). A bare kind means the API group of
// `WELL_KNOWN_GROUPS`; others are written `Kind.group`.

/// The API group of each kind a policy may name without one.
const WELL_KNOWN_GROUPS: &[(&str, &str)] = &[
    ("ConfigMap", ""),
    ("Secret", ""),
    ("Service", ""),
    ("PersistentVolumeClaim", ""),
    ("Pod", ""),
    ("ServiceAccount", ""),
    ("Deployment", "apps"),
    ("StatefulSet", "apps"),
    ("DaemonSet", "apps"),
    ("ReplicaSet", "apps"),
    ("Job", "batch"),
    ("CronJob", "batch"),
    ("Ingress", "networking.k8s.io"),
    ("NetworkPolicy", "networking.k8s.io"),
    ("HTTPRoute", "gateway.networking.k8s.io"),
    ("VolumeSnapshot", "snapshot.storage.k8s.io"),
    ("PodDisruptionBudget", "policy"),
    ("HorizontalPodAutoscaler", "autoscaling"),
    ("Role", "rbac.authorization.k8s.io"),
    ("RoleBinding", "rbac.authorization.k8s.io"),
    ("ClusterRole", "rbac.authorization.k8s.io"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io"),
];

/// Kinds that are not namespaced. A static list rather than discovery, so the same
/// check runs offline (`berth render`) and in the controller.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "VolumeSnapshotClass",
    "VolumeSnapshotContent",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "GatewayClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "CertificateSigningRequest",
    "FlowSchema",
    "PriorityLevelConfiguration",
];

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// A kind with its API group ("" for the core group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    /// "Deployment" (a well-known kind: its group), "Cluster.postgresql.cnpg.io", or a
    /// kind no table knows, which then must be in the core group.
    pub fn parse(text: &str) -> GroupKind {
        let (kind, group) = match text.split_once('.') {
            Some((kind, group)) => (kind, group.to_owned()),
            None => (text, WELL_KNOWN_GROUPS.iter().find(|(k, _)| *k == text).map(|(_, g)| (*g).to_owned()).unwrap_or_default()),
        };
        GroupKind { group, kind: kind.to_owned() }
    }

    fn of(api_version: &str, kind: &str) -> GroupKind {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        GroupKind { group: group.to_owned(), kind: kind.to_owned() }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() { f.write_str(&self.kind) } else { write!(f, "{}.{}", self.kind, self.group) }
    }
}

/// The rules in force for one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    pub allowed_kinds: BTreeSet<GroupKind>,
    /// Normalised ("docker.io/goharbor"). Absent: the cluster's own image source (see
    /// [`Scope`]).
    pub allowed_registries: Option<Vec<String>>,
    pub allow_rbac: bool,
    pub allow_cluster_scoped: bool,
    /// Pod-security controls this component need not meet.
    pub relaxed_pod_security: BTreeSet<Control>,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            allowed_kinds: crate::components::bundled_kinds().into_iter().map(GroupKind::parse).collect(),
            allowed_registries: None,
            allow_rbac: false,
            allow_cluster_scoped: false,
            relaxed_pod_security: BTreeSet::new(),
        }
    }
}

/// What the host knows of the cluster being rendered that the rules need.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Names the component's objects may take: each one itself, or followed by `-`.
    pub names: Vec<String>,
    /// Image prefixes allowed when no policy lists registries: the cluster's
    /// `<registry>/<repository>`, normalised.
    pub registries: Vec<String>,
    /// Images the HarborCluster spec names itself (component image overrides), allowed
    /// exactly as written.
    pub images: BTreeSet<String>,
    /// Secrets the host generates or the spec names: no plugin declares these.
    pub host_secrets: Vec<String>,
}

impl Scope {
    /// Whether a plugin of this component may declare a generated Secret of this name:
    /// one in its name space that the host does not own.
    pub fn may_declare(&self, name: &str) -> Result<(), String> {
        if self.host_secrets.iter().any(|s| s == name) {
            return Err("the host generates it (or the spec names it); plugins only reference it".to_owned());
        }
        if !self.names.iter().any(|prefix| in_name_space(name, prefix)) {
            return Err(format!("the component's Secrets are named {} or start with one of them and a dash", self.names.join(", ")));
        }
        Ok(())
    }
}

/// The rule an object broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    ClusterScoped,
    Rbac,
    AllowedKinds,
    AllowedRegistries,
    NoSecrets,
    NameSpace,
    PodSecurity(Control),
}

impl Rule {
    /// The policy field that states the rule, as a user would search for it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ClusterScoped => "allowClusterScoped",
            Rule::Rbac => "allowRBAC",
            Rule::AllowedKinds => "allowedKinds",
            Rule::AllowedRegistries => "allowedRegistries",
            Rule::NoSecrets => "noSecrets",
            Rule::NameSpace => "componentNames",
            Rule::PodSecurity(control) => control.name(),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::PodSecurity(control) => write!(f, "podSecurity.{control}"),
            other => f.write_str(other.name()),
        }
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

/// A policy names a pod-security control that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relaxPodSecurity: {0:?} is no pod-security control (known: {known})", known = Control::ALL.map(Control::name).join(", "))]
pub struct UnknownControl(pub String);

impl Guardrails {
    /// Layers a component's spec over its policy's over Berth's defaults.
    pub fn from_specs(policy: Option<&GuardrailSpec>, component: Option<&GuardrailSpec>) -> Result<Guardrails, UnknownControl> {
        let mut rails = Guardrails::default();
        for spec in [policy, component].into_iter().flatten() {
            if let Some(kinds) = &spec.allowed_kinds {
                rails.allowed_kinds = kinds.iter().map(|k| GroupKind::parse(k)).collect();
            }
            if let Some(registries) = &spec.allowed_registries {
                rails.allowed_registries = Some(registries.iter().map(|r| normalise_prefix(r)).collect());
            }
            if let Some(allow) = spec.allow_rbac {
                rails.allow_rbac = allow;
            }
            if let Some(allow) = spec.allow_cluster_scoped {
                rails.allow_cluster_scoped = allow;
            }
            if let Some(relaxed) = &spec.relax_pod_security {
                rails.relaxed_pod_security = relaxed
                    .iter()
                    .map(|name| Control::from_name(name).ok_or_else(|| UnknownControl(name.clone())))
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(rails)
    }

    /// Checks every object; the first violation is returned.
    pub fn check(&self, objects: &[Map<String, Value>], scope: &Scope) -> Result<(), Violation> {
        objects.iter().try_for_each(|o| self.check_object(o, scope))
    }

    fn check_object(&self, object: &Map<String, Value>, scope: &Scope) -> Result<(), Violation> {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = object.pointer_str("/metadata/name");
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        // What goes into a message is bounded: the name and kind are the plugin's.
        let violation = |rule, detail: String| Violation {
            rule,
            kind: crate::names::truncate(kind, 63),
            name: crate::names::truncate(name, 253),
            detail,
        };
        let group_kind = GroupKind::of(api_version, kind);
        // Most specific rule first, so the error says the real reason.
        if group_kind.group.is_empty() && kind == "Secret" {
            return Err(violation(
                Rule::NoSecrets,
                "a plugin never returns a Secret; it declares the secrets it needs and the host generates them".to_owned(),
            ));
        }
        if !self.allow_cluster_scoped && CLUSTER_SCOPED_KINDS.contains(&kind) {
            return Err(violation(Rule::ClusterScoped, format!("{kind} is cluster-scoped")));
        }
        if !self.allow_rbac && group_kind.group == RBAC_GROUP {
            return Err(violation(Rule::Rbac, format!("{api_version} {kind} grants permissions")));
        }
        if !self.allowed_kinds.contains(&group_kind) {
            let allowed: Vec<String> = self.allowed_kinds.iter().map(ToString::to_string).collect();
            return Err(violation(Rule::AllowedKinds, format!("{api_version} {kind} is not one of [{}]", allowed.join(", "))));
        }
        if !crate::names::is_dns_subdomain(name) {
            return Err(violation(Rule::NameSpace, "the name is not a valid Kubernetes object name".to_owned()));
        }
        if !scope.names.iter().any(|prefix| in_name_space(name, prefix)) {
            return Err(violation(
                Rule::NameSpace,
                format!("the component's objects are named {} or start with one of them and a dash", scope.names.join(", ")),
            ));
        }
        for (at, pod) in pod_security::pod_specs(object) {
            pod_security::check_pod(pod, &self.relaxed_pod_security)
                .map_err(|breach| violation(Rule::PodSecurity(breach.control), format!("{at}: {}", breach.detail)))?;
            for image in images(pod) {
                self.check_image(image, scope).map_err(|detail| violation(Rule::AllowedRegistries, detail))?;
            }
        }
        Ok(())
    }

    fn check_image(&self, image: &str, scope: &Scope) -> Result<(), String> {
        if scope.images.contains(image) {
            return Ok(());
        }
        let prefixes = self.allowed_registries.as_ref().unwrap_or(&scope.registries);
        let normalised = normalise_image(image);
        if prefixes.iter().any(|prefix| has_prefix(&normalised, prefix)) {
            return Ok(());
        }
        Err(format!("image {image} is from none of [{}]", prefixes.join(", ")))
    }
}

/// `name` is `prefix` itself or `prefix-…`.
fn in_name_space(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The image prefix of a cluster's image source: `<registry>/<repository>`.
pub fn source_prefix(registry: &str, repository: &str) -> String {
    normalise_prefix(&format!("{}/{}", registry.trim_end_matches('/'), repository.trim_matches('/')))
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

/// Every image a pod pulls: its containers' (init and ephemeral too) and its image
/// volumes'. A container without an image is left to the API server to refuse.
fn images(pod: &Value) -> Vec<&str> {
    let mut found = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in pod.get(list).and_then(Value::as_array).into_iter().flatten() {
            found.extend(container.get("image").and_then(Value::as_str));
        }
    }
    for volume in pod.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        found.extend(volume.pointer("/image/reference").and_then(Value::as_str));
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
    if first.contains('.') || first.contains(':') || first == "localhost" { image.to_owned() } else { format!("docker.io/{first}/{rest}") }
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

    fn restricted_pod(image: &str) -> Value {
        json!({"automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": image,
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]})
    }

    fn deployment(image: &str) -> Map<String, Value> {
        object(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo-harbor-core"},
            "spec": {"template": {"spec": restricted_pod(image)}}}))
    }

    fn scope() -> Scope {
        Scope {
            names: vec!["demo-harbor-core".to_owned()],
            registries: vec![source_prefix("docker.io", "goharbor")],
            images: BTreeSet::from(["registry.example.com/custom/core:1".to_owned()]),
            host_secrets: vec!["demo-harbor-core".to_owned()],
        }
    }

    fn rule_of(rails: &Guardrails, o: Map<String, Value>) -> Option<Rule> {
        rails.check(&[o], &scope()).err().map(|v| v.rule)
    }

    fn named(api_version: &str, kind: &str) -> Map<String, Value> {
        object(json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "demo-harbor-core"}}))
    }

    #[test]
    fn defaults_allow_berths_kinds_and_refuse_rbac_and_cluster_scope() {
        let rails = Guardrails::default();
        assert_eq!(rule_of(&rails, deployment("goharbor/harbor-core:v2.14.0")), None);
        let role = named("rbac.authorization.k8s.io/v1", "Role");
        assert_eq!(rule_of(&rails, role.clone()), Some(Rule::Rbac));
        assert_eq!(rule_of(&rails, named("v1", "Namespace")), Some(Rule::ClusterScoped));
        assert_eq!(rule_of(&rails, named("rbac.authorization.k8s.io/v1", "ClusterRole")), Some(Rule::ClusterScoped));
        assert_eq!(rule_of(&rails, named("batch/v1", "CronJob")), Some(Rule::AllowedKinds));

        // Allowing RBAC still needs the kind to be allowed.
        let spec = GuardrailSpec { allow_rbac: Some(true), ..Default::default() };
        let rails = Guardrails::from_specs(None, Some(&spec)).unwrap_or_default();
        assert_eq!(rule_of(&rails, role.clone()), Some(Rule::AllowedKinds));
        let spec = GuardrailSpec { allow_rbac: Some(true), allowed_kinds: Some(vec!["Role".to_owned()]), ..Default::default() };
        assert_eq!(rule_of(&Guardrails::from_specs(None, Some(&spec)).unwrap_or_default(), role), None);
    }

    #[test]
    fn a_kind_is_its_group_and_its_name() {
        let rails = Guardrails::default();
        for (api_version, kind) in
            [("evil.example.com/v1", "Deployment"), ("v1", "Deployment"), ("apps/v1", "ConfigMap"), ("example.com/v1", "Service")]
        {
            assert_eq!(rule_of(&rails, named(api_version, kind)), Some(Rule::AllowedKinds), "{api_version} {kind}");
        }
        let spec = GuardrailSpec { allowed_kinds: Some(vec!["Cluster.postgresql.cnpg.io".to_owned()]), ..Default::default() };
        let rails = Guardrails::from_specs(None, Some(&spec)).unwrap_or_default();
        assert_eq!(rule_of(&rails, named("postgresql.cnpg.io/v1", "Cluster")), None);
        assert_eq!(rule_of(&rails, named("evil.example.com/v1", "Cluster")), Some(Rule::AllowedKinds));
    }

    #[test]
    fn secrets_are_refused_whatever_the_policy_allows() {
        let spec = GuardrailSpec { allowed_kinds: Some(vec!["Secret".to_owned()]), ..Default::default() };
        let rails = Guardrails::from_specs(None, Some(&spec)).unwrap_or_default();
        assert_eq!(rule_of(&rails, named("v1", "Secret")), Some(Rule::NoSecrets));
        assert_eq!(rule_of(&Guardrails::default(), named("v1", "Secret")), Some(Rule::NoSecrets));
    }

    #[test]
    fn names_stay_inside_the_components_name_space() {
        let rails = Guardrails::default();
        let named_as = |name: &str| object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}));
        assert_eq!(rule_of(&rails, named_as("demo-harbor-core")), None);
        assert_eq!(rule_of(&rails, named_as("demo-harbor-core-extra")), None);
        let long = format!("demo-harbor-core-{}", "x".repeat(1 << 20));
        for name in [
            "demo-harbor-corex",
            "demo-harbor-jobservice",
            "kube-root-ca.crt",
            "kubernetes",
            "demo-harbor",
            "demo-harbor-core-X",
            long.as_str(),
        ] {
            assert_eq!(rule_of(&rails, named_as(name)), Some(Rule::NameSpace), "{name}");
        }
    }

    #[test]
    fn pods_must_be_restricted_unless_a_policy_relaxes_the_control() {
        let mut privileged = deployment("goharbor/harbor-core:v2");
        privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
        assert_eq!(rule_of(&Guardrails::default(), privileged.clone()), Some(Rule::PodSecurity(Control::Privileged)));
        let spec = GuardrailSpec { relax_pod_security: Some(vec!["privileged".to_owned()]), ..Default::default() };
        assert_eq!(rule_of(&Guardrails::from_specs(None, Some(&spec)).unwrap_or_default(), privileged), None);
        let unknown = GuardrailSpec { relax_pod_security: Some(vec!["everything".to_owned()]), ..Default::default() };
        assert_eq!(Guardrails::from_specs(None, Some(&unknown)), Err(UnknownControl("everything".to_owned())));
    }

    #[test]
    fn images_come_from_the_clusters_source_or_the_spec_by_default() {
        let rails = Guardrails::default();
        assert_eq!(rule_of(&rails, deployment("docker.io/goharbor/harbor-core:v2")), None);
        assert_eq!(rule_of(&rails, deployment("registry.example.com/custom/core:1")), None);
        assert_eq!(rule_of(&rails, deployment("evil.example.com/miner:1")), Some(Rule::AllowedRegistries));
        assert_eq!(rule_of(&rails, deployment("nginx")), Some(Rule::AllowedRegistries));
        // Init containers and image volumes are images too.
        let mut init = deployment("goharbor/harbor-core:v2");
        init["spec"]["template"]["spec"]["initContainers"] = restricted_pod("evil.example.com/x:1")["containers"].clone();
        assert_eq!(rule_of(&rails, init), Some(Rule::AllowedRegistries));
        let mut volume = deployment("goharbor/harbor-core:v2");
        volume["spec"]["template"]["spec"]["volumes"] = json!([{"name": "v", "image": {"reference": "evil.example.com/data:1"}}]);
        assert_eq!(rule_of(&rails, volume), Some(Rule::AllowedRegistries));
    }

    #[test]
    fn registries_match_on_path_boundaries_after_normalising() {
        let spec = GuardrailSpec {
            allowed_registries: Some(vec!["goharbor".to_owned(), "registry.example.com/mirror/".to_owned()]),
            ..Default::default()
        };
        let rails = Guardrails::from_specs(Some(&spec), None).unwrap_or_default();
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
        let rails = Guardrails::from_specs(Some(&policy), Some(&component)).unwrap_or_default();
        assert!(rails.allowed_kinds.contains(&GroupKind::parse("NetworkPolicy")));
        assert!(!rails.allowed_kinds.contains(&GroupKind::parse("ConfigMap")));
    }

    #[test]
    fn a_violation_names_rule_and_object() {
        let pod = object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
        let v = Guardrails::default().check(&[deployment("goharbor/x:1"), pod], &scope());
        let message = v.err().map(|v| v.to_string()).unwrap_or_default();
        assert!(message.contains("allowedKinds") && message.contains("Pod/p"), "{message}");
    }
}
