//! The HarborCluster spec (`berth.dev/v1alpha1`), split along its sections.
//!
//! Field names follow the Harbor Helm chart's values where that is natural, so a chart
//! user recognises them. Unknown fields are tolerated by these types in every build (a
//! newer host may add fields an older plugin does not know); the host refuses them at
//! its edge by checking the spec against the CRD's schema, which names the field.

mod backing;
mod backup;
mod cluster;
mod components;
mod expose;
mod storage;
mod upgrade;

pub use backing::*;
pub use backup::*;
pub use cluster::*;
pub use components::*;
pub use expose::*;
pub use storage::*;
pub use upgrade::*;

fn enabled() -> bool {
    true
}

/// A struct's defaults are exactly what an empty object deserializes to, so the
/// `Default` impls and serde's field defaults cannot drift apart.
fn from_empty_object<T: serde::de::DeserializeOwned>() -> T {
    match serde_json::from_value(serde_json::Value::Object(serde_json::Map::new())) {
        Ok(value) => value,
        Err(e) => unreachable!("every field of this struct has a default: {e}"),
    }
}
