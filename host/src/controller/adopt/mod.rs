//! Taking over an install made by the official Helm chart (`spec.adopt.helmRelease`).
//!
//! Adoption is explicit: without `spec.adopt` an object Berth did not create fails the
//! component that renders it (see `apply::refuse_foreign`). With it, an object of the
//! named release is taken over in three steps, each a module of its own:
//! - [`secrets`]: before any component applies, the chart's generated Secrets become
//!   Berth's, with every value kept and each key Berth reads copied from where the chart
//!   keeps it (no value is ever generated for an adopted Secret);
//! - [`takeover`]: each object Berth renders that the chart made is taken over field by
//!   field, so the fields only Helm set are removed and the object ends as Berth's render;
//! - [`leftovers`]: once every component applied, the chart's objects Berth does not
//!   render are deleted, each only when no pod or workload reads it any more.

pub mod leftovers;
pub mod secrets;
pub mod takeover;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// On every object Berth took over from a Helm release: `helm-release/<name>`. It keeps
/// the object's pod selection as the chart had it (see [`takeover::shape`]).
pub const ADOPTED_ANNOTATION: &str = "berth.dev/adopted-from";

/// Helm's own marks on what it installed.
const HELM_RELEASE_ANNOTATION: &str = "meta.helm.sh/release-name";
const HELM_ANNOTATION_PREFIX: &str = "meta.helm.sh/";
/// The field manager Helm writes with.
pub const HELM_FIELD_MANAGER: &str = "helm";

/// The Helm release a HarborCluster adopts.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub name: &'a str,
}

impl<'a> Release<'a> {
    pub fn of(hc: &'a super::HarborCluster) -> Option<Release<'a>> {
        hc.spec.adopt.as_ref().map(|adopt| Release { name: adopt.helm_release.as_str() })
    }

    /// Whether Helm installed the object as part of this release: the chart labels every
    /// object `release=<name>, heritage=Helm`, and Helm 3 annotates it with the release.
    pub fn owns(&self, metadata: &ObjectMeta) -> bool {
        let label = |key: &str| metadata.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str);
        let annotated = metadata.annotations.as_ref().and_then(|a| a.get(HELM_RELEASE_ANNOTATION)).map(String::as_str);
        annotated == Some(self.name) || (label("release") == Some(self.name) && label("heritage") == Some("Helm"))
    }

    /// The label selector of the chart's objects.
    pub fn selector(&self) -> String {
        format!("release={},heritage=Helm", self.name)
    }

    /// The value of [`ADOPTED_ANNOTATION`].
    pub fn mark(&self) -> String {
        format!("helm-release/{}", self.name)
    }
}

/// Whether an annotation is Helm's bookkeeping, dropped from an adopted object.
pub fn is_helm_annotation(key: &str) -> bool {
    key.starts_with(HELM_ANNOTATION_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ObjectMeta {
        let map = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        ObjectMeta { labels: map(labels), annotations: map(annotations), ..ObjectMeta::default() }
    }

    #[test]
    fn a_release_owns_what_helm_marked_for_it_and_nothing_else() {
        let release = Release { name: "harbor" };
        assert!(release.owns(&meta(&[("release", "harbor"), ("heritage", "Helm")], &[])));
        assert!(release.owns(&meta(&[], &[(HELM_RELEASE_ANNOTATION, "harbor")])));
        assert!(!release.owns(&meta(&[("release", "harbor")], &[])), "the release label alone is anyone's to set");
        assert!(!release.owns(&meta(&[("release", "other"), ("heritage", "Helm")], &[])));
        assert!(!release.owns(&meta(&[], &[(HELM_RELEASE_ANNOTATION, "other")])));
        assert!(!release.owns(&ObjectMeta::default()));
    }
}
