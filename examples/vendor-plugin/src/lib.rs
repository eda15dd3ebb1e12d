//! A third-party Berth plugin: ingress NetworkPolicies that admit exactly the traffic
//! Harbor needs.
//!
//! It renders its own component, "network-policy", next to the bundled renderers. For
//! every Harbor component the cluster runs pods for, it emits one `networking.k8s.io/v1`
//! NetworkPolicy selecting that component's pods (with the selector its workload uses)
//! and allowing ingress only on the component's container ports, only from the
//! components that call it ([`CALLERS`]). Once a pod is selected by a policy, Kubernetes
//! drops every connection no rule admits, so the graph below is the whole contract: an
//! edge missing here is an outage, an extra edge is an opening.
//!
//! The plugin depends on `berth-sdk` only. Every name, label and port comes from the
//! topology the host resolves, so the policies keep matching the pods whichever plugin
//! renders them.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use berth_sdk::k8s;
use berth_sdk::k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use berth_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use berth_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use berth_sdk::spec::ExposeType;
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer, Topology};

/// The component this plugin renders; the PluginPolicy names it.
pub const COMPONENT: &str = "network-policy";

/// The chart's metrics port for core, jobservice and registry (`metrics.<c>.port`,
/// harbor.md §3/§4). The topology does not carry it because only those three open it,
/// and only with `spec.metrics.enabled`; the bundled renderers use the same default.
pub const METRICS_PORT: u16 = 8001;

/// The chart's component label of the nginx proxy pods (`expose.type` clusterIP,
/// nodePort or loadBalancer); the expose renderer keeps it for adoption.
const NGINX: &str = "nginx";

/// The registryctl sidecar's entry in the topology; it listens in the registry's pods.
const REGISTRYCTL: &str = "registryctl";

/// Which port of the called pods an edge opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The component's own container port, from the topology (so it follows internal
    /// TLS when the host switches 8080 to 8443).
    Main,
    /// The registryctl sidecar's port, in the registry's pods.
    Controller,
    /// [`METRICS_PORT`], open only when `spec.metrics.enabled`.
    Metrics,
}

/// Who opens the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The pods of a Harbor component, in the cluster's namespace.
    Component(&'static str),
    /// Users, through whatever `spec.expose` puts in front of Harbor: an ingress
    /// controller or Gateway in another namespace (so: any source), or the chart's nginx
    /// proxy in this namespace (so: its pods only).
    Entry,
    /// Prometheus. It usually runs in its own namespace with labels we cannot know, so
    /// any pod of the cluster may scrape; nothing outside the cluster may.
    Scraper,
}

/// One allowed connection: `from` may open `port` on the pods of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub to: &'static str,
    pub port: Port,
    pub from: Caller,
}

const fn edge(to: &'static str, port: Port, from: Caller) -> Edge {
    Edge { to, port, from }
}

use Caller::{Component as C, Entry, Scraper};
use Port::{Controller, Main, Metrics};

/// Harbor's caller graph: who connects to whom, and why. "harbor.md" is the shared
/// reference (chart `values.yaml`/`templates` and installer env); Harbor source paths are
/// goharbor/harbor. A component listed here as `to` has pods; anything else in
/// `topology.enabled` (expose: an Ingress, an HTTPRoute or the public nginx proxy) gets
/// no policy.
pub const CALLERS: &[Edge] = &[
    // core serves /api/, /service/, /v2/ and /c/ to users: the routing contract of the
    // ingress, HTTPRoute and nginx proxy alike (harbor.md §4).
    edge("core", Main, Entry),
    // jobservice: CORE_URL/TOKEN_SERVICE_URL in its env (harbor.md §5); its job context
    // loads Harbor's configuration from core before every job
    // (src/jobservice/job/impl/context.go) and reports job status back.
    edge("core", Main, C("jobservice")),
    // trivy pulls the artifact it scans from the registry URL in the scan request, which
    // is core's CORE_URL (the port kept for harbor-scanner-trivy#108, harbor.md §4).
    edge("core", Main, C("trivy")),
    // exporter reads core's API: HARBOR_SERVICE_HOST/PORT (harbor.md §5 exporter).
    edge("core", Main, C("exporter")),
    // core's /metrics with spec.metrics.enabled (metrics.core.port, harbor.md §3).
    edge("core", Metrics, Scraper),
    // portal serves `/` to users (harbor.md §4 routing contract).
    edge("portal", Main, Entry),
    // core's health API GETs PORTAL_URL every 10 s (src/controller/health/checker.go).
    edge("portal", Main, C("core")),
    // core submits every job to JOBSERVICE_URL and health-checks /api/v1/stats
    // (harbor.md §5 core env; src/controller/health/checker.go).
    edge("jobservice", Main, C("core")),
    // jobservice's /metrics with spec.metrics.enabled (metrics.jobservice.port).
    edge("jobservice", Metrics, Scraper),
    // core proxies docker's /v2/ to REGISTRY_URL with the htpasswd credential; users
    // never reach the registry directly (harbor.md §5 registry: not token auth).
    edge("registry", Main, C("core")),
    // jobservice copies and deletes artifacts (replication, retention) at REGISTRY_URL
    // with REGISTRY_CREDENTIAL_* (harbor.md §5 jobservice env).
    edge("registry", Main, C("jobservice")),
    // core: REGISTRY_CONTROLLER_URL, and its health check of registryctl /api/health
    // (harbor.md §4; src/controller/health/checker.go).
    edge("registry", Controller, C("core")),
    // jobservice: REGISTRY_CONTROLLER_URL; garbage collection runs through registryctl
    // (harbor.md §5 jobservice env).
    edge("registry", Controller, C("jobservice")),
    // The registry's debug listener :8001 serves /metrics with spec.metrics.enabled
    // (harbor.md §4 "metrics" row).
    edge("registry", Metrics, Scraper),
    // core: WITH_TRIVY + TRIVY_ADAPTER_URL, the scanner's metadata and health checks
    // (harbor.md §5 core env and trivy).
    edge("trivy", Main, C("core")),
    // Scan jobs run in jobservice: they submit to the adapter and poll for the report
    // (src/pkg/scan/job.go).
    edge("trivy", Main, C("jobservice")),
    // The exporter exists to be scraped (metrics.exporter.port 8001, harbor.md §3).
    edge("exporter", Main, Scraper),
    // core: POSTGRESQL_* (harbor.md §5 core env).
    edge("database", Main, C("core")),
    // jobservice: its job context opens the database (dao.InitDatabase in
    // src/jobservice/job/impl/context.go); the `database` job logger writes there too.
    edge("database", Main, C("jobservice")),
    // exporter: HARBOR_DATABASE_* (harbor.md §5 exporter).
    edge("database", Main, C("exporter")),
    // core: _REDIS_URL_CORE and _REDIS_URL_REG (harbor.md §5 core env, §7).
    edge("redis", Main, C("core")),
    // jobservice: its worker pool's queue, DB 1 (harbor.md §5 jobservice config.yml).
    edge("redis", Main, C("jobservice")),
    // registry: `redis:` in config.yml, layer-info cache, DB 2 (harbor.md §5 registry).
    // registryctl shares the pod, so this edge covers it too.
    edge("redis", Main, C("registry")),
    // trivy: SCANNER_REDIS_URL and the job queue, DB 5 (harbor.md §5 trivy).
    edge("redis", Main, C("trivy")),
    // exporter: HARBOR_REDIS_URL, the jobservice DB (harbor.md §5 exporter, §7).
    edge("redis", Main, C("exporter")),
];

pub struct NetworkPolicies;

impl Renderer for NetworkPolicies {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("vendor-networkpolicy", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let topology = &req.topology;
        let context = Context { topology, metrics: req.spec.metrics.enabled, entry: entry(req)? };
        // A vendor component has no entry in the host's topology: its labels are the
        // cluster's plus its own component name.
        let mut labels = berth_sdk::topology::to_map(&topology.labels);
        labels.insert("component".to_owned(), COMPONENT.to_owned());
        labels.insert("app.kubernetes.io/component".to_owned(), COMPONENT.to_owned());
        let mut out = Rendered::default();
        for component in &topology.enabled {
            // Components without an edge into them have no pods to protect (expose).
            if !CALLERS.iter().any(|e| e.to == component.as_str()) {
                continue;
            }
            out.object(&policy(&context, component, &labels)?)?;
        }
        Ok(out)
    }
}

/// Where users' traffic comes from, by `spec.expose.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntrySource {
    /// An ingress controller or Gateway: it runs in a namespace and with labels this
    /// plugin cannot know, so any source is admitted (on the HTTP port only).
    Anywhere,
    /// The chart's nginx proxy, whose pods run in this namespace.
    Pods(BTreeMap<String, String>),
}

fn entry(req: &RenderRequest) -> Result<EntrySource, RenderError> {
    Ok(match req.spec.expose.type_ {
        ExposeType::Ingress | ExposeType::Route => EntrySource::Anywhere,
        ExposeType::ClusterIP | ExposeType::NodePort | ExposeType::LoadBalancer => {
            EntrySource::Pods(req.topology.component(NGINX)?.selector())
        }
    })
}

/// What a render knows beyond the component at hand.
struct Context<'a> {
    topology: &'a Topology,
    metrics: bool,
    entry: EntrySource,
}

/// The sources one port admits.
#[derive(Debug, Clone, PartialEq)]
enum Sources {
    /// Any source (no `from`).
    Anywhere,
    /// These peers only.
    Peers(Vec<NetworkPolicyPeer>),
}

/// What one caller contributes to a rule.
enum Admit {
    /// The caller does not run in this cluster.
    Nobody,
    Anywhere,
    Peer(NetworkPolicyPeer),
}

/// The policy for one component's pods: one ingress rule per port, admitting the
/// callers [`CALLERS`] lists that this cluster runs.
fn policy(context: &Context<'_>, component: &str, labels: &BTreeMap<String, String>) -> Result<NetworkPolicy, RenderError> {
    let topology = context.topology;
    // The component must be one the host resolved, even though only its name is used.
    topology.component(component)?;

    // Ports in table order, each with its sources, so the output is stable.
    let mut rules: Vec<(u16, Sources)> = Vec::new();
    for edge in CALLERS.iter().filter(|e| e.to == component) {
        let Some(port) = port_of(context, component, edge.port)? else {
            continue;
        };
        let admit = admit(context, edge.from)?;
        if matches!(admit, Admit::Nobody) {
            continue;
        }
        let index = match rules.iter().position(|(p, _)| *p == port) {
            Some(index) => index,
            None => {
                rules.push((port, Sources::Peers(Vec::new())));
                rules.len() - 1
            }
        };
        let sources = &mut rules[index].1;
        match (admit, &mut *sources) {
            (Admit::Anywhere, _) => *sources = Sources::Anywhere,
            (Admit::Peer(peer), Sources::Peers(list)) if !list.contains(&peer) => list.push(peer),
            // Already admitted, by any-source or by the same peer.
            _ => {}
        }
    }

    let ingress = rules
        .into_iter()
        .map(|(port, sources)| NetworkPolicyIngressRule {
            from: match sources {
                Sources::Anywhere => None,
                Sources::Peers(peers) => Some(peers),
            },
            ports: Some(vec![NetworkPolicyPort {
                port: Some(IntOrString::Int(i32::from(port))),
                protocol: Some("TCP".to_owned()),
                end_port: None,
            }]),
        })
        .collect();

    Ok(NetworkPolicy {
        // In this component's own name space, as the host requires of every plugin.
        metadata: k8s::meta(&format!("{}-{COMPONENT}-{component}", topology.fullname), labels),
        spec: Some(NetworkPolicySpec {
            // The workload's own selector: pods carry it whatever extra labels users add.
            pod_selector: Some(match_labels(topology.component(component)?.selector())),
            policy_types: Some(vec!["Ingress".to_owned()]),
            // An empty list (every caller disabled) still isolates the pods, as intended.
            ingress: Some(ingress),
            egress: None,
        }),
    })
}

/// The port number an edge opens, or None when the cluster does not open that port.
fn port_of(context: &Context<'_>, component: &str, port: Port) -> Result<Option<u16>, RenderError> {
    Ok(match port {
        Port::Main => Some(context.topology.component(component)?.container_port),
        Port::Controller => Some(context.topology.component(REGISTRYCTL)?.container_port),
        Port::Metrics => context.metrics.then_some(METRICS_PORT),
    })
}

/// What a caller contributes to the rule of the port it calls.
fn admit(context: &Context<'_>, caller: Caller) -> Result<Admit, RenderError> {
    let topology = context.topology;
    Ok(match caller {
        Caller::Component(name) if topology.enabled.iter().any(|c| c == name) => Admit::Peer(pods(topology.component(name)?.selector())),
        Caller::Component(_) => Admit::Nobody,
        Caller::Entry => match &context.entry {
            EntrySource::Anywhere => Admit::Anywhere,
            EntrySource::Pods(selector) => Admit::Peer(pods(selector.clone())),
        },
        // An empty namespaceSelector: every pod of every namespace, but not the world.
        Caller::Scraper => {
            Admit::Peer(NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..NetworkPolicyPeer::default() })
        }
    })
}

/// Pods of this namespace carrying `labels`.
fn pods(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(match_labels(labels)), ..NetworkPolicyPeer::default() }
}

fn match_labels(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels), match_expressions: None }
}

berth_sdk::export_renderer!(NetworkPolicies);

#[cfg(test)]
mod tests;
