//! Label selectors and the stable percentage bucket that choose a rollout's canaries.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use sha2::{Digest as _, Sha256};

/// Whether `labels` match the selector, as Kubernetes evaluates it. An empty selector
/// matches everything; an unknown operator matches nothing (safer for a canary).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_match && expressions_match
}

/// A cluster's bucket, 0..100, from its uid. Stable across restarts and operator
/// replicas, so raising a rollout from 10 to 20 percent keeps the first 10 percent.
pub fn bucket(uid: &str) -> u8 {
    let hash = Sha256::digest(uid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    // u64 % 100 < 100 always fits a u8.
    (u64::from_be_bytes(first) % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("tier", "canary")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "region".to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(vec!["eu".to_owned()]),
            }]),
        };
        assert!(matches(&selector, &labels(&[("tier", "canary")])));
        assert!(matches(&selector, &labels(&[("tier", "canary"), ("region", "us")])));
        assert!(!matches(&selector, &labels(&[("tier", "canary"), ("region", "eu")])));
        assert!(!matches(&selector, &labels(&[("tier", "stable")])));
        assert!(matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("3f1c-uid"), bucket("3f1c-uid"));
        let under_half = (0..1000).filter(|i| bucket(&format!("uid-{i}")) < 50).count();
        assert!((400..600).contains(&under_half), "{under_half} of 1000 under 50");
    }
}
