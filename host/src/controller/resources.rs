//! The child kinds the controller manages, mapped statically to API resources: no
//! discovery round trip per reconcile, and a rendered kind outside this table is a
//! component error rather than a surprise write.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

/// One child kind: an entry of the component table's kind list.
pub use crate::components::Kind as ChildKind;

/// Every kind the controller applies, watches and prunes, in apply order.
pub const CHILD_KINDS: &[ChildKind] = crate::components::KINDS;

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
    }
}
