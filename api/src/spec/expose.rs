//! How users reach Harbor: ingress, Gateway API route or a Service in front of nginx.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::components::ComponentSpec;
use super::from_empty_object;

/// How Harbor is reached. The routing is the chart's everywhere: /api/, /service/, /v2/
/// and /c/ go to core, everything else to the portal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExposeSpec {
    #[serde(default, rename = "type")]
    pub type_: ExposeType,
    /// TLS termination: a `kubernetes.io/tls` Secret for the ingress or the nginx proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressExpose>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteExpose>,
    /// The Service in front of the nginx proxy (clusterIP, nodePort, loadBalancer).
    #[serde(default)]
    pub service: ServiceExpose,
    /// The nginx proxy's pods (clusterIP, nodePort, loadBalancer).
    #[serde(default)]
    pub nginx: ComponentSpec,
}

impl Default for ExposeSpec {
    fn default() -> Self {
        from_empty_object()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub enum ExposeType {
    Ingress,
    /// A Gateway API HTTPRoute.
    Route,
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct IngressExpose {
    /// The host users reach Harbor at.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RouteExpose {
    /// Gateways the route attaches to.
    pub parent_refs: Vec<ParentRef>,
    pub hostnames: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServiceExpose {
    /// Service name; default `harbor` as in the chart.
    #[serde(default = "default_expose_name")]
    pub name: String,
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// nodePort numbers (type nodePort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_node_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_node_port: Option<u16>,
    /// type loadBalancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ServiceExpose {
    fn default() -> Self {
        from_empty_object()
    }
}

fn default_expose_name() -> String {
    "harbor".to_owned()
}

fn default_http_port() -> u16 {
    80
}

fn default_https_port() -> u16 {
    443
}
