//! The child kinds the controller manages, mapped statically to API resources: no
//! discovery round trip per reconcile, and a rendered kind outside this table is a
//! component error rather than a surprise write.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

/// One child kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Whether objects of this kind may be pruned. PersistentVolumeClaims hold data and
    /// are never pruned (nor owned).
    pub prunable: bool,
}

/// Every kind a bundled renderer produces, and NetworkPolicy for vendor plugins that
/// lock traffic down, in apply order (what others use first).
pub const CHILD_KINDS: &[ChildKind] = &[
    ChildKind { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", prunable: true },
    ChildKind { group: "", version: "v1", kind: "Secret", plural: "secrets", prunable: true },
    ChildKind { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", prunable: true },
    ChildKind { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", prunable: false },
    ChildKind { group: "", version: "v1", kind: "Service", plural: "services", prunable: true },
    ChildKind { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", prunable: true },
    ChildKind { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", prunable: true },
    ChildKind { group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", prunable: true },
    ChildKind { group: "gateway.networking.k8s.io", version: "v1", kind: "HTTPRoute", plural: "httproutes", prunable: true },
];

impl ChildKind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_owned() } else { format!("{}/{}", self.group, self.version) }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(self.group, self.version, self.kind), self.plural)
    }

    pub fn api(&self, client: &Client, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), namespace, &self.api_resource())
    }
}

/// The table entry for a rendered object's apiVersion and kind.
pub fn child_kind(api_version: &str, kind: &str) -> Option<&'static ChildKind> {
    CHILD_KINDS.iter().find(|k| k.kind == kind && k.api_version() == api_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_by_api_version_and_kind() {
        assert_eq!(child_kind("apps/v1", "Deployment").map(|k| k.plural), Some("deployments"));
        assert_eq!(child_kind("v1", "Service").map(|k| k.plural), Some("services"));
        assert!(child_kind("extensions/v1beta1", "Ingress").is_none());
        assert!(child_kind("rbac.authorization.k8s.io/v1", "Role").is_none());
        assert!(CHILD_KINDS.iter().filter(|k| !k.prunable).all(|k| k.kind == "PersistentVolumeClaim"));
    }
}
