//! The chart's Ingress (`templates/ingress/ingress.yaml`, networking.k8s.io/v1 only:
//! every Kubernetes Berth supports serves it).

use std::collections::BTreeMap;

use berth_sdk::Topology;
use berth_sdk::k8s;
use berth_sdk::k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec, IngressTLS,
    ServiceBackendPort,
};
use berth_sdk::spec::{ExposeSpec, IngressExpose};

use crate::{Backend, Backends, CORE_PATHS};

pub(crate) fn ingress(topology: &Topology, expose: &ExposeSpec, spec: &IngressExpose, backends: &Backends) -> Ingress {
    let mut metadata = k8s::meta(&format!("{}-ingress", topology.fullname), &berth_sdk::topology::to_map(&topology.labels));
    metadata.annotations = Some(annotations(expose.tls_secret.is_some(), &backends.core.scheme, &spec.annotations));

    let paths = CORE_PATHS
        .iter()
        .map(|path| ingress_path(path, &backends.core))
        .chain(std::iter::once(ingress_path("/", &backends.portal)))
        .collect();

    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            tls: expose
                .tls_secret
                .as_ref()
                .map(|secret| vec![IngressTLS { secret_name: Some(secret.clone()), hosts: Some(vec![spec.host.clone()]) }]),
            rules: Some(vec![IngressRule { host: Some(spec.host.clone()), http: Some(HTTPIngressRuleValue { paths }) }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

/// The chart's annotations for ingress-nginx (and its older `ingress.kubernetes.io`
/// spelling). Image layers are gigabytes: any body-size limit breaks `docker push`. The
/// user's annotations are applied last so they can override any of these.
pub(crate) fn annotations(tls: bool, core_scheme: &str, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for prefix in ["nginx.ingress.kubernetes.io", "ingress.kubernetes.io"] {
        out.insert(format!("{prefix}/proxy-body-size"), "0".to_owned());
        if tls {
            out.insert(format!("{prefix}/ssl-redirect"), "true".to_owned());
        }
    }
    if core_scheme == "https" {
        out.insert("nginx.ingress.kubernetes.io/backend-protocol".to_owned(), "HTTPS".to_owned());
    }
    out.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

fn ingress_path(path: &str, backend: &Backend) -> HTTPIngressPath {
    HTTPIngressPath {
        path: Some(path.to_owned()),
        path_type: "Prefix".to_owned(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: backend.service.clone(),
                port: Some(ServiceBackendPort { number: Some(i32::from(backend.port)), name: None }),
            }),
            resource: None,
        },
    }
}
