//! A "next version" of the portal renderer, for the end-to-end tests of plugin version
//! swaps: it describes itself as berth-portal 0.2.0 and renders exactly what the real
//! portal renders, except that the Deployment's pod template carries the annotation
//! `portal.berth.dev/renderer: "0.2.0"`. A test that swaps the portal plugin for this
//! one can therefore see the new renderer's output roll out (the pod template changes)
//! while every other object stays byte-for-byte the same.

#![forbid(unsafe_code)]

// The real portal renderer, compiled in (see plugins/portal/src/render.rs for why not a
// dependency).
#[path = "../../../../plugins/portal/src/render.rs"]
mod portal;

use portal::Portal;

use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};
use serde_json::{Map, Value};

/// The version this renderer claims, and the annotation's value.
const VERSION: &str = "0.2.0";
/// The pod-template annotation that marks pods rendered by this version.
const ANNOTATION: &str = "portal.berth.dev/renderer";

pub struct PortalNext;

impl Renderer for PortalNext {
    fn describe() -> PluginDescription {
        PluginDescription { version: VERSION.to_owned(), ..Portal::describe() }
    }

    fn render(request: &RenderRequest) -> Result<Rendered, RenderError> {
        let portal = Portal::render(request)?.into_output();
        let mut out = Rendered::default();
        for json in &portal.objects {
            let mut object: Value = serde_json::from_str(json)
                .map_err(|e| RenderError::Internal(format!("the portal rendered an object that is not JSON: {e}")))?;
            if object.get("kind").and_then(Value::as_str) == Some("Deployment") {
                annotate_pod_template(&mut object)?;
            }
            out.raw_object(&object);
        }
        for secret in portal.secrets {
            out.secret(secret);
        }
        for condition in portal.conditions {
            out.condition(condition);
        }
        Ok(out)
    }
}

/// Sets the version annotation on `spec.template.metadata.annotations`, creating the
/// metadata and annotations maps when the portal left them out (or null).
fn annotate_pod_template(deployment: &mut Value) -> Result<(), RenderError> {
    let template = deployment
        .pointer_mut("/spec/template")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| internal("the portal Deployment has no pod template"))?;
    let metadata = object_entry(template, "metadata").ok_or_else(|| internal("the pod template's metadata is not an object"))?;
    let annotations = object_entry(metadata, "annotations").ok_or_else(|| internal("the pod template's annotations are not an object"))?;
    annotations.insert(ANNOTATION.to_owned(), Value::String(VERSION.to_owned()));
    Ok(())
}

/// The map under `key`, created when missing or null; None when it is something else.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let value = map.entry(key).or_insert(Value::Null);
    if value.is_null() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut()
}

fn internal(message: &str) -> RenderError {
    RenderError::Internal(message.to_owned())
}

berth_sdk::export_renderer!(PortalNext);
