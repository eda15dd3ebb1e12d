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
        cluster: wit::ClusterIdentity {
            name: i.cluster.name.clone(),
            namespace: i.cluster.namespace.clone(),
            uid: i.cluster.uid.clone(),
        },
        harbor_version: i.harbor_version.clone(),
        spec_json: i.spec_json.clone(),
        topology_json: i.topology_json.clone(),
    }
}

pub(crate) fn render_error(e: wit::RenderError) -> contract::RenderError {
    match e {
        wit::RenderError::InvalidSpec(i) => contract::RenderError::InvalidSpec {
            field: i.field,
            message: i.message,
        },
        wit::RenderError::Unsupported(m) => contract::RenderError::Unsupported(m),
        wit::RenderError::Internal(m) => contract::RenderError::Internal(m),
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
                    wit::SecretValue::BcryptHtpasswd(b) => contract::SecretValue::BcryptHtpasswd {
                        username: b.username,
                        password_key: b.password_key,
                    },
                },
            })
            .collect(),
    }
}

pub(crate) fn condition(c: wit::Condition) -> contract::Condition {
    contract::Condition {
        kind: c.kind,
        status: match c.status {
            wit::ConditionStatus::True => contract::ConditionStatus::True,
            wit::ConditionStatus::False => contract::ConditionStatus::False,
            wit::ConditionStatus::Unknown => contract::ConditionStatus::Unknown,
        },
        reason: c.reason,
        message: c.message,
    }
}
