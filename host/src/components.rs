//! The components Berth renders itself, declared once. Everything that used to be a list
//! of its own is derived from [`BUNDLED`]: the endpoints and images of the topology, the
//! built-in component names, which components a spec enables, the names each may give
//! its objects, and the kinds the bundled plugins may return (the default guardrail).
//! [`KINDS`] is the one list of kinds the controller applies, watches and prunes, in
//! apply order.
//!
//! The table lives in the host, not in each plugin's `describe`: the host needs it before
//! any plugin runs (the topology every plugin receives is built from it), and what a
//! component may produce is a security decision that must not come from the plugin.

use berth_api::spec::{HarborClusterSpec, Placement};

/// One component Berth renders with a bundled plugin.
pub struct BundledComponent {
    /// The component's name, e.g. "portal"; the bundled plugin's `describe` names it.
    pub name: &'static str,
    /// Whether a spec enables it.
    pub enabled: fn(&HarborClusterSpec) -> bool,
    /// The Services it serves (registry serves registryctl too; expose serves nginx).
    pub endpoints: &'static [Endpoint],
    /// Suffixes after `<fullname>-` its objects may be named with besides its own name.
    pub name_suffixes: &'static [&'static str],
    /// A name the spec gives one of its objects, if any.
    pub named_by_spec: fn(&HarborClusterSpec) -> Option<&str>,
    /// Kinds its plugin may return.
    pub kinds: &'static [&'static str],
}

/// How one component is reached, as the Harbor Helm chart names it.
pub struct Endpoint {
    /// The component name other components know it by, e.g. "registryctl".
    pub component: &'static str,
    /// Suffix of the Service name after `<fullname>-`.
    pub service: &'static str,
    pub service_port: u16,
    pub container_port: u16,
    /// Whether the chart's URL for it carries the port.
    pub url_with_port: bool,
    /// (container, image name under the repository)
    pub images: &'static [(&'static str, &'static str)],
}

fn always(_: &HarborClusterSpec) -> bool {
    true
}

fn no_name(_: &HarborClusterSpec) -> Option<&str> {
    None
}

/// Every component Berth renders itself, in render order.
pub const BUNDLED: &[BundledComponent] = &[
    BundledComponent {
        name: "core",
        enabled: always,
        endpoints: &[Endpoint {
            component: "core",
            service: "core",
            service_port: 80,
            container_port: 8080,
            url_with_port: true,
            images: &[("core", "harbor-core")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        // The Job is an upgrade's schema migration (a task render).
        kinds: &["ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "Job"],
    },
    BundledComponent {
        name: "jobservice",
        enabled: always,
        endpoints: &[Endpoint {
            component: "jobservice",
            service: "jobservice",
            service_port: 80,
            container_port: 8080,
            url_with_port: false,
            images: &[("jobservice", "harbor-jobservice")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "PodDisruptionBudget"],
    },
    BundledComponent {
        name: "portal",
        enabled: always,
        endpoints: &[Endpoint {
            component: "portal",
            service: "portal",
            service_port: 80,
            container_port: 8080,
            url_with_port: false,
            images: &[("portal", "harbor-portal")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["ConfigMap", "Service", "Deployment", "PodDisruptionBudget"],
    },
    BundledComponent {
        name: "registry",
        enabled: always,
        endpoints: &[
            Endpoint {
                component: "registry",
                service: "registry",
                service_port: 5000,
                container_port: 5000,
                url_with_port: true,
                images: &[("registry", "registry-photon"), ("registryctl", "harbor-registryctl")],
            },
            Endpoint {
                component: "registryctl",
                service: "registry",
                service_port: 8080,
                container_port: 8080,
                url_with_port: true,
                images: &[("registryctl", "harbor-registryctl")],
            },
        ],
        name_suffixes: &["registryctl"],
        named_by_spec: no_name,
        kinds: &["ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "PodDisruptionBudget"],
    },
    BundledComponent {
        name: "trivy",
        enabled: |spec| spec.trivy.enabled,
        endpoints: &[Endpoint {
            component: "trivy",
            service: "trivy",
            service_port: 8080,
            container_port: 8080,
            url_with_port: true,
            images: &[("trivy", "trivy-adapter-photon")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["Service", "StatefulSet", "PodDisruptionBudget"],
    },
    BundledComponent {
        name: "exporter",
        enabled: |spec| spec.metrics.enabled,
        endpoints: &[Endpoint {
            component: "exporter",
            service: "exporter",
            service_port: 8001,
            container_port: 8001,
            url_with_port: true,
            images: &[("exporter", "harbor-exporter")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["ConfigMap", "Service", "Deployment", "PodDisruptionBudget"],
    },
    BundledComponent {
        name: "database",
        enabled: |spec| spec.database.type_ == Placement::Internal,
        endpoints: &[Endpoint {
            component: "database",
            service: "database",
            service_port: 5432,
            container_port: 5432,
            url_with_port: true,
            images: &[("database", "harbor-db")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["Service", "StatefulSet"],
    },
    BundledComponent {
        name: "redis",
        enabled: |spec| spec.redis.type_ == Placement::Internal,
        endpoints: &[Endpoint {
            component: "redis",
            service: "redis",
            service_port: 6379,
            container_port: 6379,
            url_with_port: true,
            images: &[("redis", "redis-photon")],
        }],
        name_suffixes: &[],
        named_by_spec: no_name,
        kinds: &["Service", "StatefulSet"],
    },
    BundledComponent {
        name: "expose",
        enabled: always,
        endpoints: &[Endpoint {
            component: "nginx",
            service: "nginx",
            service_port: 80,
            container_port: 8080,
            url_with_port: false,
            images: &[("nginx", "nginx-photon")],
        }],
        name_suffixes: &["nginx", "ingress", "route"],
        // The user-facing Service, `harbor` by default as in the chart.
        named_by_spec: |spec| Some(&spec.expose.service.name),
        kinds: &["ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "Ingress", "HTTPRoute"],
    },
    BundledComponent {
        name: "backup",
        enabled: |spec| spec.backup.is_some(),
        // Its Jobs run the database's image (see the database endpoint); it serves nothing.
        endpoints: &[],
        // `<fullname>-backup` (its claim and backup Jobs) and `<fullname>-restore-*`.
        name_suffixes: &["restore"],
        named_by_spec: no_name,
        kinds: &["PersistentVolumeClaim", "Job", "VolumeSnapshot"],
    },
];

/// A kind the controller manages, mapped statically to its API resource: no discovery
/// round trip per reconcile, and a rendered kind outside this list is a component error
/// rather than a surprise write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Whether objects of this kind may be pruned. PersistentVolumeClaims hold data and
    /// are never pruned (nor owned).
    pub prunable: bool,
}

/// Every kind Berth applies, in apply order (what others use first, as Helm installs):
/// what the bundled components return, and NetworkPolicy for vendor plugins that lock
/// traffic down.
pub const KINDS: &[Kind] = &[
    Kind { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", prunable: true },
    Kind { group: "", version: "v1", kind: "Secret", plural: "secrets", prunable: true },
    Kind { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", prunable: true },
    Kind { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", prunable: false },
    Kind { group: "", version: "v1", kind: "Service", plural: "services", prunable: true },
    Kind { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", prunable: true },
    Kind { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", prunable: true },
    // One per component running more than one replica.
    Kind { group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", prunable: true },
    Kind { group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", prunable: true },
    Kind { group: "gateway.networking.k8s.io", version: "v1", kind: "HTTPRoute", plural: "httproutes", prunable: true },
    // Only the backup component's task renders return Jobs; those belong to their
    // HarborBackup or HarborRestore, not to the cluster, so pruning never meets them.
    Kind { group: "batch", version: "v1", kind: "Job", plural: "jobs", prunable: true },
    // The registry's claim snapshotted beside a backup; owned by its HarborBackup too.
    Kind { group: "snapshot.storage.k8s.io", version: "v1", kind: "VolumeSnapshot", plural: "volumesnapshots", prunable: true },
];

/// The bundled component of this name.
pub fn bundled(name: &str) -> Option<&'static BundledComponent> {
    BUNDLED.iter().find(|c| c.name == name)
}

/// Whether Berth renders this component itself (a vendor's is not).
pub fn is_bundled(name: &str) -> bool {
    bundled(name).is_some()
}

/// The bundled components a spec enables, in render order.
pub fn enabled(spec: &HarborClusterSpec) -> Vec<&'static str> {
    BUNDLED.iter().filter(|c| (c.enabled)(spec)).map(|c| c.name).collect()
}

/// Every endpoint of every bundled component.
pub fn endpoints() -> impl Iterator<Item = &'static Endpoint> {
    BUNDLED.iter().flat_map(|c| c.endpoints)
}

/// The kinds any bundled plugin may return, in apply order: the default guardrail.
pub fn bundled_kinds() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).filter(|kind| BUNDLED.iter().any(|c| c.kinds.contains(kind))).collect()
}

/// Where an object of this kind goes in the apply order (unknown kinds last).
pub fn apply_rank(kind: &str) -> usize {
    KINDS.iter().position(|k| k.kind == kind).unwrap_or(KINDS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_kind_is_one_the_controller_applies() {
        for component in BUNDLED {
            for kind in component.kinds {
                assert!(KINDS.iter().any(|k| k.kind == *kind), "{} returns {kind}, which the controller does not apply", component.name);
            }
        }
        assert!(KINDS.iter().filter(|k| !k.prunable).all(|k| k.kind == "PersistentVolumeClaim"));
    }

    #[test]
    fn names_and_endpoints_are_unique() {
        let mut names: Vec<&str> = BUNDLED.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BUNDLED.len());
        let mut served: Vec<&str> = endpoints().map(|e| e.component).collect();
        served.sort_unstable();
        served.dedup();
        assert_eq!(served.len(), endpoints().count());
    }

    #[test]
    fn every_kind_berth_applies_is_named_by_the_guardrails_in_its_own_group() {
        for kind in KINDS {
            let parsed = crate::policy::guardrails::GroupKind::parse(kind.kind);
            assert_eq!((parsed.kind.as_str(), parsed.group.as_str()), (kind.kind, kind.group), "{}", kind.kind);
        }
    }

    #[test]
    fn the_default_guardrail_allows_what_the_bundled_plugins_return_and_no_secret() {
        assert_eq!(
            bundled_kinds(),
            [
                "ConfigMap",
                "PersistentVolumeClaim",
                "Service",
                "Deployment",
                "StatefulSet",
                "PodDisruptionBudget",
                "Ingress",
                "HTTPRoute",
                "Job",
                "VolumeSnapshot"
            ]
        );
    }
}
