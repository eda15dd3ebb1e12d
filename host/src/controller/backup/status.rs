//! Status of HarborBackups and HarborRestores, written by server-side apply, and the
//! Events that go with a change of phase.

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt as _};
use serde::Serialize;

use super::error::{BackupError, Result};
use crate::controller::{Context, FIELD_MANAGER};
use berth_api::status::StatusCondition;

/// Now, as status spells times (RFC 3339, seconds).
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Seconds between two status times, when both parse.
pub fn seconds_between(start: Option<&str>, end: &str) -> Option<f64> {
    let start: k8s_openapi::jiff::Timestamp = start?.parse().ok()?;
    let end: k8s_openapi::jiff::Timestamp = end.parse().ok()?;
    Some(end.duration_since(start).as_secs_f64())
}

/// The one condition a phase carries: `Ready`-like `Succeeded` with the reason.
pub fn condition(status: bool, reason: &str, message: impl Into<String>) -> StatusCondition {
    StatusCondition {
        type_: "Succeeded".to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
    }
}

/// Writes `status` when it differs from the object's.
pub async fn write<K, S>(ctx: &Context, object: &K, current: Option<&S>, status: &S) -> Result<bool>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(false);
    }
    let namespace = object.namespace().ok_or(BackupError::MissingMetadata("object", "namespace"))?;
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    ctx.metrics.write("patch", &format!("{}/status", K::kind(&())));
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(BackupError::kube(format!("writing status of {} {namespace}/{name}", K::kind(&()))))?;
    Ok(true)
}

/// Publishes an Event about a HarborBackup or HarborRestore; its action is its reason.
pub async fn event<K>(ctx: &Context, object: &K, warning: bool, reason: &str, note: &str)
where
    K: Resource<DynamicType = ()>,
{
    let type_ = if warning { EventType::Warning } else { EventType::Normal };
    ctx.event(object, type_, reason, reason, note).await;
}
