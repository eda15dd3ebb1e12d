//! The adapter's environment: the chart's `trivy-sts.yaml` plus the Redis namespaces the
//! upstream installer sets (`trivy-adapter/env.jinja`).

use berth_sdk::HarborClusterSpec;
use berth_sdk::k8s::{no_proxy, value_env as value};
use berth_sdk::k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use berth_sdk::topology::{REDIS_PASSWORD_ENV, Topology};

/// Where the adapter keeps the vulnerability databases and reports (under the cache volume).
const CACHE_DIR: &str = "/home/scanner/.cache/trivy";
const REPORTS_DIR: &str = "/home/scanner/.cache/reports";

pub fn env(spec: &HarborClusterSpec, topology: &Topology, port: u16) -> Vec<EnvVar> {
    let trivy = &spec.trivy;
    let mut env = vec![
        value("SCANNER_LOG_LEVEL", spec.log_level.as_str()),
        value("SCANNER_TRIVY_CACHE_DIR", CACHE_DIR),
        value("SCANNER_TRIVY_REPORTS_DIR", REPORTS_DIR),
        value("SCANNER_TRIVY_DEBUG_MODE", "false"),
        value("SCANNER_TRIVY_VULN_TYPE", &trivy.vuln_type),
        value("SCANNER_TRIVY_TIMEOUT", &trivy.timeout),
        value("SCANNER_TRIVY_SEVERITY", &trivy.severity),
        value("SCANNER_TRIVY_IGNORE_UNFIXED", flag(trivy.ignore_unfixed)),
        value("SCANNER_TRIVY_SKIP_UPDATE", flag(trivy.skip_update)),
        value("SCANNER_TRIVY_SKIP_JAVA_DB_UPDATE", flag(trivy.skip_java_db_update)),
        value("SCANNER_TRIVY_OFFLINE_SCAN", flag(trivy.offline_scan)),
        value("SCANNER_TRIVY_SECURITY_CHECKS", "vuln"),
        value("SCANNER_TRIVY_INSECURE", flag(trivy.insecure)),
        value("SCANNER_API_SERVER_ADDR", &format!(":{port}")),
    ];
    if let Some(token) = &trivy.github_token {
        env.push(secret("SCANNER_TRIVY_GITHUB_TOKEN", &token.name, &token.key));
    }
    // Kubernetes expands $(REDIS_PASSWORD) in the URLs only from variables defined
    // before them, so the password comes first.
    let redis = &topology.redis;
    if let Some(password) = &redis.password {
        env.push(secret(REDIS_PASSWORD_ENV, &password.name, &password.key));
    }
    let url = format!("{}?idle_timeout_seconds=30", redis.url(redis.indices.trivy));
    for name in ["SCANNER_REDIS_URL", "SCANNER_STORE_REDIS_URL", "SCANNER_JOB_QUEUE_REDIS_URL"] {
        env.push(value(name, &url));
    }
    env.push(value("SCANNER_STORE_REDIS_NAMESPACE", "harbor.scanner.trivy:store"));
    env.push(value("SCANNER_JOB_QUEUE_REDIS_NAMESPACE", "harbor.scanner.trivy:job-queue"));
    if let Some(proxy) = spec.proxy.as_ref().filter(|p| p.components.iter().any(|c| c == "trivy")) {
        if let Some(http) = &proxy.http_proxy {
            env.push(value("HTTP_PROXY", http));
        }
        if let Some(https) = &proxy.https_proxy {
            env.push(value("HTTPS_PROXY", https));
        }
        env.push(value("NO_PROXY", &no_proxy(topology, &proxy.no_proxy)));
    }
    env.extend(trivy.pod.env.iter().cloned());
    env
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}

fn secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.to_owned(), key: key.to_owned(), optional: None }),
            ..EnvVarSource::default()
        }),
    }
}
