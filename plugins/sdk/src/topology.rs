//! The topology the host resolves before any plugin runs: names, Services, URLs, ports,
//! images and Secret names. Plugins read it; they never invent a name another component
//! must agree on, so core, jobservice and registry always point at each other correctly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// The chart's `<fullname>`: `<release>-harbor`, or the release name when it already
    /// contains "harbor". Every object name starts with it.
    pub fullname: String,
    /// Labels every object carries (the chart's `harbor.labels` plus Berth's own).
    pub labels: BTreeMap<String, String>,
    /// The chart's `harbor.matchLabels` (`release`, `app`). Workload selectors are these
    /// plus `component: <name>`; they are immutable, so they must match the chart's for an
    /// existing install to be adopted.
    pub selector_labels: BTreeMap<String, String>,
    /// Per component: its object names, Service, ports, URL and image.
    pub components: BTreeMap<String, ComponentTopology>,
    /// imagePullPolicy for every container.
    pub image_pull_policy: String,
    /// Secret names used to pull images.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentTopology {
    /// Base name of the component's objects, e.g. "demo-harbor-portal".
    pub name: String,
    /// Name of the component's Service.
    pub service_name: String,
    /// Port the Service exposes.
    pub service_port: u16,
    /// Port the container listens on.
    pub container_port: u16,
    /// "http" or "https" (internal TLS).
    pub scheme: String,
    /// URL other components use to reach it, e.g. "http://demo-harbor-portal".
    pub url: String,
    /// Image references by container name, e.g. {"portal": "docker.io/goharbor/harbor-portal:v2.15.1"}.
    pub images: BTreeMap<String, String>,
}

impl Topology {
    /// The topology of one component, or an error naming it.
    pub fn component(&self, name: &str) -> Result<&ComponentTopology, crate::RenderError> {
        self.components.get(name).ok_or_else(|| {
            crate::RenderError::Internal(format!("the host's topology has no component {name:?}"))
        })
    }

    /// Selector labels for one component's pods.
    pub fn selector_for(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels.clone();
        labels.insert("component".to_owned(), component.to_owned());
        labels
    }

    /// Object labels for one component's objects.
    pub fn labels_for(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert("component".to_owned(), component.to_owned());
        labels.insert("app.kubernetes.io/component".to_owned(), component.to_owned());
        labels
    }
}

impl ComponentTopology {
    /// The image of one container, or an error naming it.
    pub fn image(&self, container: &str) -> Result<&str, crate::RenderError> {
        self.images.get(container).map(String::as_str).ok_or_else(|| {
            crate::RenderError::Internal(format!(
                "the host's topology has no image for container {container:?} of {}",
                self.name
            ))
        })
    }
}
