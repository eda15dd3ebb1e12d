//! A tiny block-style YAML emitter for config files built as `serde_json::Value`.
//!
//! The SDK has no YAML crate, and the registry's config only needs maps, lists and
//! scalars. serde_json's map is a BTreeMap here (no `preserve_order`), so keys come out
//! sorted and the text is deterministic.

use serde_json::Value;

/// The YAML text of `value`, which must be a map at the top.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn emit_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(key));
        out.push(':');
        emit_value_after_key(value, indent, out);
    }
}

/// Writes what follows `key:` (or `-`): a nested block on the next lines, or ` scalar`.
fn emit_value_after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_list(items, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn emit_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            // The first key sits on the dash's line; the rest align under it.
            Value::Object(map) if !map.is_empty() => {
                let mut first = true;
                for (key, value) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&string(key));
                    out.push(':');
                    emit_value_after_key(value, indent + 2, out);
                }
            }
            other => emit_value_after_key(other, indent, out),
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

/// A string as a plain scalar when YAML cannot read it as anything else, otherwise
/// double-quoted (a JSON string literal is a valid YAML double-quoted scalar).
fn string(s: &str) -> String {
    if is_plain_safe(s) { s.to_owned() } else { serde_json::Value::String(s.to_owned()).to_string() }
}

fn is_plain_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"];
    let Some(first) = s.chars().next() else { return false };
    if RESERVED.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    let safe_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:@-".contains(c));
    if !safe_chars || s.ends_with(':') {
        return false;
    }
    if first.is_ascii_alphabetic() || first == '/' {
        return true;
    }
    // Durations and sizes ("168h", "10s", "5M") stay plain; anything a YAML 1.1 reader
    // could take for a number (1e3, 0x1f, 0o7, 0b1, 1.5, 1:20) is quoted.
    first.is_ascii_digit()
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && !s.chars().any(|c| "eExXoObB".contains(c))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_maps_lists_and_scalars() {
        let yaml = to_yaml(&json!({
            "b": {"x": 1, "a": true},
            "a": [{"name": "nm", "options": {"k": "v"}}, "plain"],
            "c": {},
        }));
        assert_eq!(yaml, "a:\n  - name: nm\n    options:\n      k: v\n  - plain\nb:\n  a: true\n  x: 1\nc: {}\n");
    }

    #[test]
    fn strings_that_look_like_something_else_are_quoted() {
        for (s, want) in [
            ("harbor", "harbor"),
            ("/etc/registry/passwd", "/etc/registry/passwd"),
            ("localhost:5001", "localhost:5001"),
            ("168h", "168h"),
            ("5M", "5M"),
            (":5000", "\":5000\""),
            ("true", "\"true\""),
            ("No", "\"No\""),
            ("3", "\"3\""),
            ("1e3", "\"1e3\""),
            ("0x1f", "\"0x1f\""),
            ("", "\"\""),
            ("a b", "\"a b\""),
            ("https://k:5000/v3", "https://k:5000/v3"),
            ("key: value", "\"key: value\""),
            ("#x", "\"#x\""),
        ] {
            assert_eq!(string(s), want, "{s:?}");
        }
    }
}
