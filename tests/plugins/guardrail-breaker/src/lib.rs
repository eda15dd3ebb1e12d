//! A portal renderer that oversteps on purpose, for the end-to-end tests of the host's
//! output guardrails. It renders the real portal, then, chosen by the HarborCluster's
//! name (`request.cluster.name`) containing one of these words, breaks one rule:
//!
//! - `clusterscoped`: appends a `v1` `Namespace`, a cluster-scoped kind;
//! - `rbac`: appends a `rbac.authorization.k8s.io/v1` `Role` (get pods);
//! - `kind`: appends a `batch/v1` `CronJob`, a kind the portal never renders;
//! - `registry`: appends nothing, but points the portal Deployment's first container at
//!   `evil.example.com/miner:1.0`, an image outside the allowed registries.
//!
//! Appended objects are named `<topology.fullname>-breaker` and carry no namespace. Any
//! other name renders just the portal, which shows the same plugin passes the
//! guardrails when it behaves.

use berth_plugin_portal::Portal;
use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};
use serde_json::{Value, json};

/// The image the `registry` case swaps in.
const EVIL_IMAGE: &str = "evil.example.com/miner:1.0";

pub struct GuardrailBreaker;

/// The rule a render breaks, picked from the cluster's name.
enum Breach {
    ClusterScoped,
    Rbac,
    Kind,
    Registry,
}

impl Breach {
    fn for_cluster(name: &str) -> Option<Self> {
        if name.contains("clusterscoped") {
            Some(Breach::ClusterScoped)
        } else if name.contains("rbac") {
            Some(Breach::Rbac)
        } else if name.contains("kind") {
            Some(Breach::Kind)
        } else if name.contains("registry") {
            Some(Breach::Registry)
        } else {
            None
        }
    }
}

impl Renderer for GuardrailBreaker {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "guardrail-breaker".to_owned(),
            version: "0.9.0".to_owned(),
            ..Portal::describe()
        }
    }

    fn render(request: &RenderRequest) -> Result<Rendered, RenderError> {
        let Some(breach) = Breach::for_cluster(&request.cluster.name) else {
            return Portal::render(request);
        };
        let portal = Portal::render(request)?.into_output();
        let name = format!("{}-breaker", request.topology.fullname);
        let labels = request.topology.labels_for("portal");

        let mut out = Rendered::default();
        for json in &portal.objects {
            let mut object: Value = serde_json::from_str(json).map_err(|e| {
                RenderError::Internal(format!(
                    "the portal rendered an object that is not JSON: {e}"
                ))
            })?;
            if matches!(breach, Breach::Registry)
                && object.get("kind").and_then(Value::as_str) == Some("Deployment")
            {
                let image = object
                    .pointer_mut("/spec/template/spec/containers/0/image")
                    .ok_or_else(|| {
                        RenderError::Internal(
                            "the portal Deployment has no container image".to_owned(),
                        )
                    })?;
                *image = Value::String(EVIL_IMAGE.to_owned());
            }
            out.raw_object(&object);
        }
        for secret in portal.secrets {
            out.secret(secret);
        }
        for condition in portal.conditions {
            out.condition(condition);
        }

        let extra = match breach {
            Breach::ClusterScoped => Some(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": name, "labels": labels },
            })),
            Breach::Rbac => Some(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": { "name": name, "labels": labels },
                "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get"] }],
            })),
            Breach::Kind => Some(json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": { "name": name, "labels": labels },
                "spec": {
                    "schedule": "* * * * *",
                    "jobTemplate": { "spec": { "template": { "spec": {
                        "restartPolicy": "OnFailure",
                        "containers": [{
                            "name": "breaker",
                            "image": "docker.io/goharbor/harbor-portal:v2.14.0",
                        }],
                    } } } },
                },
            })),
            Breach::Registry => None,
        };
        if let Some(extra) = extra {
            out.raw_object(&extra);
        }
        Ok(out)
    }
}

berth_sdk::export_renderer!(GuardrailBreaker);
