//! At most `--max-concurrent-upgrades` upgrades run at once across every cluster the
//! operator watches. The count is what the HarborClusters' status says is Running (so a
//! restarted operator counts the upgrades it resumes) plus those this process started
//! whose status is not in its watch yet. Deciding and taking a slot happen under one
//! lock, so two reconciles cannot both take the last one.

use std::collections::BTreeSet;
use std::sync::Mutex;

use berth_api::status::UpgradePhase;
use kube::ResourceExt as _;
use kube::runtime::reflector::Store;

use crate::controller::HarborCluster;

#[derive(Default)]
pub struct Slots {
    /// "namespace/name" of the upgrades this process started or resumed.
    taken: Mutex<BTreeSet<String>>,
    /// The controllers' caches of HarborClusters, one per watch scope.
    stores: std::sync::RwLock<Vec<Store<HarborCluster>>>,
}

/// No slot was free: how many run, and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    pub running: Vec<String>,
    pub max: usize,
}

impl Slots {
    /// Counts the clusters of this watch too.
    pub fn watch(&self, store: Store<HarborCluster>) {
        if let Ok(mut stores) = self.stores.write() {
            stores.push(store);
        }
    }

    /// Takes a slot for `key` ("namespace/name"); one it holds already is kept, whatever
    /// the count (an upgrade under way always goes on).
    pub fn take(&self, key: &str, max: usize) -> Result<(), Full> {
        let Ok(mut taken) = self.taken.lock() else {
            // A poisoned lock lost only the bookkeeping; refusing keeps the limit.
            return Err(Full { running: Vec::new(), max });
        };
        if taken.contains(key) {
            return Ok(());
        }
        let mut running: BTreeSet<String> = self.running_in_status();
        running.extend(taken.iter().cloned());
        running.remove(key);
        if running.len() >= max {
            return Err(Full { running: running.into_iter().collect(), max });
        }
        taken.insert(key.to_owned());
        Ok(())
    }

    /// Keeps the slot of an upgrade that is under way (after a restart, say).
    pub fn hold(&self, key: &str) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.insert(key.to_owned());
        }
    }

    pub fn release(&self, key: &str) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.remove(key);
        }
    }

    fn running_in_status(&self) -> BTreeSet<String> {
        let Ok(stores) = self.stores.read() else { return BTreeSet::new() };
        stores
            .iter()
            .flat_map(|store| store.state())
            .filter(|hc| hc.status.as_ref().and_then(|s| s.upgrade.as_ref()).is_some_and(|u| u.phase == UpgradePhase::Running))
            .map(|hc| format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_taken_once_per_cluster_and_freed_on_release() {
        let slots = Slots::default();
        assert_eq!(slots.take("a/one", 1), Ok(()));
        assert_eq!(slots.take("a/one", 1), Ok(()), "its own slot");
        assert_eq!(slots.take("a/two", 1), Err(Full { running: vec!["a/one".to_owned()], max: 1 }));
        slots.release("a/one");
        assert_eq!(slots.take("a/two", 1), Ok(()));
        slots.hold("a/one");
        assert!(slots.take("a/three", 2).is_err(), "a resumed upgrade counts even above the limit");
    }
}
