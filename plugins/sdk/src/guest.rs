//! Guest-side bindings of the WIT contract and their conversion to the SDK's types.
//! Only built for wasm32; plugin code never touches it directly.

wit_bindgen::generate!({
    path: "../../wit",
    world: "component-renderer",
    pub_export_macro: true,
    export_macro_name: "__berth_export_renderer",
    default_bindings_module: "berth_sdk::guest",
});

use exports::berth::plugin::renderer as wit;

use crate::contract;

pub fn describe<R: crate::Renderer>() -> wit::PluginDescription {
    let d = R::describe();
    wit::PluginDescription {
        name: d.name,
        version: d.version,
        component: d.component,
        harbor_versions: d.harbor_versions,
        contract_version: d.contract_version,
    }
}

pub fn render<R: crate::Renderer>(input: wit::RenderInput) -> Result<wit::RenderOutput, wit::RenderError> {
    let input = contract::RenderInput {
        cluster: contract::ClusterIdentity { name: input.cluster.name, namespace: input.cluster.namespace, uid: input.cluster.uid },
        harbor_version: input.harbor_version,
        spec_json: input.spec_json,
        topology_json: input.topology_json,
    };
    match crate::render_input::<R>(&input) {
        Ok(out) => Ok(wit::RenderOutput {
            objects: out.objects,
            secrets: out.secrets.into_iter().map(secret_to_wit).collect(),
            conditions: out.conditions.into_iter().map(condition_to_wit).collect(),
        }),
        Err(e) => Err(match e {
            contract::RenderError::InvalidSpec { field, message } => wit::RenderError::InvalidSpec(wit::InvalidSpec { field, message }),
            contract::RenderError::Unsupported(m) => wit::RenderError::Unsupported(m),
            contract::RenderError::Internal(m) => wit::RenderError::Internal(m),
        }),
    }
}

fn secret_to_wit(s: contract::GeneratedSecret) -> wit::GeneratedSecret {
    wit::GeneratedSecret {
        name: s.name,
        keys: s
            .keys
            .into_iter()
            .map(|k| wit::GeneratedKey {
                key: k.key,
                value: match k.value {
                    contract::SecretValue::RandomString(n) => wit::SecretValue::RandomString(n),
                    contract::SecretValue::RsaKeyWithCert { bits, common_name, validity_days, certificate_key } => {
                        wit::SecretValue::RsaKeyWithCert(wit::RsaKeyWithCert { bits, common_name, validity_days, certificate_key })
                    }
                    contract::SecretValue::BcryptHtpasswd { username, password_key } => {
                        wit::SecretValue::BcryptHtpasswd(wit::BcryptHtpasswd { username, password_key })
                    }
                },
            })
            .collect(),
    }
}

fn condition_to_wit(c: contract::Condition) -> wit::Condition {
    wit::Condition {
        kind: c.kind,
        status: match c.status {
            contract::ConditionStatus::True => wit::ConditionStatus::True,
            contract::ConditionStatus::False => wit::ConditionStatus::False,
            contract::ConditionStatus::Unknown => wit::ConditionStatus::Unknown,
        },
        reason: c.reason,
        message: c.message,
    }
}
