//! The `PluginPolicy` resource: its types are in `berth-api`; what the host derives from
//! them lives here.

use std::collections::BTreeMap;

pub use berth_api::policy::*;

/// Component names and the policy each belongs to, first policy by name winning.
pub fn owners(policies: &[PluginPolicy]) -> BTreeMap<String, String> {
    let mut sorted: Vec<&PluginPolicy> = policies.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut owners = BTreeMap::new();
    for policy in sorted {
        let name = policy.metadata.name.clone().unwrap_or_default();
        for component in &policy.spec.components {
            owners.entry(component.component.clone()).or_insert_with(|| name.clone());
        }
    }
    owners
}
