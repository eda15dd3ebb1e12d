//! Every HarborCluster's generation and whether its status says it is applied at that
//! generation, kept by one watch: measuring puts no polling load on the API server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::HarborCluster;
use futures::StreamExt as _;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};

#[derive(Clone, Default)]
pub struct View(Arc<Mutex<HashMap<String, Seen>>>);

#[derive(Clone, Copy)]
struct Seen {
    generation: i64,
    /// The status describes this generation and its Applied condition is true.
    applied: bool,
}

impl View {
    pub fn follow(client: &Client) -> View {
        let view = View::default();
        let feed = view.clone();
        let api = Api::<HarborCluster>::all(client.clone());
        tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff().applied_objects());
            while let Some(event) = events.next().await {
                let Ok(hc) = event else { continue };
                let generation = hc.metadata.generation.unwrap_or_default();
                let status = hc.status.clone().unwrap_or_default();
                let applied = status.observed_generation == Some(generation)
                    && status.conditions.iter().any(|c| c.type_ == "Applied" && c.status == "True");
                let key = format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any());
                if let Ok(mut map) = feed.0.lock() {
                    map.insert(key, Seen { generation, applied });
                }
            }
        });
        view
    }

    /// Clusters applied at `generation` or later.
    pub fn applied(&self, generation: i64) -> usize {
        self.0.lock().map(|m| m.values().filter(|s| s.applied && s.generation >= generation).count()).unwrap_or_default()
    }

    /// Waits until `clusters` are applied at `generation` or later.
    pub async fn wait_applied(&self, clusters: usize, generation: i64, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        let mut said = Instant::now();
        loop {
            let applied = self.applied(generation);
            if applied >= clusters {
                return Ok(());
            }
            // A long phase shows it is moving (to stderr: the figures are stdout's).
            if said.elapsed() >= Duration::from_secs(30) {
                eprintln!("   ... {applied}/{clusters} Applied at generation {generation} after {:.0} s", started.elapsed().as_secs_f64());
                said = Instant::now();
            }
            if started.elapsed() > timeout {
                return Err(format!("only {applied}/{clusters} clusters applied at generation {generation} after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
