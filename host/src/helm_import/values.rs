//! A chart values document read by dotted path, remembering what was read, so that
//! whatever the import did not carry can be listed rather than dropped silently.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A chart value Berth cannot carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub path: String,
    pub reason: String,
}

pub struct Values {
    root: Value,
    read: RefCell<BTreeSet<String>>,
    notes: RefCell<Vec<Note>>,
}

impl Values {
    pub fn new(root: Value) -> Values {
        Values { root, read: RefCell::new(BTreeSet::new()), notes: RefCell::new(Vec::new()) }
    }

    /// The value at "a.b.c" (null and absent alike are None); it and everything under it
    /// count as read.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.read.borrow_mut().insert(path.to_owned());
        let mut value = &self.root;
        for key in path.split('.') {
            value = value.get(key)?;
        }
        (!value.is_null()).then_some(value)
    }

    pub fn str(&self, path: &str) -> Option<String> {
        match self.get(path)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn bool(&self, path: &str) -> Option<bool> {
        match self.get(path)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn int(&self, path: &str) -> Option<i64> {
        match self.get(path)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A non-empty map or list, as it is.
    pub fn non_empty(&self, path: &str) -> Option<Value> {
        match self.get(path)? {
            Value::Object(m) if m.is_empty() => None,
            Value::Array(a) if a.is_empty() => None,
            v => Some(v.clone()),
        }
    }

    /// A string map (labels, annotations, nodeSelector).
    pub fn string_map(&self, path: &str) -> BTreeMap<String, String> {
        let Some(Value::Object(map)) = self.get(path) else { return BTreeMap::new() };
        map.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect()
    }

    /// Records that the value at `path`, when set, is not carried, and why.
    pub fn not_carried(&self, path: &str, reason: &str) {
        if self.get(path).is_some_and(|v| !is_empty(v)) {
            self.notes.borrow_mut().push(Note { path: path.to_owned(), reason: reason.to_owned() });
        }
    }

    /// A note whether or not the values file sets `path`: for what the chart does by
    /// default that Berth does not.
    pub fn notes_push(&self, path: &str, reason: &str) {
        self.read.borrow_mut().insert(path.to_owned());
        self.notes.borrow_mut().push(Note { path: path.to_owned(), reason: reason.to_owned() });
    }

    /// Every note, then every set value nothing read: no Berth field carries it.
    pub fn finish(self) -> Vec<Note> {
        let read = self.read.into_inner();
        let mut notes = self.notes.into_inner();
        let mut leaves = Vec::new();
        collect_leaves(&self.root, String::new(), &mut leaves);
        for leaf in leaves {
            let covered = read.iter().any(|r| leaf == *r || leaf.starts_with(&format!("{r}.")));
            if !covered {
                notes.push(Note { path: leaf, reason: "no Berth field carries it".to_owned() });
            }
        }
        notes.sort_by(|a, b| a.path.cmp(&b.path));
        notes
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Paths of the set scalars and lists (a list is one value).
fn collect_leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                collect_leaves(child, child_path, out);
            }
        }
        v if is_empty(v) => {}
        _ => out.push(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_read_is_covered_and_the_rest_is_listed() {
        let values = Values::new(serde_json::json!({
            "a": {"b": 1, "c": {"d": "x"}}, "e": "", "f": [], "g": {"h": true}, "i": null
        }));
        assert_eq!(values.int("a.b"), Some(1));
        assert!(values.get("a.c").is_some());
        values.not_carried("e", "empty, not listed");
        let notes = values.finish();
        assert_eq!(notes, vec![Note { path: "g.h".to_owned(), reason: "no Berth field carries it".to_owned() }]);
    }
}
