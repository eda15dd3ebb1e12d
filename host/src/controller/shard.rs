//! Sharding: M replicas split the fleet. A HarborCluster belongs to shard
//! `sha256(uid) mod M`; a replica reconciles only the clusters of the shard whose Lease
//! (`berth-shard-I-of-M`) it holds, and a standby takes over a Lease its holder stops
//! renewing, as with a single leader ([`super::leader`]).
//!
//! Changing M moves clusters between shards, and a cluster must never have two writers:
//! the old replica of its old shard and the new replica of its new one. So one shard
//! count is in force at a time, recorded in the Lease `berth-shards` (its holder is the
//! count). A replica with another count waits, renewing its own shard Lease, until no
//! Lease of the count in force is held any more (released on shutdown, or unrenewed for
//! its duration), then records its own count and starts. A rolling update from M to M'
//! thus hands over as the old replicas stop.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use sha2::{Digest as _, Sha256};

use super::error::{api_message, is_already_exists};
use super::leader::{LeaderElector, LeaderError, LeaseConfig};
use super::{Context, Options};

/// The Lease that records the shard count in force.
pub const COUNT_LEASE: &str = "berth-shards";
/// The single leader's Lease, when the fleet is not split.
pub const LEADER_LEASE: &str = "berth-operator";

/// Which part of the fleet a replica reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole fleet: one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// The shard of `count` a HarborCluster with this uid belongs to: stable across
    /// processes, versions and machines (sha256, not the standard library's hasher).
    pub fn of(uid: &str, count: u32) -> u32 {
        let digest = Sha256::digest(uid.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u32::try_from(u64::from_be_bytes(first) % u64::from(count.max(1))).unwrap_or(0)
    }

    /// Whether this shard reconciles the HarborCluster with this uid.
    pub fn owns(&self, uid: &str) -> bool {
        self.count <= 1 || Shard::of(uid, self.count) == self.index
    }

    pub fn is_split(&self) -> bool {
        self.count > 1
    }

    /// The Lease this shard's replica holds.
    pub fn lease_name(&self) -> String {
        if self.is_split() { format!("berth-shard-{}-of-{}", self.index, self.count) } else { LEADER_LEASE.to_owned() }
    }

    /// (index, count) of a shard Lease's name.
    fn parse_lease_name(name: &str) -> Option<Shard> {
        let rest = name.strip_prefix("berth-shard-")?;
        let (index, count) = rest.split_once("-of-")?;
        Shard::new(index.parse().ok()?, count.parse().ok()?)
    }
}

/// Takes the Lease of one shard: `index` if given, else whichever of the `count` is
/// free first. Returns the shard and its elector, holding the Lease.
pub async fn acquire(client: &Client, base: &LeaseConfig, count: u32, index: Option<u32>) -> (Shard, LeaderElector) {
    let shards: Vec<Shard> = match index {
        Some(index) => Shard::new(index, count).into_iter().collect(),
        None => (0..count).filter_map(|i| Shard::new(i, count)).collect(),
    };
    let mut electors: Vec<(Shard, LeaderElector)> = shards
        .into_iter()
        .map(|shard| {
            let config = LeaseConfig { name: shard.lease_name(), ..base.clone() };
            (shard, LeaderElector::new(client.clone(), config))
        })
        .collect();
    tracing::info!(count, index = ?index, identity = %base.identity, "acquiring a shard");
    loop {
        for at in 0..electors.len() {
            match electors[at].1.try_acquire().await {
                Ok(true) => {
                    let (shard, elector) = electors.swap_remove(at);
                    tracing::info!(%shard, lease = %shard.lease_name(), "shard acquired");
                    return (shard, elector);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "shard election attempt failed; retrying"),
            }
        }
        tokio::time::sleep(base.retry_every).await;
    }
}

/// Runs the controller as the replica of one shard of `count` (`index`, or the first
/// free one), until `shutdown`: stands by for a shard Lease, waits for `count` to be in
/// force, then reconciles that shard's clusters while renewing the Lease. With a count
/// of one this is plain leader election. Returns when `shutdown` resolves (the Lease
/// released) or with the loss of the Lease.
pub async fn run(
    ctx: Arc<Context>,
    options: Options,
    base: LeaseConfig,
    count: u32,
    index: Option<u32>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LeaderError> {
    let stop = futures::FutureExt::shared(Box::pin(shutdown));
    let count = count.max(1);
    // `berth run` refuses such an index; a caller of the library gets any free shard.
    let index = index.filter(|&i| i < count);
    let (shard, mut elector) = tokio::select! {
        acquired = acquire(&ctx.client, &base, count, index) => acquired,
        () = stop.clone() => {
            tracing::info!("stopped while standing by");
            return Ok(());
        }
    };
    ctx.set_shard(shard);
    let client = ctx.client.clone();
    let work = async move {
        tokio::select! {
            () = enter_count(&client, &base.namespace, shard.count, base.retry_every) => {}
            () = stop.clone() => return,
        }
        ctx.metrics.set_leader(true);
        super::run_with(ctx, options, stop).await;
    };
    elector.lead(work).await
}

#[derive(Debug, thiserror::Error)]
pub enum CountError {
    #[error("Lease {namespace}/{COUNT_LEASE}: {action} failed: {message}")]
    Kube {
        namespace: String,
        action: &'static str,
        message: String,
        #[source]
        source: kube::Error,
    },
}

/// Waits until `count` is the shard count in force, making it so once no replica of
/// another count holds a shard Lease. Called while the replica's own shard Lease is
/// being renewed. API errors are logged and retried.
pub async fn enter_count(client: &Client, namespace: &str, count: u32, retry_every: Duration) {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let mut seen = Observed::default();
    let mut said: Option<u32> = None;
    loop {
        match try_enter(&api, namespace, count, &mut seen).await {
            Ok(None) => {
                tracing::info!(count, "shard count in force: starting");
                return;
            }
            Ok(Some(other)) => {
                if said != Some(other) {
                    tracing::info!(count, in_force = other, "waiting for the replicas of the shard count in force to stop");
                    said = Some(other);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the shard count failed; retrying"),
        }
        tokio::time::sleep(retry_every).await;
    }
}

/// Each other Lease's resourceVersion as first seen unchanged, by our clock.
#[derive(Default)]
struct Observed(HashMap<String, (String, Instant)>);

impl Observed {
    /// Whether the Lease is held and renewed within its duration as measured here (first
    /// sight counts as renewed: a holder is presumed alive until proven silent).
    fn live(&mut self, lease: &Lease) -> bool {
        let name = lease.metadata.name.clone().unwrap_or_default();
        let spec = lease.spec.as_ref();
        if spec.and_then(|s| s.holder_identity.as_deref()).is_none_or(str::is_empty) {
            return false;
        }
        let duration = spec.and_then(|s| s.lease_duration_seconds).and_then(|s| u64::try_from(s).ok()).unwrap_or(15);
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let first_seen = match self.0.get(&name) {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                self.0.insert(name, (version, Instant::now()));
                return true;
            }
        };
        first_seen.elapsed() < Duration::from_secs(duration)
    }
}

/// `None` once `count` is in force; else the count of a replica still running.
async fn try_enter(api: &Api<Lease>, namespace: &str, count: u32, seen: &mut Observed) -> Result<Option<u32>, CountError> {
    let error = |action| move |source| CountError::Kube { namespace: namespace.to_owned(), action, message: api_message(&source), source };
    loop {
        let record = api.get_opt(COUNT_LEASE).await.map_err(error("get"))?;
        let in_force =
            record.as_ref().and_then(|r| r.spec.as_ref()).and_then(|s| s.holder_identity.as_deref()).and_then(|h| h.parse::<u32>().ok());
        if in_force == Some(count) {
            return Ok(None);
        }
        // Who may still be running: the replicas of the count in force or, with no count
        // recorded yet (a fleet started by a release before sharding), any other count.
        let leases = api.list(&ListParams::default()).await.map_err(error("list"))?;
        let mut running = None;
        for lease in &leases.items {
            let name = lease.metadata.name.as_deref().unwrap_or_default();
            let shard = if name == LEADER_LEASE { Some(Shard::ALL) } else { Shard::parse_lease_name(name) };
            let Some(shard) = shard.filter(|s| in_force.map_or(s.count != count, |n| s.count == n)) else { continue };
            // Every Lease is looked at, each round: its silence is timed from first sight.
            if seen.live(lease) {
                running = Some(shard.count);
            }
        }
        if running.is_some() {
            return Ok(running);
        }
        // At the resourceVersion read: of two counts racing to take over, one wins, and
        // the other reads again.
        let written = match record {
            None => api.create(&PostParams::default(), &count_lease(namespace, count)).await,
            Some(mut record) => {
                let spec = record.spec.get_or_insert_with(LeaseSpec::default);
                spec.holder_identity = Some(count.to_string());
                spec.renew_time = Some(MicroTime(Timestamp::now()));
                api.replace(COUNT_LEASE, &PostParams::default(), &record).await
            }
        };
        match written {
            Ok(_) => {
                tracing::info!(from = ?in_force, to = count, "shard count changed");
                return Ok(None);
            }
            Err(e) if is_already_exists(&e) => continue,
            Err(e) => return Err(error("write")(e)),
        }
    }
}

fn count_lease(namespace: &str, count: u32) -> Lease {
    Lease {
        metadata: ObjectMeta { name: Some(COUNT_LEASE.to_owned()), namespace: Some(namespace.to_owned()), ..ObjectMeta::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some(count.to_string()),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_uid_falls_in_exactly_one_shard() {
        for uid in ["a", "0b5c1e9e-3f2d-4c61-9d0e-2f7b1c9a8e11", ""] {
            for count in 1..8 {
                let owners = (0..count).filter(|&i| Shard { index: i, count }.owns(uid)).count();
                assert_eq!(owners, 1, "{uid} in {count} shards");
            }
        }
    }

    #[test]
    fn the_shard_of_a_uid_is_fixed_for_good() {
        // The first 8 bytes of sha256("cluster-1"), big-endian, modulo the count: a
        // change of hash would move every cluster of every fleet at the next upgrade.
        assert_eq!(Shard::of("cluster-1", 7), 5);
        assert_eq!(Shard::of("cluster-1", 1_000_003), 951_525);
    }

    #[test]
    fn shards_split_a_fleet_roughly_evenly() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[Shard::of(&format!("uid-{i}"), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn lease_names_round_trip() {
        let shard = Shard { index: 2, count: 5 };
        assert_eq!(shard.lease_name(), "berth-shard-2-of-5");
        assert_eq!(Shard::parse_lease_name(&shard.lease_name()), Some(shard));
        assert_eq!(Shard::ALL.lease_name(), LEADER_LEASE);
        assert_eq!(Shard::parse_lease_name("berth-shard-5-of-5"), None);
        assert_eq!(Shard::parse_lease_name("berth-operator"), None);
    }
}
