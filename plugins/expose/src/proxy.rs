//! The chart's nginx proxy for L4 exposure (`templates/nginx/{configmap-*,deployment,
//! service}.yaml`): a ConfigMap, a Deployment and the Service users reach.

use std::collections::BTreeMap;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, PodSpec, SecretVolumeSource, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use berth_sdk::spec::{ExposeSpec, ExposeType};
use berth_sdk::{RenderError, RenderRequest, Rendered};

use crate::Backends;
use crate::nginx_conf::{self, CERT_DIR, HTTP_PORT, HTTPS_PORT, Listen};

/// The chart's component label for the proxy's pods, so an existing install's
/// immutable selector still matches.
const NGINX: &str = "nginx";

pub(crate) fn render(out: &mut Rendered, req: &RenderRequest, backends: &Backends) -> Result<(), RenderError> {
    let expose = &req.spec.expose;
    let topology = &req.topology;
    let nginx = topology.component(NGINX)?;
    let replicas = k8s::replicas(&expose.nginx, "spec.expose.nginx")?;
    let ip = req.spec.ip_family;
    if !ip.ipv4 && !ip.ipv6 {
        return Err(RenderError::invalid(
            "spec.ipFamily",
            "at least one of ipv4 and ipv6 must be enabled, or the nginx proxy listens nowhere",
        ));
    }
    let tls = expose.tls_secret.as_deref();
    let listen = Listen { ipv4: ip.ipv4, ipv6: ip.ipv6, tls: tls.is_some() };

    let labels = topology.component(NGINX)?.labels();
    let selector = topology.component(NGINX)?.selector();

    let config =
        k8s::config_map(&nginx.name, &labels, BTreeMap::from([("nginx.conf".to_owned(), nginx_conf::nginx_conf(backends, listen))]));

    let (probe_port, probe_scheme) = if tls.is_some() { (HTTPS_PORT, "https") } else { (HTTP_PORT, "http") };
    let mut mounts = vec![VolumeMount {
        name: "config".to_owned(),
        mount_path: "/etc/nginx/nginx.conf".to_owned(),
        sub_path: Some("nginx.conf".to_owned()),
        ..VolumeMount::default()
    }];
    let mut volumes = vec![Volume {
        name: "config".to_owned(),
        config_map: Some(ConfigMapVolumeSource { name: nginx.name.clone(), ..ConfigMapVolumeSource::default() }),
        ..Volume::default()
    }];
    if let Some(secret) = tls {
        mounts.push(VolumeMount {
            name: "certificate".to_owned(),
            mount_path: CERT_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: "certificate".to_owned(),
            secret: Some(SecretVolumeSource { secret_name: Some(secret.to_owned()), ..SecretVolumeSource::default() }),
            ..Volume::default()
        });
    }

    let spec = &expose.nginx;
    let container = Container {
        name: NGINX.to_owned(),
        image: Some(match &spec.image {
            Some(image) => image.clone(),
            None => nginx.image(NGINX)?.to_owned(),
        }),
        image_pull_policy: Some(topology.image_pull_policy.clone()),
        // 8443 only when nginx listens on it: a declared port nobody serves misleads
        // every tool that reads the pod.
        ports: Some(if tls.is_some() {
            vec![container_port("http", HTTP_PORT), container_port("https", HTTPS_PORT)]
        } else {
            vec![container_port("http", HTTP_PORT)]
        }),
        liveness_probe: Some(k8s::http_probe("/", probe_port, probe_scheme, 300, 10)),
        readiness_probe: Some(k8s::http_probe("/", probe_port, probe_scheme, 1, 10)),
        resources: spec.resources.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        security_context: Some(k8s::restricted_container_security()),
        volume_mounts: Some(mounts),
        ..Container::default()
    };

    let mut pod = PodSpec {
        containers: vec![container],
        security_context: Some(k8s::pod_security(HARBOR_UID)),
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    k8s::apply_pod_settings(&mut pod, spec, topology);

    let deployment = k8s::deployment(&nginx.name, &labels, &selector, replicas, spec, pod);

    out.object(&config)?.object(&deployment)?.object(&service(expose, &labels, &selector))?;
    if let Some(budget) = k8s::disruption_budget(&nginx.name, &labels, &selector, replicas) {
        out.object(&budget)?;
    }
    Ok(())
}

fn container_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: i32::from(port),
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// The Service users reach: http always, https only when the proxy terminates TLS.
pub(crate) fn service(expose: &ExposeSpec, labels: &BTreeMap<String, String>, selector: &BTreeMap<String, String>) -> Service {
    let s = &expose.service;
    let node_port = expose.type_ == ExposeType::NodePort;
    let port = |name: &str, port: u16, target: u16, node: Option<u16>| ServicePort {
        node_port: node.filter(|_| node_port).map(i32::from),
        ..k8s::service_port(name, port, target)
    };
    let mut ports = vec![port("http", s.http_port, HTTP_PORT, s.http_node_port)];
    if expose.tls_secret.is_some() {
        ports.push(port("https", s.https_port, HTTPS_PORT, s.https_node_port));
    }
    let load_balancer = expose.type_ == ExposeType::LoadBalancer;
    let type_ = match expose.type_ {
        ExposeType::NodePort => "NodePort",
        ExposeType::LoadBalancer => "LoadBalancer",
        ExposeType::ClusterIP | ExposeType::Ingress | ExposeType::Route => "ClusterIP",
    };

    let mut metadata = k8s::meta(&s.name, labels);
    metadata.annotations = (!s.annotations.is_empty()).then(|| s.annotations.clone());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(type_.to_owned()),
            selector: Some(selector.clone()),
            ports: Some(ports),
            load_balancer_ip: s.load_balancer_ip.clone().filter(|_| load_balancer),
            load_balancer_source_ranges: (load_balancer && !s.source_ranges.is_empty()).then(|| s.source_ranges.clone()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
