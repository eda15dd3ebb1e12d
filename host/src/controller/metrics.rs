//! Counters the controller keeps about itself: reconciles, failures, and every request
//! that changes something in the API server, by verb and kind. The end-to-end suite
//! reads the write counter to prove a no-op reconcile sends no mutating request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    /// Sum of reconcile durations in microseconds, and how many finished.
    reconcile_micros: AtomicU64,
    reconciles_finished: AtomicU64,
    render_micros: AtomicU64,
    renders: AtomicU64,
    /// Reconciles of a settled cluster that skipped the render (see `render_cache`).
    renders_skipped: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    writes: Mutex<BTreeMap<(&'static str, String), u64>>,
    plugin_renders: Mutex<BTreeMap<PluginRenderKey, (u64, u64)>>,
    /// This replica reconciles (holds the Lease, or runs without leader election).
    leader: AtomicBool,
    /// Backups and restores: (operation, outcome) -> (count, seconds summed).
    day_two: Mutex<BTreeMap<DayTwoKey, (u64, f64)>>,
    /// The last successful backup per cluster ("namespace/name"), as unix seconds.
    last_backup: Mutex<BTreeMap<String, f64>>,
    /// Clusters woken and not yet reconciled.
    pub waiting: super::queue::Waiting,
    /// OCI plugin sources fetched, by where the bytes came from.
    plugin_pulls: Mutex<BTreeMap<&'static str, u64>>,
    /// OCI plugin sources refused, by reason.
    plugin_pull_failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// (operation, outcome) of a backup or restore.
type DayTwoKey = (&'static str, &'static str);

/// (plugin, version, outcome), counted as renders and their summed microseconds.
type PluginRenderKey = (String, String, &'static str);

impl Metrics {
    pub fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Relaxed);
    }

    pub fn reconcile_started(&self) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reconciles(&self) -> u64 {
        self.reconciles.load(Ordering::Relaxed)
    }

    pub fn reconcile_finished(&self, elapsed: std::time::Duration) {
        self.reconcile_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.reconciles_finished.fetch_add(1, Ordering::Relaxed);
    }

    /// One whole-cluster render (every enabled component's plugin).
    pub fn rendered(&self, elapsed: std::time::Duration) {
        self.render_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.renders.fetch_add(1, Ordering::Relaxed);
    }

    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// A reconcile found its cluster settled and called no plugin.
    pub fn render_skipped(&self) {
        self.renders_skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn renders_skipped(&self) -> u64 {
        self.renders_skipped.load(Ordering::Relaxed)
    }

    /// One plugin render, by plugin, version and outcome.
    pub fn plugin_rendered(&self, timing: &crate::render::RenderTiming) {
        if let Ok(mut renders) = self.plugin_renders.lock() {
            let key = (timing.plugin.clone(), timing.version.clone(), timing.outcome);
            let entry = renders.entry(key).or_default();
            entry.0 += 1;
            entry.1 += u64::try_from(timing.elapsed.as_micros()).unwrap_or(u64::MAX);
        }
    }

    pub fn failure(&self, label: &'static str) {
        if let Ok(mut failures) = self.failures.lock() {
            *failures.entry(label).or_default() += 1;
        }
    }

    pub fn failures(&self) -> BTreeMap<&'static str, u64> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// One mutating request (create, patch, delete) sent for `kind`.
    pub fn write(&self, verb: &'static str, kind: &str) {
        if let Ok(mut writes) = self.writes.lock() {
            *writes.entry((verb, kind.to_owned())).or_default() += 1;
        }
    }

    /// Mutating requests by (verb, kind).
    pub fn writes(&self) -> BTreeMap<(&'static str, String), u64> {
        self.writes.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// A backup or restore ended: `outcome` is "complete" or "failed".
    pub fn day_two_finished(&self, operation: &'static str, outcome: &'static str, cluster: &str, seconds: f64) {
        if let Ok(mut runs) = self.day_two.lock() {
            let entry = runs.entry((operation, outcome)).or_default();
            entry.0 += 1;
            entry.1 += seconds;
        }
        if operation == "backup" && outcome == "complete" {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
            if let Ok(mut last) = self.last_backup.lock() {
                last.insert(cluster.to_owned(), now);
            }
        }
    }

    /// An OCI plugin source fetched: "registry", "store" or "store_registry_unreachable".
    pub fn plugin_pulled(&self, origin: &'static str) {
        if let Ok(mut pulls) = self.plugin_pulls.lock() {
            *pulls.entry(origin).or_default() += 1;
        }
    }

    /// An OCI plugin source refused (RegistryUnreachable, DigestMismatch, Unsigned, ...).
    pub fn plugin_pull_failed(&self, reason: &'static str) {
        if let Ok(mut failures) = self.plugin_pull_failures.lock() {
            *failures.entry(reason).or_default() += 1;
        }
    }

    pub fn plugin_pull_failures(&self) -> BTreeMap<&'static str, u64> {
        self.plugin_pull_failures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    pub fn total_writes(&self) -> u64 {
        self.writes.lock().map(|w| w.values().sum()).unwrap_or_default()
    }
}

impl Metrics {
    /// The Prometheus text exposition of every counter.
    pub fn prometheus_text(&self) -> String {
        use std::fmt::Write as _;
        let seconds = |micros: &AtomicU64| micros.load(Ordering::Relaxed) as f64 / 1e6;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP berth_leader 1 on the replica that reconciles, 0 on a standby.\n# TYPE berth_leader gauge");
        let _ = writeln!(out, "berth_leader {}", u8::from(self.leader.load(Ordering::Relaxed)));
        let _ = writeln!(out, "# HELP berth_reconciles_total Reconciles started.\n# TYPE berth_reconciles_total counter");
        let _ = writeln!(out, "berth_reconciles_total {}", self.reconciles());
        let (depth, oldest) = self.waiting.depth_and_oldest();
        let _ = writeln!(out, "# HELP berth_queue_depth HarborClusters woken and waiting for a reconcile.\n# TYPE berth_queue_depth gauge");
        let _ = writeln!(out, "berth_queue_depth {depth}");
        let _ = writeln!(
            out,
            "# HELP berth_queue_oldest_seconds How long the longest-waiting woken HarborCluster has waited.\n# TYPE berth_queue_oldest_seconds gauge"
        );
        let _ = writeln!(out, "berth_queue_oldest_seconds {:.3}", oldest.as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP berth_reconcile_duration_seconds Time spent reconciling.\n# TYPE berth_reconcile_duration_seconds summary"
        );
        let _ = writeln!(out, "berth_reconcile_duration_seconds_sum {}", seconds(&self.reconcile_micros));
        let _ = writeln!(out, "berth_reconcile_duration_seconds_count {}", self.reconciles_finished.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP berth_render_duration_seconds Time spent rendering whole clusters through plugins.\n# TYPE berth_render_duration_seconds summary"
        );
        let _ = writeln!(out, "berth_render_duration_seconds_sum {}", seconds(&self.render_micros));
        let _ = writeln!(out, "berth_render_duration_seconds_count {}", self.renders.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP berth_renders_skipped_total Reconciles of a settled cluster that called no plugin.\n# TYPE berth_renders_skipped_total counter"
        );
        let _ = writeln!(out, "berth_renders_skipped_total {}", self.renders_skipped());
        let _ = writeln!(
            out,
            "# HELP berth_plugin_render_duration_seconds Plugin render time by plugin, version and outcome.\n# TYPE berth_plugin_render_duration_seconds summary"
        );
        let renders = self.plugin_renders.lock().map(|r| r.clone()).unwrap_or_default();
        for ((plugin, version, outcome), (count, micros)) in renders {
            let labels = format!("plugin=\"{plugin}\",version=\"{version}\",outcome=\"{outcome}\"");
            let _ = writeln!(out, "berth_plugin_render_duration_seconds_sum{{{labels}}} {}", micros as f64 / 1e6);
            let _ = writeln!(out, "berth_plugin_render_duration_seconds_count{{{labels}}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_reconcile_failures_total Failed reconciles by error.\n# TYPE berth_reconcile_failures_total counter"
        );
        for (label, n) in self.failures() {
            let _ = writeln!(out, "berth_reconcile_failures_total{{error=\"{label}\"}} {n}");
        }
        let _ =
            writeln!(out, "# HELP berth_api_writes_total Mutating API requests by verb and kind.\n# TYPE berth_api_writes_total counter");
        for ((verb, kind), n) in self.writes() {
            let _ = writeln!(out, "berth_api_writes_total{{verb=\"{verb}\",kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_day_two_duration_seconds Backups and restores by operation and outcome (count: how many; failed ones are failures).\n# TYPE berth_day_two_duration_seconds summary"
        );
        for ((operation, outcome), (count, seconds)) in self.day_two.lock().map(|r| r.clone()).unwrap_or_default() {
            let labels = format!("operation=\"{operation}\",outcome=\"{outcome}\"");
            let _ = writeln!(out, "berth_day_two_duration_seconds_sum{{{labels}}} {seconds}");
            let _ = writeln!(out, "berth_day_two_duration_seconds_count{{{labels}}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_backup_last_success_timestamp_seconds When each cluster's last backup completed (seen by this replica).\n# TYPE berth_backup_last_success_timestamp_seconds gauge"
        );
        for (cluster, at) in self.last_backup.lock().map(|l| l.clone()).unwrap_or_default() {
            let _ = writeln!(out, "berth_backup_last_success_timestamp_seconds{{cluster=\"{cluster}\"}} {at}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_plugin_pulls_total OCI plugin sources fetched, by where the bytes came from.\n# TYPE berth_plugin_pulls_total counter"
        );
        for (origin, n) in self.plugin_pulls.lock().map(|p| p.clone()).unwrap_or_default() {
            let _ = writeln!(out, "berth_plugin_pulls_total{{origin=\"{origin}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP berth_plugin_pull_failures_total OCI plugin sources refused, by reason.\n# TYPE berth_plugin_pull_failures_total counter"
        );
        for (reason, n) in self.plugin_pull_failures() {
            let _ = writeln!(out, "berth_plugin_pull_failures_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_exposition_names_every_series() {
        let m = Metrics::default();
        m.reconcile_started();
        m.write("patch", "Deployment");
        m.failure("kube");
        m.plugin_rendered(&crate::render::RenderTiming {
            component: "core".to_owned(),
            plugin: "berth-core".to_owned(),
            version: "0.1.0".to_owned(),
            outcome: "ok",
            elapsed: std::time::Duration::from_micros(250),
        });
        let text = m.prometheus_text();
        assert!(text.contains("berth_leader 0"), "a replica leads only once told so");
        m.set_leader(true);
        let text = m.prometheus_text();
        assert!(text.contains("berth_leader 1"));
        assert!(text.contains("berth_plugin_render_duration_seconds_count{plugin=\"berth-core\",version=\"0.1.0\",outcome=\"ok\"} 1"));
        assert!(text.contains("berth_reconciles_total 1"));
        assert!(text.contains("berth_api_writes_total{verb=\"patch\",kind=\"Deployment\"} 1"));
        assert!(text.contains("berth_reconcile_failures_total{error=\"kube\"} 1"));
    }

    #[test]
    fn backups_and_restores_are_counted_by_outcome_and_the_last_success_is_kept() {
        let m = Metrics::default();
        m.day_two_finished("backup", "complete", "registry/demo", 12.5);
        m.day_two_finished("backup", "failed", "registry/demo", 2.0);
        m.day_two_finished("restore", "complete", "dr/demo", 30.0);
        let text = m.prometheus_text();
        assert!(text.contains("berth_day_two_duration_seconds_count{operation=\"backup\",outcome=\"complete\"} 1"), "{text}");
        assert!(text.contains("berth_day_two_duration_seconds_sum{operation=\"backup\",outcome=\"failed\"} 2"), "{text}");
        assert!(text.contains("berth_day_two_duration_seconds_count{operation=\"restore\",outcome=\"complete\"} 1"), "{text}");
        assert!(text.contains("berth_backup_last_success_timestamp_seconds{cluster=\"registry/demo\"} "), "{text}");
        assert!(!text.contains("cluster=\"dr/demo\""), "a restore is no backup: {text}");
    }
}
