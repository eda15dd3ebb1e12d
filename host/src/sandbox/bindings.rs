//! Host-side bindings of `wit/renderer.wit`, and the bounds the host puts on what a
//! plugin's strings may carry into logs, status and Events. The types are used as
//! generated (re-exported by `crate::contract`); serde derives let them be JSON too.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "component-renderer",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

use exports::berth::plugin::renderer as wit;

/// Longest text of a plugin's that reaches a log line, status or an Event: a message
/// (an error, a condition) and a field path.
pub const MAX_PLUGIN_MESSAGE: usize = 1024;
const MAX_PLUGIN_FIELD: usize = 256;

/// A plugin's error, its strings bounded (a 40 MiB message was once sent whole to the
/// audit log) and their control characters neutralised.
pub(crate) fn bound_render_error(e: wit::RenderError) -> wit::RenderError {
    let message = |m: String| crate::names::truncate(&m, MAX_PLUGIN_MESSAGE);
    match e {
        wit::RenderError::InvalidSpec(i) => wit::RenderError::InvalidSpec(wit::InvalidSpec {
            field: crate::names::truncate(&i.field, MAX_PLUGIN_FIELD),
            message: message(i.message),
        }),
        wit::RenderError::Unsupported(m) => wit::RenderError::Unsupported(message(m)),
        wit::RenderError::Internal(m) => wit::RenderError::Internal(message(m)),
    }
}

/// A plugin's condition, its strings bounded like an error's.
pub(crate) fn bound_condition(c: wit::Condition) -> wit::Condition {
    wit::Condition {
        status: c.status,
        kind: crate::names::truncate(&c.kind, MAX_PLUGIN_FIELD),
        reason: crate::names::truncate(&c.reason, MAX_PLUGIN_FIELD),
        message: crate::names::truncate(&c.message, MAX_PLUGIN_MESSAGE),
    }
}
