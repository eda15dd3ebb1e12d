//! How long woken clusters wait for a reconcile. kube-runtime's scheduler keeps at most
//! one pending entry per HarborCluster (a cluster woken again while it waits or runs is
//! not queued twice), so the queue is bounded by the fleet; what it hides is how long
//! the wait is. Every wake-up we route (a change of the cluster, of a child, of a
//! HarborRestore, a plugin swap) is noted here, and the reconcile's start clears it:
//! `berth_queue_depth` and `berth_queue_oldest_seconds` tell an operator that slow
//! clusters are starving the others long before a cluster's status does. Timed requeues
//! (the resync, a backoff) are not wake-ups: a cluster backing off is not waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Waiting(Mutex<HashMap<String, Instant>>);

impl Waiting {
    /// The cluster ("namespace/name") was woken; the first wake-up since its last start
    /// is the one that counts.
    pub fn woken(&self, key: String) {
        if let Ok(mut waiting) = self.0.lock() {
            waiting.entry(key).or_insert_with(Instant::now);
        }
    }

    /// Its reconcile started (or the cluster is gone): it waits no more.
    pub fn done(&self, key: &str) {
        if let Ok(mut waiting) = self.0.lock() {
            waiting.remove(key);
        }
    }

    /// How many clusters wait, and for how long the longest has.
    pub fn depth_and_oldest(&self) -> (usize, Duration) {
        let Ok(waiting) = self.0.lock() else {
            return (0, Duration::ZERO);
        };
        let oldest = waiting.values().map(Instant::elapsed).max().unwrap_or_default();
        (waiting.len(), oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_waits_from_its_first_wake_up_until_its_reconcile_starts() {
        let waiting = Waiting::default();
        assert_eq!(waiting.depth_and_oldest(), (0, Duration::ZERO));
        waiting.woken("ns/a".to_owned());
        let first = waiting.0.lock().map(|w| w["ns/a"]).unwrap_or_else(|_| panic!("poisoned"));
        // Woken again while waiting: still one entry, still timed from the first.
        waiting.woken("ns/a".to_owned());
        waiting.woken("ns/b".to_owned());
        assert_eq!(waiting.depth_and_oldest().0, 2);
        assert_eq!(waiting.0.lock().map(|w| w["ns/a"]).ok(), Some(first));
        waiting.done("ns/a");
        waiting.done("ns/b");
        assert_eq!(waiting.depth_and_oldest().0, 0);
        // Woken after its start: waits again, from then.
        waiting.woken("ns/a".to_owned());
        assert!(waiting.0.lock().map(|w| w["ns/a"] >= first).unwrap_or(false));
    }
}
