//! Plugin policy: which plugin version renders which component for which cluster, the
//! limits it runs under, the guardrails on what it returns, staged rollout and rollback.
//!
//! - [`resource`]: the `PluginPolicy` custom resource.
//! - [`build`]: loading and verifying what the policies list into a [`Snapshot`].
//! - [`snapshot`]: the plugins in force and the per-cluster [`RenderPlan`].
//! - [`selector`]: label selectors and the percentage bucket.
//! - [`guardrails`]: the rules every returned object must pass.
//!
//! [`PluginSet`] holds the current snapshot and swaps it atomically.

pub mod build;
pub mod guardrails;
pub mod pod_security;
pub mod resource;
pub mod selector;
pub mod snapshot;

use std::sync::{Arc, RwLock};

pub use guardrails::{Guardrails, Rule, Scope, Violation};
pub use resource::{PluginPolicy, PluginPolicySpec, PluginPolicyStatus};
pub use snapshot::{ClusterFacts, Planned, RenderPlan, Selection, SelectionError, Snapshot};

use crate::sandbox::Digest;

/// The current snapshot, swapped whole. Readers take an `Arc` and keep it for the length
/// of their render, so a swap never changes a render in flight.
pub struct PluginSet {
    current: RwLock<Arc<Snapshot>>,
    changed: tokio::sync::watch::Sender<u64>,
}

/// A canary failure that stopped a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub component: String,
    pub policy: String,
    pub version: String,
    pub failed_clusters: Vec<String>,
}

impl PluginSet {
    pub fn new(snapshot: Snapshot) -> PluginSet {
        let (changed, _) = tokio::sync::watch::channel(snapshot.generation);
        PluginSet { current: RwLock::new(Arc::new(snapshot)), changed }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the Arc inside is still a whole snapshot.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Notified with the generation after every swap.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Puts `next` in force. Canary failures recorded while it was being built are
    /// carried into it, so a rollback is never lost to a concurrent policy edit.
    pub fn swap(&self, mut next: Snapshot) -> Arc<Snapshot> {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        carry_failures(&guard, &mut next);
        next.generation = next.generation.max(guard.generation + 1);
        let generation = next.generation;
        let old = std::mem::replace(&mut *guard, Arc::new(next));
        drop(guard);
        self.changed.send_replace(generation);
        old
    }

    /// Records that `cluster` failed to render `component` with the canary plugin
    /// `digest`. Returns the rollback when this failure reaches the threshold.
    pub fn canary_failed(&self, component: &str, digest: Digest, cluster: &str) -> Option<Rollback> {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = Snapshot::clone(&guard);
        let choice = next.components.get_mut(component)?;
        let rollout = choice.rollout.as_mut().filter(|r| r.plugin.digest() == digest && !r.rolled_back)?;
        if !rollout.failed_clusters.insert(cluster.to_owned()) {
            return None;
        }
        let crossed = rollout.failed_clusters.len() >= rollout.failure_threshold as usize;
        rollout.rolled_back = crossed;
        let rollout_status = rollout.status(&choice.stable);
        let result = crossed.then(|| Rollback {
            component: component.to_owned(),
            policy: choice.policy.clone(),
            version: rollout.version.clone(),
            failed_clusters: rollout.failed_clusters.iter().cloned().collect(),
        });
        if let Some(status) = next.policy_status.get_mut(&choice.policy)
            && let Some(c) = status.components.iter_mut().find(|c| c.component == component)
        {
            c.rollout = Some(rollout_status);
        }
        next.generation = guard.generation + 1;
        let generation = next.generation;
        *guard = Arc::new(next);
        drop(guard);
        self.changed.send_replace(generation);
        if let Some(r) = &result {
            tracing::warn!(component, policy = %r.policy, version = %r.version, clusters = ?r.failed_clusters, "canary failures reached the threshold; rolled back");
        }
        result
    }
}

/// Copies canary failures and rollbacks of `current` into `next` where both roll out
/// the same plugin.
fn carry_failures(current: &Snapshot, next: &mut Snapshot) {
    for (component, choice) in &mut next.components {
        let Some(rollout) = choice.rollout.as_mut() else {
            continue;
        };
        let Some(known) = current.components.get(component).and_then(|c| c.rollout.as_ref()) else {
            continue;
        };
        if known.plugin.digest() != rollout.plugin.digest() {
            continue;
        }
        let before = (rollout.rolled_back, rollout.failed_clusters.len());
        rollout.failed_clusters.extend(known.failed_clusters.iter().cloned());
        rollout.rolled_back |= known.rolled_back;
        if before != (rollout.rolled_back, rollout.failed_clusters.len()) {
            let status = rollout.status(&choice.stable);
            if let Some(c) =
                next.policy_status.get_mut(&choice.policy).and_then(|s| s.components.iter_mut().find(|c| c.component == *component))
            {
                c.rollout = Some(status);
            }
        }
    }
}
