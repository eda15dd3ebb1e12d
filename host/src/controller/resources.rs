//! The child kinds the controller manages, mapped statically to API resources: no
//! discovery round trip per reconcile, and a rendered kind outside this table is a
//! component error rather than a surprise write.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

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

    /// Drops what no reconcile reads of a live child of this kind before it is kept in a
    /// watch cache or a [`super::live::Live`], so the caches grow with the fleet by
    /// metadata and status rather than by whole manifests:
    /// - every kind: `managedFields` (ownership is decided by owner references and labels),
    ///   its uid and creation time, every label but Berth's own (`berth.dev/`: cluster,
    ///   component, generated, upgrade; the chart's and `app.kubernetes.io/` labels are
    ///   for selectors and people, never read back), and every annotation but the three a
    ///   reconcile reads (the applied hash, the token key's format, the adoption mark): the rest (plugin,
    ///   digest, config checksums, a chart's last-applied configuration) is what was
    ///   applied, which the hash stands for;
    /// - a Deployment or StatefulSet: its spec but for replicas, the fields that cannot
    ///   change (selector, service name, pod management policy and claim templates, kept
    ///   as they are when re-applied) and each container's name and image (the upgrade's
    ///   health gate compares them), and its status but for the replica counts;
    /// - any other kind: its whole body (a ConfigMap's or a Secret's data included: the
    ///   token-key conversion, the one reader of a Secret's values, reads the Secret
    ///   from the API server when its annotation says to).
    ///
    /// By this kind, not the object's own apiVersion and kind: items of a LIST carry none.
    pub fn lean(&self, object: &mut DynamicObject) {
        object.metadata.managed_fields = None;
        if let Some(labels) = object.metadata.labels.as_mut() {
            labels.retain(|key, _| key.starts_with(BERTH_LABELS));
        }
        if let Some(annotations) = object.metadata.annotations.as_mut() {
            annotations.retain(|key, _| READ_ANNOTATIONS.contains(&key.as_str()));
        }
        (object.metadata.uid, object.metadata.creation_timestamp) = (None, None);
        let Some(fields) = object.data.as_object_mut() else { return };
        match (self.group, self.kind) {
            ("apps", "Deployment" | "StatefulSet") => {
                fields.retain(|key, _| matches!(key.as_str(), "spec" | "status"));
                if let Some(spec) = fields.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.retain(|key, _| {
                        matches!(
                            key.as_str(),
                            "replicas" | "selector" | "volumeClaimTemplates" | "template" | "serviceName" | "podManagementPolicy"
                        )
                    });
                    if let Some(template) = spec.get_mut("template") {
                        *template = lean_template(template);
                    }
                }
                if let Some(status) = fields.get_mut("status").and_then(Value::as_object_mut) {
                    status.retain(|key, _| WORKLOAD_STATUS.contains(&key.as_str()));
                }
            }
            // Nothing else of a child's body is read: its metadata says whose it is, and
            // the applied hash whether it is current.
            _ => fields.clear(),
        }
    }
}

/// The replica counts a workload's status is read for (readiness, the upgrade's gates).
const WORKLOAD_STATUS: [&str; 5] = ["observedGeneration", "replicas", "readyReplicas", "updatedReplicas", "availableReplicas"];

/// The prefix of the labels a reconcile reads off a live child.
const BERTH_LABELS: &str = "berth.dev/";

/// The annotations a reconcile reads off a live child.
const READ_ANNOTATIONS: [&str; 3] =
    [super::apply::APPLIED_HASH_ANNOTATION, crate::secrets::KEY_FORMAT_ANNOTATION, super::adopt::ADOPTED_ANNOTATION];

/// A pod template reduced to its containers' names and images.
fn lean_template(template: &Value) -> Value {
    let containers: Vec<Value> = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| serde_json::json!({"name": c.get("name"), "image": c.get("image")}))
        .collect();
    serde_json::json!({"spec": {"containers": containers}})
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

    fn kind(kind: &str) -> &'static ChildKind {
        child_kind("v1", kind).unwrap_or_else(|| panic!("{kind} is a child kind"))
    }

    fn live(kind: &str, data: serde_json::Value) -> DynamicObject {
        let mut value = serde_json::json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": "x", "resourceVersion": "7",
                         "labels": {"berth.dev/cluster": "demo", "app.kubernetes.io/name": "harbor", "heritage": "Helm"},
                         "annotations": {"berth.dev/applied-hash": "sha256:1", "berth.dev/plugin-digest": "sha256:2",
                                         "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                         "managedFields": [{"manager": "berth", "operation": "Apply"}]},
        });
        if let (Some(object), Some(extra)) = (value.as_object_mut(), data.as_object()) {
            object.extend(extra.clone());
        }
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_lean_config_map_keeps_its_metadata_but_not_its_data() {
        let mut object = live("ConfigMap", serde_json::json!({"data": {"config.yml": "big"}, "binaryData": {"b": "AA=="}}));
        object.types = None;
        kind("ConfigMap").lean(&mut object);
        assert!(object.metadata.managed_fields.is_none());
        // Of the labels, Berth's own.
        let labels: Vec<&String> = object.metadata.labels.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(labels, ["berth.dev/cluster"]);
        // Of the annotations, only what a reconcile reads.
        let annotations: Vec<&String> = object.metadata.annotations.iter().flatten().map(|(k, _)| k).collect();
        assert_eq!(annotations, ["berth.dev/applied-hash"]);
        assert!(object.data.get("data").is_none() && object.data.get("binaryData").is_none());
    }

    #[test]
    fn a_lean_workload_keeps_what_status_upgrades_and_claim_templates_read() {
        let mut object: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "generation": 3, "managedFields": [{"manager": "berth"}]},
            "spec": {
                "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"c": "db"}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                "template": {"metadata": {"labels": {"c": "db"}}, "spec": {
                    "containers": [{"name": "db", "image": "harbor-db:v2.15.1", "env": [{"name": "A", "value": "b"}]}],
                    "volumes": [{"name": "data"}]}},
            },
            "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 3,
                       "conditions": [{"type": "Available", "message": "a long sentence", "lastTransitionTime": "2026-12-01T00:00:00Z"}]},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        child_kind("apps/v1", "StatefulSet").unwrap_or_else(|| panic!("a child kind")).lean(&mut object);
        assert_eq!(
            object.data,
            serde_json::json!({
                "spec": {
                    "replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"c": "db"}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
                    "template": {"spec": {"containers": [{"name": "db", "image": "harbor-db:v2.15.1"}]}},
                },
                "status": {"replicas": 1, "readyReplicas": 1, "observedGeneration": 3},
            })
        );
        assert_eq!(object.metadata.generation, Some(3));
        assert!(object.metadata.managed_fields.is_none());
    }

    #[test]
    fn a_lean_secret_or_service_keeps_its_metadata_alone() {
        let mut secret = live("Secret", serde_json::json!({"type": "Opaque", "data": {"tls.key": "AA=="}}));
        secret.metadata.uid = Some("u".to_owned());
        kind("Secret").lean(&mut secret);
        assert_eq!(secret.data, serde_json::json!({}));
        assert!(secret.metadata.managed_fields.is_none() && secret.metadata.uid.is_none());
        // What prune, the render cache and the conversion read stays.
        assert!(secret.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("berth.dev/applied-hash")));
        assert_eq!(secret.metadata.resource_version.as_deref(), Some("7"));

        let mut service = live("Service", serde_json::json!({"spec": {"ports": [{"port": 80}], "clusterIP": "10.0.0.1"}}));
        kind("Service").lean(&mut service);
        assert_eq!(service.data, serde_json::json!({}));
        assert_eq!(service.metadata.labels.as_ref().and_then(|l| l.get("berth.dev/cluster")).map(String::as_str), Some("demo"));
    }
}
