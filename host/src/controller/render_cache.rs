//! What a settled cluster's last full reconcile produced, so the next one with the same
//! inputs neither calls a plugin nor writes: at a fleet's size, re-rendering every
//! cluster on every resync is most of the operator's CPU.
//!
//! A render is a function of the cluster's name, namespace, uid and spec (as rendered:
//! an upgrade or a restore may change it) and of the plan (each component's plugin
//! digest, selection and guardrails). The generated Secrets feed no render, but a
//! reconcile reacts to them (a Secret replaced by hand may need its token key converted,
//! one deleted is recreated), so their resourceVersions are part of the key too.
//!
//! An entry holds no rendered object, only (kind, name, applied hash) of each: a few
//! hundred bytes per object. The skip needs every one of them live with that hash and
//! unchanged since applied (the same test [`super::apply`] uses to skip a PATCH), and
//! nothing to prune; anything else takes the full path, which renders.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use super::apply::{self, AppliedCache};
use super::live::Live;
use super::prune;
use super::resources::ChildKind;
use super::status::ComponentReport;
use super::steps::Cluster;
use crate::policy::Guardrails;
use crate::policy::{RenderPlan, SelectionError};
use crate::sandbox::Digest;

/// Everything a render reads, in a form cheap to keep and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// sha256 over name, namespace, uid and the spec as rendered.
    cluster: [u8; 32],
    plan: Vec<(String, Result<PlannedKey, SelectionError>)>,
}

/// What of a component's plan can change its render or its report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedKey {
    digest: Digest,
    selection: String,
    guardrails: Arc<Guardrails>,
}

impl Inputs {
    pub fn of(cluster: &Cluster<'_>, plan: &RenderPlan) -> Inputs {
        let mut hasher = Sha256::new();
        for part in [cluster.name, cluster.namespace, cluster.uid.as_str()] {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        // A spec that does not serialise cannot have rendered; it can only miss.
        hasher.update(serde_json::to_vec(&cluster.hc.spec).unwrap_or_default());
        let plan = plan
            .components
            .iter()
            .map(|(component, planned)| {
                let key = planned.as_ref().map_err(Clone::clone).map(|p| PlannedKey {
                    digest: p.plugin.digest(),
                    selection: p.selection.to_string(),
                    guardrails: Arc::clone(&p.guardrails),
                });
                (component.clone(), key)
            })
            .collect();
        Inputs { cluster: hasher.finalize().into(), plan }
    }
}

/// A cluster whose last reconcile rendered, applied every component and pruned.
#[derive(Debug)]
pub struct Settled {
    pub inputs: Inputs,
    /// Each generated Secret's resourceVersion, as the reconcile found it.
    pub secrets: BTreeMap<String, String>,
    /// (kind, name, applied hash) of every object rendered.
    pub objects: Vec<(&'static ChildKind, String, String)>,
    /// What status reports of each component.
    pub reports: Vec<ComponentReport>,
}

impl Settled {
    /// Whether the live children are exactly what this entry applied: every object
    /// there with its hash and untouched since, every generated Secret at the version
    /// recorded, and nothing left to prune.
    pub fn still_applied(&self, applied: &AppliedCache, cluster: &Cluster<'_>, live: &Live) -> bool {
        let secrets_same = self.secrets.iter().all(|(name, version)| {
            live.get("Secret", name).and_then(|s| s.metadata.resource_version.as_ref()).is_some_and(|rv| rv == version)
        });
        if !secrets_same {
            return false;
        }
        if !self.objects.iter().all(|(kind, name, hash)| apply::up_to_date(live, applied, cluster.namespace, kind, name, hash)) {
            return false;
        }
        let desired: BTreeSet<(String, String)> = self.objects.iter().map(|(k, n, _)| (k.kind.to_owned(), n.clone())).collect();
        let generated: BTreeSet<String> = self.secrets.keys().cloned().collect();
        prune::candidates(live, &cluster.uid, &desired, &BTreeSet::new(), &generated).is_empty()
    }
}

/// The settled clusters, by "namespace/name".
#[derive(Debug, Default)]
pub struct RenderCache(Mutex<HashMap<String, Arc<Settled>>>);

impl RenderCache {
    /// The entry for this cluster if it was made from the same inputs.
    pub fn lookup(&self, key: &str, inputs: &Inputs) -> Option<Arc<Settled>> {
        let entries = self.0.lock().ok()?;
        entries.get(key).filter(|s| s.inputs == *inputs).cloned()
    }

    pub fn remember(&self, key: String, settled: Settled) {
        if let Ok(mut entries) = self.0.lock() {
            entries.insert(key, Arc::new(settled));
        }
    }

    /// The next reconcile renders.
    pub fn forget(&self, key: &str) {
        if let Ok(mut entries) = self.0.lock() {
            entries.remove(key);
        }
    }
}

/// The resourceVersion of each generated Secret, if every one of them is live (one
/// created just now, or an adopted chart's that carries no Berth label, is not: such a
/// cluster is not settled yet).
pub fn secret_versions(names: impl IntoIterator<Item = String>, live: &Live) -> Option<BTreeMap<String, String>> {
    names
        .into_iter()
        .map(|name| {
            let version = live.get("Secret", &name)?.metadata.resource_version.clone()?;
            Some((name, version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::fixtures::{self, NAME, NAMESPACE, UID};
    use crate::policy::{ClusterFacts, Snapshot};
    use kube::Resource as _;
    use kube::api::DynamicObject;

    fn plan(hc: &crate::controller::HarborCluster) -> RenderPlan {
        let labels = Default::default();
        Snapshot::bundled(fixtures::catalog()).plan(&ClusterFacts { uid: UID, labels: &labels, spec: &hc.spec })
    }

    fn inputs(hc: &crate::controller::HarborCluster, plan: &RenderPlan) -> Inputs {
        let uid = hc.metadata.uid.clone().unwrap_or_default();
        let owner = hc.controller_owner_ref(&()).unwrap_or_else(|| panic!("no owner reference"));
        Inputs::of(&Cluster { hc, namespace: NAMESPACE, name: NAME, uid, owner }, plan)
    }

    #[test]
    fn the_inputs_follow_the_spec_the_uid_and_the_plan() {
        let hc = fixtures::cluster();
        let base = inputs(&hc, &plan(&hc));
        assert_eq!(base, inputs(&hc, &plan(&hc)), "the same cluster and plan make the same key");

        let mut scaled = hc.clone();
        scaled.spec.core.replicas = Some(2);
        assert_ne!(base, inputs(&scaled, &plan(&scaled)), "a spec change");

        let mut recreated = hc.clone();
        recreated.metadata.uid = Some("another-uid".to_owned());
        assert_ne!(base, inputs(&recreated, &plan(&hc)), "the same name, another cluster");

        let mut fewer = plan(&hc);
        fewer.components.pop();
        assert_ne!(base, inputs(&hc, &fewer), "another plan");

        // Labels and annotations feed no render but the plan's choice, which is keyed.
        let mut labelled = hc.clone();
        labelled.metadata.annotations = Some([("touched".to_owned(), "1".to_owned())].into());
        assert_eq!(base, inputs(&labelled, &plan(&labelled)));
    }

    fn live(objects: &[(&str, &str, &str, Option<&str>)]) -> Live {
        let mut live = Live::default();
        for (kind, name, version, hash) in objects {
            let api_version = if *kind == "Deployment" { "apps/v1" } else { "v1" };
            let mut value = fixtures::child(api_version, kind, name, "core", *kind != "Secret");
            value["metadata"]["resourceVersion"] = serde_json::json!(version);
            if let Some(hash) = hash {
                value["metadata"]["annotations"] = serde_json::json!({apply::APPLIED_HASH_ANNOTATION: hash});
            }
            let object: DynamicObject = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
            let child = fixtures::kind(api_version, kind);
            live.objects.insert((child.kind, (*name).to_owned()), (child, object));
        }
        live
    }

    #[test]
    fn settled_only_while_every_object_and_secret_is_as_applied_and_nothing_is_stale() {
        let hc = fixtures::cluster();
        let owner = hc.controller_owner_ref(&()).unwrap_or_else(|| panic!("no owner reference"));
        let cluster = Cluster { hc: &hc, namespace: NAMESPACE, name: NAME, uid: UID.to_owned(), owner };
        let settled = Settled {
            inputs: inputs(&hc, &plan(&hc)),
            secrets: [("demo-harbor-core".to_owned(), "7".to_owned())].into(),
            objects: vec![(fixtures::kind("apps/v1", "Deployment"), "demo-harbor-core".to_owned(), "sha256:a".to_owned())],
            reports: Vec::new(),
        };
        let applied = AppliedCache::default();
        let as_applied = [("Secret", "demo-harbor-core", "7", None), ("Deployment", "demo-harbor-core", "3", Some("sha256:a"))];
        assert!(settled.still_applied(&applied, &cluster, &live(&as_applied)));

        let secret_replaced = [("Secret", "demo-harbor-core", "8", None), as_applied[1]];
        assert!(!settled.still_applied(&applied, &cluster, &live(&secret_replaced)), "a generated Secret changed");
        let secret_gone = [as_applied[1]];
        assert!(!settled.still_applied(&applied, &cluster, &live(&secret_gone)), "a generated Secret deleted");
        let other_hash = [as_applied[0], ("Deployment", "demo-harbor-core", "3", Some("sha256:b"))];
        assert!(!settled.still_applied(&applied, &cluster, &live(&other_hash)), "a child applied from another render");
        let object_gone = [as_applied[0]];
        assert!(!settled.still_applied(&applied, &cluster, &live(&object_gone)), "a child deleted");
        let stale = [as_applied[0], as_applied[1], ("ConfigMap", "demo-harbor-old", "1", Some("sha256:c"))];
        assert!(!settled.still_applied(&applied, &cluster, &live(&stale)), "an owned child left to prune");
    }
}
