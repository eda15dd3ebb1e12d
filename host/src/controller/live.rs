//! What the API server holds for one HarborCluster: every child of every managed kind
//! carrying its cluster label, from the watch caches ([`super::children`]) where they
//! are synced, else with one LIST per kind. The same snapshot decides which applies are
//! no-ops, what to prune, and workload readiness.

use std::collections::BTreeMap;

use kube::api::{DynamicObject, ListParams};

use super::Context;
use super::error::{Error, Result, is_not_found};
use super::resources::{CHILD_KINDS, ChildKind};
use crate::render::CLUSTER_LABEL;

#[derive(Debug, Default)]
pub struct Live {
    /// (kind, name) -> object.
    pub objects: BTreeMap<(&'static str, String), (&'static ChildKind, DynamicObject)>,
}

impl Live {
    pub async fn read(ctx: &Context, namespace: &str, cluster: &str) -> Result<Live> {
        let params = ListParams::default().labels(&format!("{CLUSTER_LABEL}={cluster}"));
        let caches = ctx.child_caches(namespace);
        let mut live = Live::default();
        for kind in CHILD_KINDS {
            if let Some(cache) = caches.as_ref().and_then(|c| c.kind(kind)).filter(|c| c.index.is_ready()) {
                for object in cache.index.cluster(namespace, cluster) {
                    let name = object.metadata.name.clone().unwrap_or_default();
                    live.objects.insert((kind.kind, name), (kind, DynamicObject::clone(&object)));
                }
                continue;
            }
            let list = match kind.api(&ctx.client, namespace).list(&params).await {
                Ok(list) => list,
                // A kind the server does not serve (the Gateway API CRDs absent) has no children.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(Error::kube(format!("listing {} in {namespace}", kind.plural))(e)),
            };
            for mut object in list.items {
                kind.lean(&mut object);
                let name = object.metadata.name.clone().unwrap_or_default();
                live.objects.insert((kind.kind, name), (kind, object));
            }
        }
        Ok(live)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&DynamicObject> {
        self.objects.iter().find(|((k, n), _)| *k == kind && n == name).map(|(_, (_, o))| o)
    }
}
