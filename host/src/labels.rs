//! Every label Berth puts on an object, computed here and nowhere else: the chart's
//! (so a chart install can be adopted), the recommended `app.kubernetes.io/*` ones, and
//! Berth's own. Plugins receive them in the topology; the host stamps its own again on
//! whatever a plugin returns.

use std::collections::BTreeMap;

/// The HarborCluster an object belongs to.
pub const CLUSTER_LABEL: &str = "berth.dev/cluster";
/// The component that rendered an object.
pub const COMPONENT_LABEL: &str = "berth.dev/component";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "berth");

/// The chart's `harbor.matchLabels` plus `component`: a workload's selector. Selectors
/// are immutable, so these must stay the chart's.
pub fn selector(release: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = match_labels(release);
    labels.insert("component".to_owned(), component.to_owned());
    labels
}

fn match_labels(release: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), "harbor".to_owned()), ("release".to_owned(), release.to_owned())])
}

/// The labels of what belongs to the whole cluster rather than one component (the
/// Secrets the host generates): the chart's `harbor.labels` and the recommended ones.
pub fn cluster_labels(release: &str, harbor_version: &str) -> BTreeMap<String, String> {
    let mut labels = match_labels(release);
    labels.extend([
        ("app.kubernetes.io/name".to_owned(), "harbor".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), release.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "harbor".to_owned()),
        ("app.kubernetes.io/version".to_owned(), harbor_version.to_owned()),
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
    ]);
    labels
}

/// The labels of one component's objects: the selector's and the recommended ones.
/// Not the host's stamp: these also label StatefulSet claim templates, which are
/// immutable, so they must stay what existing clusters were created with.
pub fn object_labels(release: &str, harbor_version: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = cluster_labels(release, harbor_version);
    labels.extend(selector(release, component));
    labels.insert("app.kubernetes.io/component".to_owned(), component.to_owned());
    labels
}

/// What the host forces onto every object it applies, whatever the plugin said: these
/// are what pruning, the child index and deletion select on.
pub fn stamped<'a>(cluster: &'a str, component: &'a str) -> [(&'static str, &'a str); 3] {
    [(CLUSTER_LABEL, cluster), (COMPONENT_LABEL, component), MANAGED_BY]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_labels_carry_the_selector_and_no_stamp() {
        let labels = object_labels("demo", "2.15.1", "portal");
        for (key, value) in &selector("demo", "portal") {
            assert_eq!(labels.get(key), Some(value), "{key}");
        }
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("berth"));
        assert!(!labels.contains_key(CLUSTER_LABEL) && !labels.contains_key(COMPONENT_LABEL));
    }
}
