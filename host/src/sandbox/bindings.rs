//! Host-side bindings of `wit/renderer.wit` and their conversion to the SDK's types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "component-renderer",
});

use berth_sdk::contract;
use exports::berth::plugin::renderer as wit;

pub(crate) fn description(d: wit::PluginDescription) -> contract::PluginDescription {
    contract::PluginDescription {
        name: d.name,
        version: d.version,
        component: d.component,
        harbor_versions: d.harbor_versions,
        contract_version: d.contract_version,
    }
}

pub(crate) fn input(i: &contract::RenderInput) -> wit::RenderInput {
    wit::RenderInput {
        cluster: wit::ClusterIdentity { name: i.cluster.name.clone(), namespace: i.cluster.namespace.clone(), uid: i.cluster.uid.clone() },
        harbor_version: i.harbor_version.clone(),
        spec_json: i.spec_json.clone(),
        topology_json: i.topology_json.clone(),
    }
}

/// Longest text of a plugin's that reaches a log line, status or an Event: a message
/// (an error, a condition) and a field path.
pub const MAX_PLUGIN_MESSAGE: usize = 1024;
const MAX_PLUGIN_FIELD: usize = 256;

/// A plugin's error, its strings bounded (a 40 MiB message was once sent whole to the
/// audit log) and their control characters neutralised.
pub(crate) fn render_error(e: wit::RenderError) -> contract::RenderError {
    let message = |m: String| crate::names::truncate(&m, MAX_PLUGIN_MESSAGE);
    match e {
        wit::RenderError::InvalidSpec(i) => {
            contract::RenderError::InvalidSpec { field: crate::names::truncate(&i.field, MAX_PLUGIN_FIELD), message: message(i.message) }
        }
        wit::RenderError::Unsupported(m) => contract::RenderError::Unsupported(message(m)),
        wit::RenderError::Internal(m) => contract::RenderError::Internal(message(m)),
    }
}

pub(crate) fn secret(s: wit::GeneratedSecret) -> contract::GeneratedSecret {
    contract::GeneratedSecret {
        name: s.name,
        keys: s
            .keys
            .into_iter()
            .map(|k| contract::GeneratedKey {
                key: k.key,
                value: match k.value {
                    wit::SecretValue::RandomString(n) => contract::SecretValue::RandomString(n),
                    wit::SecretValue::RsaKeyWithCert(r) => contract::SecretValue::RsaKeyWithCert {
                        bits: r.bits,
                        common_name: r.common_name,
                        validity_days: r.validity_days,
                        certificate_key: r.certificate_key,
                    },
                    wit::SecretValue::BcryptHtpasswd(b) => {
                        contract::SecretValue::BcryptHtpasswd { username: b.username, password_key: b.password_key }
                    }
                },
            })
            .collect(),
    }
}

pub(crate) fn condition(c: wit::Condition) -> contract::Condition {
    contract::Condition {
        status: match c.status {
            wit::ConditionStatus::True => contract::ConditionStatus::True,
            wit::ConditionStatus::False => contract::ConditionStatus::False,
            wit::ConditionStatus::Unknown => contract::ConditionStatus::Unknown,
        },
        kind: crate::names::truncate(&c.kind, MAX_PLUGIN_FIELD),
        reason: crate::names::truncate(&c.reason, MAX_PLUGIN_FIELD),
        message: crate::names::truncate(&c.message, MAX_PLUGIN_MESSAGE),
    }
}
