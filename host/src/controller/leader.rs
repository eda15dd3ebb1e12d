//! Leader election on a `coordination.k8s.io` Lease, so the operator can run as several
//! replicas with one of them reconciling. Two active replicas would each count canary
//! failures on their own and race on every apply; a standby takes over within a lease
//! duration of the leader's death, or at once when it steps down cleanly.
//!
//! The protocol is client-go's: the holder renews the Lease's `renewTime` every
//! `renew_every`; a candidate takes the Lease when it is free, or when its record has not
//! changed for a whole lease duration *as measured on the candidate's own clock* (the
//! holder's timestamps are never compared with ours, so clock skew cannot hand the lease
//! over early). Every write is a replace at the resourceVersion read, so of two
//! candidates racing, exactly one wins. A leader that cannot renew for `renew_deadline`
//! stops its work before anyone else may take the Lease.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use super::error::{api_message, is_already_exists};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's name in the Lease (the pod name in a cluster).
    pub identity: String,
    /// How long a Lease not renewed stays with its holder.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops: shorter than the lease
    /// duration, so it has stopped before a standby may take over.
    pub renew_deadline: Duration,
    /// How often the leader renews, and a standby retries.
    pub retry_every: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_every: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("Lease {namespace}/{name}: {action} failed: {message}")]
    Kube {
        namespace: String,
        name: String,
        action: &'static str,
        message: String,
        #[source]
        source: kube::Error,
    },
    /// Another replica holds the Lease now; this one must stop reconciling.
    #[error("leadership lost: the Lease is held by {0}")]
    TakenBy(String),
    /// Renewals failed for longer than the renew deadline.
    #[error("leadership lost: no renewal for {0:?}")]
    RenewDeadline(Duration, #[source] Box<LeaderError>),
}

/// What one attempt to take or renew the Lease found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Held,
    HeldBy(String),
}

pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The other holder's record as last seen (its resourceVersion) and when it was
    /// first seen unchanged, by our clock.
    observed: Option<(String, Instant)>,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElector { api: Api::namespaced(client, &config.namespace), config, observed: None }
    }

    /// Waits until this replica holds the Lease. API errors are logged and retried: a
    /// standby has nothing better to do.
    pub async fn acquire(&mut self) -> Result<(), LeaderError> {
        let started = Instant::now();
        let mut waiting_on: Option<String> = None;
        tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquiring leadership");
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, waited_ms = started.elapsed().as_millis() as u64, "leadership acquired");
                    return Ok(());
                }
                Ok(Attempt::HeldBy(holder)) => {
                    if waiting_on.as_deref() != Some(holder.as_str()) {
                        tracing::info!(lease = %self.config.name, %holder, "standing by: another replica leads");
                        waiting_on = Some(holder);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed; retrying"),
            }
            tokio::time::sleep(self.config.retry_every).await;
        }
    }

    /// One attempt to take (or renew) the Lease: whether this replica holds it now.
    pub async fn try_acquire(&mut self) -> Result<bool, LeaderError> {
        Ok(self.try_acquire_or_renew().await? == Attempt::Held)
    }

    /// Runs `work` while renewing the Lease. If leadership is lost first, `work` is
    /// dropped (cancelled) and the loss returned; if `work` ends, the Lease is released so
    /// a standby takes over at once instead of after a lease duration.
    pub async fn lead<F: Future>(&mut self, work: F) -> Result<F::Output, LeaderError> {
        let outcome = {
            let renewing = Self::renew_until_lost(&self.api, &self.config, &mut self.observed);
            tokio::pin!(work);
            tokio::pin!(renewing);
            tokio::select! {
                output = &mut work => Ok(output),
                lost = &mut renewing => Err(lost),
            }
        };
        match outcome {
            Ok(output) => {
                if let Err(e) = self.release().await {
                    tracing::warn!(error = %e, "releasing the Lease failed: a standby waits for it to expire");
                }
                Ok(output)
            }
            Err(lost) => {
                tracing::error!(error = %lost, "stopping: leadership lost");
                Err(lost)
            }
        }
    }

    async fn renew_until_lost(api: &Api<Lease>, config: &LeaseConfig, observed: &mut Option<(String, Instant)>) -> LeaderError {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(config.retry_every).await;
            match try_acquire_or_renew(api, config, observed).await {
                Ok(Attempt::Held) => renewed = Instant::now(),
                Ok(Attempt::HeldBy(holder)) => return LeaderError::TakenBy(holder),
                Err(e) if renewed.elapsed() >= config.renew_deadline => {
                    return LeaderError::RenewDeadline(config.renew_deadline, Box::new(e));
                }
                Err(e) => tracing::warn!(error = %e, "renewing the Lease failed; retrying"),
            }
        }
    }

    /// Gives the Lease up if this replica holds it: the holder is cleared, and the next
    /// candidate takes it on its next attempt.
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        let config = &self.config;
        let Some(mut lease) = self.api.get_opt(&config.name).await.map_err(kube_error(config, "get"))? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api.replace(&config.name, &PostParams::default(), &lease).await.map_err(kube_error(config, "release"))?;
        tracing::info!(lease = %config.name, identity = %config.identity, "leadership released");
        Ok(())
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaderError> {
        try_acquire_or_renew(&self.api, &self.config, &mut self.observed).await
    }
}

async fn try_acquire_or_renew(
    api: &Api<Lease>,
    config: &LeaseConfig,
    observed: &mut Option<(String, Instant)>,
) -> Result<Attempt, LeaderError> {
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(&config.name).await.map_err(kube_error(config, "get"))? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(config.name.clone()), namespace: Some(config.namespace.clone()), ..ObjectMeta::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(seconds(config.lease_duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Attempt::Held),
            // Another candidate created it first: it leads.
            Err(e) if is_already_exists(&e) => Ok(Attempt::HeldBy("another replica".to_owned())),
            Err(e) => Err(kube_error(config, "create")(e)),
        };
    };
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let mine = holder.as_deref() == Some(config.identity.as_str());
    if let Some(holder) = holder.as_ref().filter(|_| !mine) {
        // The holder's own lease duration, not ours: replicas may be configured apart.
        let duration = spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).map_or(config.lease_duration, Duration::from_secs);
        let first_seen = match observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                *observed = Some((version.clone(), Instant::now()));
                return Ok(Attempt::HeldBy(holder.clone()));
            }
        };
        if first_seen.elapsed() < duration {
            return Ok(Attempt::HeldBy(holder.clone()));
        }
        tracing::info!(lease = %config.name, previous = %holder, "the Lease expired unrenewed: taking it over");
    }
    if !mine {
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(seconds(config.lease_duration));
    spec.renew_time = Some(now);
    // The replace carries the resourceVersion read above: if anyone wrote in between,
    // the server refuses (409) and we look again next time.
    match api.replace(&config.name, &PostParams::default(), &lease).await {
        Ok(_) => {
            *observed = None;
            Ok(Attempt::Held)
        }
        // 409: someone wrote the Lease since we read it.
        Err(e) if is_already_exists(&e) => Ok(Attempt::HeldBy(holder.unwrap_or_else(|| "another replica".to_owned()))),
        Err(e) => Err(kube_error(config, "update")(e)),
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

fn kube_error<'a>(config: &'a LeaseConfig, action: &'static str) -> impl FnOnce(kube::Error) -> LeaderError + 'a {
    move |source| LeaderError::Kube {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        action,
        message: api_message(&source),
        source,
    }
}
