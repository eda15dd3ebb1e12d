//! What a reconcile pays to read its own children from a watch cache, by fleet size:
//! kube's reflector store (a scan of every object of the kind, filtered under its lock)
//! against [`ChildIndex`] (the cluster's own bucket). Three objects of one kind per
//! cluster, as for Deployments in a minimal HarborCluster; a reconcile does this once
//! per child kind.

use std::hint::black_box;

use berth::controller::child_index::ChildIndex;
use berth::render::CLUSTER_LABEL;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;

const PER_CLUSTER: usize = 3;

fn children(clusters: usize) -> Vec<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"));
    let mut objects = Vec::with_capacity(clusters * PER_CLUSTER);
    for c in 0..clusters {
        for component in ["core", "portal", "registry"].iter().take(PER_CLUSTER) {
            let cluster = format!("harbor-{c}");
            let mut object = DynamicObject::new(&format!("{cluster}-{component}"), &resource).within(&format!("tenant-{}", c % 100));
            object.metadata.labels = Some([(CLUSTER_LABEL.to_owned(), cluster)].into());
            objects.push(object);
        }
    }
    objects
}

fn listed(objects: &[DynamicObject]) -> impl Iterator<Item = Event<DynamicObject>> + '_ {
    std::iter::once(Event::Init).chain(objects.iter().cloned().map(Event::InitApply)).chain(std::iter::once(Event::InitDone))
}

fn read_one_cluster(c: &mut Criterion) {
    let mut group = c.benchmark_group("child_cache/read_one_cluster");
    for clusters in [100, 1_000, 10_000] {
        let objects = children(clusters);
        // A cluster in the middle of the fleet, so neither answer gets lucky.
        let (namespace, cluster) = (format!("tenant-{}", (clusters / 2) % 100), format!("harbor-{}", clusters / 2));

        let mut writer = Writer::new(ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")));
        for event in listed(&objects) {
            writer.apply_watcher_event(&event);
        }
        let store = writer.as_reader();
        group.bench_with_input(BenchmarkId::new("reflector_scan", clusters), &clusters, |b, _| {
            b.iter(|| {
                let mine = store.state_filter(|o| {
                    o.metadata.namespace.as_deref() == Some(namespace.as_str())
                        && o.metadata.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL)) == Some(&cluster)
                });
                assert_eq!(mine.len(), PER_CLUSTER);
                black_box(mine)
            })
        });

        let index = ChildIndex::default();
        for event in listed(&objects) {
            index.apply(&event);
        }
        group.bench_with_input(BenchmarkId::new("child_index", clusters), &clusters, |b, _| {
            b.iter(|| {
                let mine = index.cluster(&namespace, &cluster);
                assert_eq!(mine.len(), PER_CLUSTER);
                black_box(mine)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, read_one_cluster);
criterion_main!(benches);
