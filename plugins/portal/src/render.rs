//! The portal renderer itself. The test plugins that vary it (tests/plugins/portal-*,
//! guardrail-breaker) compile this file into themselves with `#[path]` rather than
//! depending on this package: a dependency would build the package's cdylib a second
//! time with its export off, at the same unhashed path, so each build would undo the
//! other's and recompile it.

use std::collections::BTreeMap;

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::core::v1::{ConfigMapVolumeSource, Container, ContainerPort, PodSpec, Volume, VolumeMount};
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

const COMPONENT: &str = "portal";

pub struct Portal;

impl Renderer for Portal {
    fn describe() -> PluginDescription {
        berth_sdk::bundled_description!("berth-portal", COMPONENT)
    }

    fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
        let spec = &req.spec.portal;
        let topology = &req.topology;
        let portal = topology.component(COMPONENT)?;
        let replicas = k8s::replicas(spec, "spec.portal")?;
        let ip = req.spec.ip_family;
        if !ip.ipv4 && !ip.ipv6 {
            return Err(RenderError::invalid(
                "spec.ipFamily",
                "at least one of ipv4 and ipv6 must be enabled, or the portal listens nowhere",
            ));
        }

        let labels = topology.component(COMPONENT)?.labels();
        let selector = topology.component(COMPONENT)?.selector();

        let config = k8s::config_map(
            &portal.name,
            &labels,
            BTreeMap::from([("nginx.conf".to_owned(), nginx_conf(portal.container_port, ip.ipv4, ip.ipv6))]),
        );

        let container = Container {
            name: COMPONENT.to_owned(),
            image: Some(match &spec.image {
                Some(image) => image.clone(),
                None => portal.image(COMPONENT)?.to_owned(),
            }),
            image_pull_policy: Some(topology.image_pull_policy.clone()),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_owned()),
                container_port: i32::from(portal.container_port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            liveness_probe: Some(k8s::http_probe("/", portal.container_port, &portal.scheme, 300, 10)),
            readiness_probe: Some(k8s::http_probe("/", portal.container_port, &portal.scheme, 1, 10)),
            resources: spec.resources.clone(),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            security_context: Some(k8s::restricted_container_security()),
            volume_mounts: Some(vec![VolumeMount {
                name: "portal-config".to_owned(),
                mount_path: "/etc/nginx/nginx.conf".to_owned(),
                sub_path: Some("nginx.conf".to_owned()),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };

        let mut pod = PodSpec {
            containers: vec![container],
            security_context: Some(k8s::pod_security(HARBOR_UID)),
            volumes: Some(vec![Volume {
                name: "portal-config".to_owned(),
                config_map: Some(ConfigMapVolumeSource { name: portal.name.clone(), ..ConfigMapVolumeSource::default() }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        };
        k8s::apply_pod_settings(&mut pod, spec, topology);

        let deployment = k8s::deployment(&portal.name, &labels, &selector, replicas, spec, pod);

        let service = k8s::cluster_ip_service(
            &portal.service_name,
            &labels,
            &selector,
            vec![k8s::service_port(&portal.scheme, portal.service_port, portal.container_port)],
        );

        let mut out = Rendered::default();
        out.object(&config)?.object(&deployment)?.object(&service)?;
        if let Some(budget) = k8s::disruption_budget(&portal.name, &labels, &selector, replicas) {
            out.object(&budget)?;
        }
        Ok(out)
    }
}

/// The chart's portal nginx.conf (plain HTTP; internal TLS comes with the renderers issue).
pub(crate) fn nginx_conf(port: u16, ipv4: bool, ipv6: bool) -> String {
    let mut listen = String::new();
    if ipv4 {
        listen.push_str(&format!("        listen {port};\n"));
    }
    if ipv6 {
        listen.push_str(&format!("        listen [::]:{port};\n"));
    }
    format!(
        r#"worker_processes auto;
pid /tmp/nginx.pid;
events {{
    worker_connections  1024;
}}
http {{
    client_body_temp_path /tmp/client_body_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;
    server {{
{listen}        server_name  localhost;
        root   /usr/share/nginx/html;
        index  index.html index.htm;
        include /etc/nginx/mime.types;
        gzip on;
        gzip_min_length 1000;
        gzip_proxied expired no-cache no-store private auth;
        gzip_types text/plain text/css application/json application/javascript application/x-javascript text/xml application/xml application/xml+rss text/javascript;
        location /devcenter-api-2.0 {{
            try_files $uri $uri/ /swagger-ui-index.html;
        }}
        location / {{
            try_files $uri $uri/ /index.html;
        }}
        location = /index.html {{
            add_header Cache-Control "no-store, no-cache, must-revalidate";
        }}
    }}
}}
"#
    )
}
