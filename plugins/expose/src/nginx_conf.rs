//! The nginx proxy's nginx.conf, equivalent to the chart's
//! `templates/nginx/configmap-http.yaml` and `configmap-https.yaml`.

use std::fmt::Write as _;

use crate::Backends;

/// Container ports of the proxy (it runs as uid 10000, so nothing below 1024).
pub(crate) const HTTP_PORT: u16 = 8080;
pub(crate) const HTTPS_PORT: u16 = 8443;
/// Where the user's kubernetes.io/tls Secret is mounted.
pub(crate) const CERT_DIR: &str = "/etc/nginx/cert";

/// What the proxy listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listen {
    pub ipv4: bool,
    pub ipv6: bool,
    /// Terminate TLS on 8443 (and redirect 8080 to it).
    pub tls: bool,
}

pub(crate) fn nginx_conf(backends: &Backends, listen: Listen) -> String {
    let core = &backends.core;
    let portal = &backends.portal;
    let mut conf = format!(
        r#"worker_processes auto;
pid /tmp/nginx.pid;

events {{
  worker_connections 3096;
  use epoll;
  multi_accept on;
}}

http {{
  client_body_temp_path /tmp/client_body_temp;
  proxy_temp_path /tmp/proxy_temp;
  fastcgi_temp_path /tmp/fastcgi_temp;
  uwsgi_temp_path /tmp/uwsgi_temp;
  scgi_temp_path /tmp/scgi_temp;
  tcp_nodelay on;

  # HTTP/1.1 upstream is required to turn request buffering off in every case.
  proxy_http_version 1.1;

  upstream core {{
    server "{core_service}:{core_port}";
  }}

  upstream portal {{
    server "{portal_service}:{portal_port}";
  }}

  log_format timed_combined '[$time_local]:$remote_addr - '
    '"$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" '
    '$request_time $upstream_response_time $pipe';

  access_log /dev/stdout timed_combined;

  map $http_x_forwarded_proto $x_forwarded_proto {{
    default $http_x_forwarded_proto;
    ""      $scheme;
  }}

  # $host drops a non-default port, and core's cross-origin check compares Origin
  # with Host including the port; $host is only the fallback for Host-less requests.
  map $http_host $forwarded_host {{
    default $http_host;
    ""      $host;
  }}

  server {{
"#,
        core_service = core.service,
        core_port = core.port,
        portal_service = portal.service,
        portal_port = portal.port,
    );

    let port = if listen.tls { HTTPS_PORT } else { HTTP_PORT };
    conf.push_str(&listen_lines(port, listen));
    conf.push_str("    server_tokens off;\n");
    if listen.tls {
        let _ = write!(
            conf,
            r#"    ssl_certificate {CERT_DIR}/tls.crt;
    ssl_certificate_key {CERT_DIR}/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers '!aNULL:kECDH+AESGCM:ECDH+AESGCM:RSA+AESGCM:kECDH+AES:ECDH+AES:RSA+AES:';
    ssl_prefer_server_ciphers on;
    ssl_session_cache shared:SSL:10m;
"#
        );
    }
    conf.push_str(
        r#"
    # Image layers are gigabytes: no body limit, no buffering (HTTP 413 otherwise).
    client_max_body_size 0;
    # docker clients need chunked uploads (docker/docker#1486).
    chunked_transfer_encoding on;

"#,
    );
    if listen.tls {
        conf.push_str("    add_header Strict-Transport-Security \"max-age=31536000; includeSubdomains; preload\";\n");
    }
    conf.push_str(
        r#"    add_header X-Frame-Options DENY;
    add_header Content-Security-Policy "frame-ancestors 'none'";

"#,
    );

    let cookie = |value: &'static str| listen.tls.then_some(value);
    conf.push_str(&proxy_location("/", &portal.scheme, "portal", "/", cookie("/; HttpOnly; Secure"), false));
    conf.push_str(&proxy_location("/api/", &core.scheme, "core", "/api/", cookie("/; Secure"), false));
    conf.push_str(&proxy_location("/c/", &core.scheme, "core", "/c/", cookie("/; Secure"), false));
    conf.push_str(&not_found("/v1/"));
    conf.push_str(&proxy_location("/v2/", &core.scheme, "core", "/v2/", None, true));
    conf.push_str(&proxy_location("/service/", &core.scheme, "core", "/service/", cookie("/; Secure"), false));
    conf.push_str(&not_found("/service/notifications"));
    // Each location ends with a blank line; the server block's brace follows directly.
    conf.pop();
    conf.push_str("  }\n");

    if listen.tls {
        conf.push_str("\n  server {\n");
        conf.push_str(&listen_lines(HTTP_PORT, Listen { tls: false, ..listen }));
        conf.push_str("    return 301 https://$host$request_uri;\n  }\n");
    }
    conf.push_str("}\n");
    conf
}

fn listen_lines(port: u16, listen: Listen) -> String {
    let ssl = if listen.tls { " ssl" } else { "" };
    let mut out = String::new();
    if listen.ipv4 {
        let _ = writeln!(out, "    listen {port}{ssl};");
    }
    if listen.ipv6 {
        let _ = writeln!(out, "    listen [::]:{port}{ssl};");
    }
    out
}

/// A location proxied to `upstream` with the chart's headers and no buffering either way.
/// `long` gives the registry API its 900 s timeouts (large layer uploads).
fn proxy_location(path: &str, scheme: &str, upstream: &str, target: &str, cookie_path: Option<&str>, long: bool) -> String {
    let mut out = format!("    location {path} {{\n      proxy_pass {scheme}://{upstream}{target};\n");
    if scheme == "https" {
        // Internal TLS certificates are signed by the cluster's own CA.
        out.push_str("      proxy_ssl_verify off;\n      proxy_ssl_session_reuse on;\n");
    }
    out.push_str(
        r#"      proxy_set_header Host $forwarded_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $x_forwarded_proto;
"#,
    );
    if let Some(cookie) = cookie_path {
        let _ = writeln!(out, "      proxy_cookie_path / \"{cookie}\";");
    }
    out.push_str("      proxy_buffering off;\n      proxy_request_buffering off;\n");
    if long {
        out.push_str("      proxy_send_timeout 900;\n      proxy_read_timeout 900;\n");
    }
    out.push_str("    }\n\n");
    out
}

fn not_found(path: &str) -> String {
    format!("    location {path} {{\n      return 404;\n    }}\n\n")
}
