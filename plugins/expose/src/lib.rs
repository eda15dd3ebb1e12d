//! How users reach Harbor, by `spec.expose.type`, rendered as the Harbor Helm chart
//! renders it: an Ingress (`templates/ingress/ingress.yaml`), a Gateway API HTTPRoute
//! (`templates/gateway-apis/route.yaml`), or the chart's nginx proxy behind a ClusterIP,
//! NodePort or LoadBalancer Service (`templates/nginx/*`). The routing is the same in
//! every mode: core's paths go to core, everything else to the portal.

#![forbid(unsafe_code)]

mod ingress;
mod nginx_conf;
mod proxy;
mod route;

use berth_sdk::spec::{ExposeSpec, ExposeType};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer, Topology};

const COMPONENT: &str = "expose";

/// The paths core serves; `/` (everything else) is the portal's.
pub(crate) const CORE_PATHS: [&str; 4] = ["/api/", "/service/", "/v2/", "/c/"];

/// The range Kubernetes allocates nodePorts from by default.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A Service the routes point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    pub service: String,
    pub port: u16,
    /// "http" or "https" (internal TLS).
    pub scheme: String,
}

/// Where the routing contract sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backends {
    pub core: Backend,
    pub portal: Backend,
}

impl Backends {
    fn from_topology(topology: &Topology) -> Result<Self, RenderError> {
        let backend = |name: &str| {
            topology.component(name).map(|c| Backend { service: c.service_name.clone(), port: c.service_port, scheme: c.scheme.clone() })
        };
        Ok(Backends { core: backend("core")?, portal: backend("portal")? })
    }
}

pub struct Plugin;

impl Renderer for Plugin {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-expose", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let expose = &req.spec.expose;
        validate(expose)?;
        let topology = &req.topology;
        let backends = Backends::from_topology(topology)?;
        let mut out = Rendered::default();
        match expose.type_ {
            ExposeType::Ingress => {
                let spec = expose.ingress.as_ref().ok_or_else(missing_ingress)?;
                out.object(&ingress::ingress(topology, expose, spec, &backends))?;
            }
            ExposeType::Route => {
                let spec = expose.route.as_ref().ok_or_else(missing_route)?;
                out.raw_object(&route::http_route(topology, spec, &backends));
            }
            ExposeType::ClusterIP | ExposeType::NodePort | ExposeType::LoadBalancer => {
                proxy::render(&mut out, req, &backends)?;
            }
        }
        Ok(out)
    }
}

fn missing_ingress() -> RenderError {
    RenderError::invalid("spec.expose.ingress", "type is ingress but no ingress is described; set spec.expose.ingress.host")
}

fn missing_route() -> RenderError {
    RenderError::invalid("spec.expose.route", "type is route but no route is described; set spec.expose.route.parentRefs")
}

/// Checks the parts of `spec.expose` the chosen type uses; the rest is ignored, as the
/// chart ignores the blocks of the types it does not render.
pub(crate) fn validate(expose: &ExposeSpec) -> Result<(), RenderError> {
    if let Some(secret) = &expose.tls_secret
        && secret.trim().is_empty()
    {
        return Err(RenderError::invalid("spec.expose.tlsSecret", "must name a kubernetes.io/tls Secret, or be left out for plain HTTP"));
    }
    match expose.type_ {
        ExposeType::Ingress => {
            let ingress = expose.ingress.as_ref().ok_or_else(missing_ingress)?;
            if ingress.host.trim().is_empty() {
                return Err(RenderError::invalid(
                    "spec.expose.ingress.host",
                    "the ingress needs the host users reach Harbor at, e.g. harbor.example.com",
                ));
            }
        }
        ExposeType::Route => {
            let route = expose.route.as_ref().ok_or_else(missing_route)?;
            if route.parent_refs.is_empty() {
                return Err(RenderError::invalid("spec.expose.route.parentRefs", "the route must attach to at least one Gateway"));
            }
            for (i, parent) in route.parent_refs.iter().enumerate() {
                if parent.name.trim().is_empty() {
                    return Err(RenderError::invalid(format!("spec.expose.route.parentRefs[{i}].name"), "must name a Gateway"));
                }
            }
        }
        ExposeType::ClusterIP | ExposeType::NodePort | ExposeType::LoadBalancer => {
            let service = &expose.service;
            if service.name.trim().is_empty() {
                return Err(RenderError::invalid(
                    "spec.expose.service.name",
                    "the Service in front of the nginx proxy needs a name (default harbor)",
                ));
            }
            for (field, port) in [("httpPort", service.http_port), ("httpsPort", service.https_port)] {
                if port == 0 {
                    return Err(RenderError::invalid(format!("spec.expose.service.{field}"), "must be a port number from 1 to 65535"));
                }
            }
            for (field, port) in [("httpNodePort", service.http_node_port), ("httpsNodePort", service.https_node_port)] {
                if let Some(port) = port
                    && !NODE_PORTS.contains(&port)
                {
                    return Err(RenderError::invalid(
                        format!("spec.expose.service.{field}"),
                        format!("{port} is outside the nodePort range {}-{}", NODE_PORTS.start(), NODE_PORTS.end()),
                    ));
                }
            }
        }
    }
    Ok(())
}

berth_sdk::export_renderer!(Plugin);

#[cfg(test)]
mod tests;
