//! The host's edge check of a HarborCluster spec against the CRD's own schema: an
//! unknown field (a typo) or a value of the wrong type is refused, naming the field.
//!
//! The spec types tolerate unknown fields in every build, so a plugin built against an
//! older API keeps working when the host adds fields. Refusing them is the edge's job:
//! in the cluster the API server does it with this same schema (the CRD is structural,
//! so it prunes or, under strict field validation, refuses them); offline, `berth
//! render` does it here. One schema, so the two edges cannot disagree.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// A field the schema refuses: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SchemaViolation {
    pub field: String,
    pub message: String,
}

/// The `spec` schema of the HarborCluster CRD, built once.
static SPEC_SCHEMA: LazyLock<Result<Value, String>> = LazyLock::new(|| {
    let crd = crate::crd::harbor_cluster_crd().map_err(|e| e.to_string())?;
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec").cloned().ok_or_else(|| "the CRD has no spec schema".to_owned())
});

/// Checks a HarborCluster's `.spec` (as JSON) against the CRD schema.
pub fn check_spec(spec: &Value) -> Result<(), SchemaViolation> {
    let schema = SPEC_SCHEMA
        .as_ref()
        .map_err(|e| SchemaViolation { field: "spec".to_owned(), message: format!("no schema to check against: {e}") })?;
    check(spec, schema, "spec")
}

fn check(value: &Value, schema: &Value, field: &str) -> Result<(), SchemaViolation> {
    let Value::Object(schema) = schema else { return Ok(()) };
    let flag = |name: &str| schema.get(name).and_then(Value::as_bool) == Some(true);
    // A null is left to serde, which takes it as "unset" for an optional field and names
    // the field otherwise (the API server drops nulls of fields that are not nullable).
    if flag("x-kubernetes-preserve-unknown-fields") || value.is_null() {
        return Ok(());
    }
    let wrong = |expected: &str| {
        Err(SchemaViolation { field: field.to_owned(), message: format!("expected {expected}, found {}", describe(value)) })
    };
    if flag("x-kubernetes-int-or-string") {
        return if value.is_i64() || value.is_u64() || value.is_string() { Ok(()) } else { wrong("an integer or a string") };
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => match value {
            Value::Object(map) => check_object(map, schema, field),
            _ => wrong("an object"),
        },
        Some("array") => match value {
            Value::Array(items) => {
                let item_schema = schema.get("items").unwrap_or(&Value::Null);
                items.iter().enumerate().try_for_each(|(i, item)| check(item, item_schema, &format!("{field}[{i}]")))
            }
            _ => wrong("a list"),
        },
        Some("string") if !value.is_string() => wrong("a string"),
        Some("integer") if !(value.is_i64() || value.is_u64()) => wrong("an integer"),
        Some("number") if !value.is_number() => wrong("a number"),
        Some("boolean") if !value.is_boolean() => wrong("true or false"),
        _ => Ok(()),
    }
}

fn check_object(map: &Map<String, Value>, schema: &Map<String, Value>, field: &str) -> Result<(), SchemaViolation> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, value) in map {
        let child = format!("{field}.{key}");
        match (properties.and_then(|p| p.get(key)), additional) {
            (Some(property), _) => check(value, property, &child)?,
            (None, Some(additional)) => check(value, additional, &child)?,
            (None, None) => {
                let known: Vec<&str> = properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                return Err(SchemaViolation {
                    field: child,
                    message: format!(
                        "unknown field {:?}; {} knows: {}",
                        crate::names::truncate(key, 64),
                        field,
                        if known.is_empty() { "no fields".to_owned() } else { known.join(", ") }
                    ),
                });
            }
        }
    }
    Ok(())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(spec: Value) -> Option<String> {
        check_spec(&spec).err().map(|e| e.field)
    }

    fn spec(extra: Value) -> Value {
        let mut spec = json!({"version": "2.15.1", "externalURL": "https://harbor.example.com"});
        if let (Value::Object(base), Value::Object(extra)) = (&mut spec, extra) {
            base.extend(extra);
        }
        spec
    }

    #[test]
    fn a_valid_spec_passes() {
        let full = spec(json!({
            "portal": {"replicas": 2, "resources": {"limits": {"cpu": "1", "memory": 512}}, "nodeSelector": {"a": "b"}},
            "jobservice": {"replicas": 1, "workers": 4, "env": [{"name": "A", "value": "b"}]},
            "database": {"type": "external", "external": {"host": "pg", "username": "u", "passwordSecret": {"name": "s", "key": "k"}}},
        }));
        assert_eq!(check_spec(&full), Ok(()));
    }

    #[test]
    fn unknown_fields_are_named_at_any_depth() {
        assert_eq!(field_of(spec(json!({"portl": {}}))), Some("spec.portl".to_owned()));
        assert_eq!(field_of(spec(json!({"portal": {"replicaz": 2}}))), Some("spec.portal.replicaz".to_owned()));
        // Flattened pod settings are checked like the component's own fields.
        assert_eq!(field_of(spec(json!({"jobservice": {"nodeSelectr": {}}}))), Some("spec.jobservice.nodeSelectr".to_owned()));
        assert_eq!(field_of(spec(json!({"portal": {"env": [{"name": "A", "valu": "b"}]}}))), Some("spec.portal.env[0].valu".to_owned()));
    }

    #[test]
    fn an_explicit_null_is_left_to_serde() {
        assert_eq!(check_spec(&spec(json!({"portal": {"priorityClassName": null, "replicas": null}}))), Ok(()));
    }

    #[test]
    fn wrong_types_are_named_even_in_flattened_settings() {
        assert_eq!(field_of(spec(json!({"jobservice": {"replicas": "two"}}))), Some("spec.jobservice.replicas".to_owned()));
        assert_eq!(field_of(spec(json!({"trivy": {"enabled": "yes"}}))), Some("spec.trivy.enabled".to_owned()));
        assert_eq!(field_of(spec(json!({"portal": {"tolerations": {}}}))), Some("spec.portal.tolerations".to_owned()));
    }
}
