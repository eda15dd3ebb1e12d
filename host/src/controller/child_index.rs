//! One child kind's watch cache, indexed by HarborCluster. A reflector store answers
//! "this cluster's objects" only by scanning every object of the kind: at ten thousand
//! clusters that is a scan of ~10k objects per kind per reconcile, and the whole fleet's
//! resync grows with the square of its size. This index answers from the cluster's own
//! bucket.
//!
//! It follows the watcher's protocol as kube's reflector does: events apply as they
//! come, and a relist (`Init` … `InitDone`) builds a fresh index on the side that
//! replaces the old one at once, so objects deleted while the watch was down vanish.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use kube::api::DynamicObject;
use kube::runtime::watcher::Event;

use crate::render::CLUSTER_LABEL;

/// (namespace, cluster label value).
type ClusterKey = (String, String);
/// (namespace, object name): what a watch event identifies an object by.
type ObjectKey = (String, String);

fn object_key(object: &DynamicObject) -> Option<ObjectKey> {
    Some((object.metadata.namespace.clone()?, object.metadata.name.clone()?))
}

#[derive(Default)]
struct Buckets {
    by_cluster: HashMap<ClusterKey, BTreeMap<String, Arc<DynamicObject>>>,
    /// Which bucket each object is in, so a delete or a relabel finds it.
    cluster_of: HashMap<ObjectKey, ClusterKey>,
}

impl Buckets {
    fn insert(&mut self, object: &DynamicObject) {
        let Some(object_key) = object_key(object) else {
            return;
        };
        // An object whose cluster label was removed or changed leaves its old bucket.
        self.remove(&object_key);
        // The watch selects on the label's presence, so this only skips what a
        // selector-less caller might feed in.
        let Some(cluster) = object.metadata.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL)) else {
            return;
        };
        let cluster_key = (object_key.0.clone(), cluster.clone());
        self.by_cluster.entry(cluster_key.clone()).or_default().insert(object_key.1.clone(), Arc::new(object.clone()));
        self.cluster_of.insert(object_key, cluster_key);
    }

    fn remove(&mut self, object_key: &ObjectKey) {
        let Some(cluster_key) = self.cluster_of.remove(object_key) else {
            return;
        };
        if let Some(bucket) = self.by_cluster.get_mut(&cluster_key) {
            bucket.remove(&object_key.1);
            if bucket.is_empty() {
                self.by_cluster.remove(&cluster_key);
            }
        }
    }

    fn len(&self) -> usize {
        self.cluster_of.len()
    }
}

#[derive(Default)]
struct State {
    live: Buckets,
    /// Filled during a relist, swapped in at its end.
    relisting: Option<Buckets>,
    /// The first relist is complete: until then the index is not the truth.
    ready: bool,
}

/// Shared between the watch task that writes and the reconciles that read.
#[derive(Clone, Default)]
pub struct ChildIndex {
    state: Arc<RwLock<State>>,
}

impl ChildIndex {
    pub fn apply(&self, event: &Event<DynamicObject>) {
        // A panic elsewhere while holding the lock cannot leave the maps half-written
        // in a way that matters more than losing the cache: keep serving.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            Event::Apply(object) => state.live.insert(object),
            Event::Delete(object) => {
                if let Some(key) = object_key(object) {
                    state.live.remove(&key);
                }
            }
            Event::Init => state.relisting = Some(Buckets::default()),
            Event::InitApply(object) => state.relisting.get_or_insert_with(Buckets::default).insert(object),
            Event::InitDone => {
                state.live = state.relisting.take().unwrap_or_default();
                state.ready = true;
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state.read().unwrap_or_else(PoisonError::into_inner).ready
    }

    /// The objects of one HarborCluster, by name.
    pub fn cluster(&self, namespace: &str, cluster: &str) -> Vec<Arc<DynamicObject>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .live
            .by_cluster
            .get(&(namespace.to_owned(), cluster.to_owned()))
            .map(|bucket| bucket.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects in the index, of every cluster.
    pub fn len(&self) -> usize {
        self.state.read().unwrap_or_else(PoisonError::into_inner).live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ApiResource;
    use kube::core::GroupVersionKind;

    fn object(namespace: &str, name: &str, cluster: Option<&str>) -> DynamicObject {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"));
        let mut object = DynamicObject::new(name, &resource).within(namespace);
        if let Some(cluster) = cluster {
            object.metadata.labels = Some([(CLUSTER_LABEL.to_owned(), cluster.to_owned())].into());
        }
        object
    }

    fn names(index: &ChildIndex, namespace: &str, cluster: &str) -> Vec<String> {
        index.cluster(namespace, cluster).iter().filter_map(|o| o.metadata.name.clone()).collect()
    }

    fn listed(index: &ChildIndex, objects: &[DynamicObject]) {
        index.apply(&Event::Init);
        for o in objects {
            index.apply(&Event::InitApply(o.clone()));
        }
        index.apply(&Event::InitDone);
    }

    #[test]
    fn not_ready_until_the_first_list_is_complete() {
        let index = ChildIndex::default();
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(object("a", "demo-core", Some("demo"))));
        assert!(!index.is_ready());
        assert!(names(&index, "a", "demo").is_empty(), "a half-done list is not served");
        index.apply(&Event::InitDone);
        assert!(index.is_ready());
        assert_eq!(names(&index, "a", "demo"), ["demo-core"]);
    }

    #[test]
    fn clusters_of_the_same_name_in_two_namespaces_stay_apart() {
        let index = ChildIndex::default();
        listed(
            &index,
            &[object("a", "demo-core", Some("demo")), object("b", "demo-core", Some("demo")), object("a", "other-core", Some("other"))],
        );
        assert_eq!(names(&index, "a", "demo"), ["demo-core"]);
        assert_eq!(names(&index, "b", "demo"), ["demo-core"]);
        assert_eq!(names(&index, "a", "other"), ["other-core"]);
        assert!(names(&index, "b", "other").is_empty());
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn applies_update_in_place_and_deletes_remove() {
        let index = ChildIndex::default();
        listed(&index, &[object("a", "demo-core", Some("demo"))]);
        let mut changed = object("a", "demo-core", Some("demo"));
        changed.metadata.resource_version = Some("2".into());
        index.apply(&Event::Apply(changed));
        index.apply(&Event::Apply(object("a", "demo-portal", Some("demo"))));
        let now = index.cluster("a", "demo");
        assert_eq!(now.len(), 2);
        assert_eq!(now[0].metadata.resource_version.as_deref(), Some("2"));
        index.apply(&Event::Delete(object("a", "demo-core", Some("demo"))));
        assert_eq!(names(&index, "a", "demo"), ["demo-portal"]);
        index.apply(&Event::Delete(object("a", "demo-portal", Some("demo"))));
        assert!(index.is_empty());
    }

    #[test]
    fn a_relabelled_object_moves_to_its_new_cluster_or_leaves() {
        let index = ChildIndex::default();
        listed(&index, &[object("a", "shared", Some("demo"))]);
        index.apply(&Event::Apply(object("a", "shared", Some("other"))));
        assert!(names(&index, "a", "demo").is_empty());
        assert_eq!(names(&index, "a", "other"), ["shared"]);
        index.apply(&Event::Apply(object("a", "shared", None)));
        assert!(names(&index, "a", "other").is_empty());
        assert!(index.is_empty());
    }

    #[test]
    fn a_relist_drops_what_was_deleted_while_the_watch_was_down() {
        let index = ChildIndex::default();
        listed(&index, &[object("a", "demo-core", Some("demo")), object("a", "demo-portal", Some("demo"))]);
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(object("a", "demo-core", Some("demo"))));
        // During the relist the old index still answers.
        assert_eq!(names(&index, "a", "demo"), ["demo-core", "demo-portal"]);
        index.apply(&Event::InitDone);
        assert_eq!(names(&index, "a", "demo"), ["demo-core"]);
    }
}
