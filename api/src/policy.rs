//! The `PluginPolicy` resource (`berth.dev/v1alpha1`, cluster-scoped): which plugin
//! renders which component, from where, under which limits and guardrails, and how a new
//! version rolls out. Several policies may exist (a vendor ships its own); a component
//! belongs to the first policy by name that lists it. Only the host reads it, so its
//! types refuse unknown fields outright.

use crate::status::StatusCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "PluginPolicy",
    plural = "pluginpolicies",
    status = "PluginPolicyStatus",
    printcolumn = r#"{"name":"Components","type":"string","jsonPath":".status.summary"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginPolicySpec {
    /// Guardrails for every component of this policy that sets none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailSpec>,
    /// Signatures every OCI-sourced version of this policy must carry, unless a
    /// component sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<SignaturePolicySpec>,
    /// One entry per component this policy governs.
    #[serde(default)]
    pub components: Vec<ComponentPolicySpec>,
}

/// Which plugin renders one component.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentPolicySpec {
    /// The component: one Berth renders ("core", "portal", ...) or a new one a vendor
    /// plugin adds ("network-policy").
    pub component: String,
    /// The versions available. Each is verified against its digest before it is used.
    #[serde(default)]
    pub versions: Vec<PluginVersionSpec>,
    /// The version every cluster gets unless pinned or chosen as a canary. Absent: the
    /// plugin bundled with the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// A new version applied to some clusters first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// Per Harbor minor ("2.15"), the version (one of `versions`) that renders clusters
    /// running it, in place of `stable` and any rollout; a cluster's pin still wins. A
    /// renderer per Harbor release: during an upgrade the old version renders with one
    /// plugin and the target with another. The plugin must say it renders that minor.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub harbor_versions: std::collections::BTreeMap<String, String>,
    /// Guardrails on this component's output (default: the policy's, then Berth's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailSpec>,
    /// For a component Berth does not render itself: the HarborClusters that get it
    /// (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// Signatures this component's versions must carry (default: the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<SignaturePolicySpec>,
}

/// One plugin version and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginVersionSpec {
    /// The version the plugin's `describe` must report.
    pub version: String,
    /// The name the plugin's `describe` must report (not checked when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// sha256 of the .wasm, "sha256:<64 hex digits>". Required for every source but
    /// `bundled`, whose digest the operator already knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: Option<String>,
    pub source: PluginSource,
    /// Limits of one render (default: Berth's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSpec>,
}

/// Where a plugin's .wasm is. Exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSource {
    /// The plugin for this component bundled in the operator image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled: Option<BundledSource>,
    /// A file in the operator's plugin directory (a name, never a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
    /// A key of a ConfigMap's binaryData: the .wasm, or it gzip-compressed when the key
    /// ends in ".gz" (a ConfigMap holds at most 1 MiB). The ConfigMap must carry the
    /// label `berth.dev/plugin-source` so the operator notices when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapSource>,
    /// An OCI artifact in a registry (the Wasm OCI artifact layout: config
    /// `application/vnd.wasm.config.v0+json`, one `application/wasm` layer). The
    /// version's `digest` is still checked against the .wasm: a tag moved to other bytes
    /// is refused, never followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OciSource {
    /// "registry/repository:tag" or "registry/repository@sha256:<manifest digest>".
    pub reference: String,
    /// A `kubernetes.io/dockerconfigjson` Secret with the registry's credentials
    /// (default: anonymous pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<SecretRef>,
    /// Plain HTTP instead of HTTPS (a registry on a private network or loopback).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

/// Which signatures a plugin version must carry before it is used: cosign keyed
/// signatures over the artifact's manifest digest, stored as cosign stores them (the
/// `sha256-<digest>.sig` tag beside the artifact).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignaturePolicySpec {
    /// Refuse a version no listed key signed. Only `oci` sources carry signatures: with
    /// this set, `file` and `configMap` sources are refused; `bundled` plugins ship
    /// inside the operator image and are trusted as it is.
    #[serde(default)]
    pub required: bool,
    /// Public keys (PEM, as `cosign generate-key-pair` or `berth plugins keygen` writes
    /// them); a signature by any one of them is enough.
    #[serde(default)]
    pub keys: Vec<SignatureKeySpec>,
}

/// One public key: inline, or a key of a Secret. Exactly one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureKeySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundledSource {}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigMapSource {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// Limits of one render; each absent field keeps Berth's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<u32>,
}

/// A new version for some clusters: those matching `selector`, plus `percent` of all
/// clusters chosen by a stable hash of their uid. The rest stay on `stable`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutSpec {
    /// One of `versions`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// 0 to 100.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub percent: u8,
    /// Canary clusters whose render fails (error, timeout, guardrail) before the rollout
    /// is stopped and they go back to `stable`. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
}

/// Rules every object a plugin returns must pass before anything of its component is
/// applied. Each absent field keeps the default: Berth's kinds, the cluster's own image
/// source, no RBAC, nothing cluster-scoped, every Restricted pod-security control. Always,
/// whatever the policy says: no Secrets, names inside the component's name space, and
/// the namespace forced to the HarborCluster's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailSpec {
    /// Kinds the component may return ("Deployment", "NetworkPolicy", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_kinds: Option<Vec<String>>,
    /// Registries (and optional repository prefixes) images may come from, e.g.
    /// "docker.io/goharbor" or "registry.example.com". Absent: the HarborCluster's
    /// `imageSource` registry and repository, and images its spec names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_registries: Option<Vec<String>>,
    /// Whether Role, RoleBinding, ClusterRole and ClusterRoleBinding are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "allowRBAC")]
    pub allow_rbac: Option<bool>,
    /// Whether cluster-scoped kinds (Namespace, ClusterRole, ...) are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cluster_scoped: Option<bool>,
    /// Pod-security controls this component's pods need not meet (each one named:
    /// hostNamespaces, privileged, capabilities, hostPathVolumes, volumeTypes, hostPorts,
    /// appArmor, seLinux, procMount, seccomp, sysctls, privilegeEscalation, runAsNonRoot,
    /// runAsUser, nodeName, tolerations, serviceAccountToken). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relax_pod_security: Option<Vec<String>>,
}

/// What the operator made of the policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// "N components, M rollouts" for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<StatusCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentPolicyStatus>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentPolicyStatus {
    pub component: String,
    /// What renders it for clusters that are neither pinned nor canaries:
    /// "name@version sha256:…".
    #[serde(default)]
    pub stable: String,
    /// Versions verified and ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ready_versions: Vec<String>,
    /// Versions refused, and why. A refused version never replaces a working one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusedVersion {
    pub version: String,
    /// A stable reason: DigestMismatch, CompileFailed, ForbiddenImport, Unsigned,
    /// UnknownKey, BadSignature, RegistryUnreachable, ArtifactTooLarge, ...
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub version: String,
    /// The digest rolled out, so a rollback is remembered for exactly this plugin.
    #[serde(default)]
    pub digest: String,
    /// Progressing, RolledBack or Blocked (the version is not ready).
    pub phase: String,
    /// Canary clusters whose render failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_clusters: Vec<String>,
    #[serde(default)]
    pub message: String,
}

pub const ROLLOUT_PROGRESSING: &str = "Progressing";
pub const ROLLOUT_ROLLED_BACK: &str = "RolledBack";
pub const ROLLOUT_BLOCKED: &str = "Blocked";

/// Label a ConfigMap plugin source carries, so the operator watches only those.
pub const PLUGIN_SOURCE_LABEL: &str = "berth.dev/plugin-source";
