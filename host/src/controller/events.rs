//! Publishing Events. kube's `Recorder` folds every Event of one reason about one object
//! within six minutes into a series that keeps the first note: an upgrade's steps, or two
//! different apply failures, would read as the first one repeated. Here each distinct note
//! gets a recorder of its own, so an Event repeated word for word still becomes a series
//! (one object, a count), and a different note is a new Event.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};

/// More distinct notes than this in memory and the table starts over: a note seen again
/// later becomes a new Event instead of a series entry, which is all it costs.
const MAX_NOTES: usize = 1024;

pub struct Publisher {
    client: Client,
    reporter: Reporter,
    by_note: Mutex<HashMap<u64, Recorder>>,
}

impl Publisher {
    pub fn new(client: Client, reporter: Reporter) -> Publisher {
        Publisher { client, reporter, by_note: Mutex::default() }
    }

    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&event.reason, &event.note, &event.action).hash(&mut hasher);
        let key = hasher.finish();
        let recorder = match self.by_note.lock() {
            Ok(mut by_note) => {
                if by_note.len() >= MAX_NOTES && !by_note.contains_key(&key) {
                    by_note.clear();
                }
                by_note.entry(key).or_insert_with(|| Recorder::new(self.client.clone(), self.reporter.clone())).clone()
            }
            // A poisoned table only loses the folding of repeats.
            Err(_) => Recorder::new(self.client.clone(), self.reporter.clone()),
        };
        recorder.publish(event, regarding).await
    }
}
