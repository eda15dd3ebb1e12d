//! Shadow-render diff: what moving a HarborCluster from one plugin version to another
//! would change, computed from the objects each version renders for it.
//!
//! A plugin upgrade is otherwise a leap of faith: the new version's output is applied
//! and rolls whatever pods it touches. Rendering the same cluster with both versions and
//! comparing the results lets `berth plugins diff` show an operator the exact fields that
//! move, and lets the controller record a one-line summary in an Event before it
//! switches, so a surprise rollout can be traced to the plugin that caused it.
//!
//! The comparison is of what the host would apply, not of what the API server stores:
//! fields the server owns (`status`, `metadata.resourceVersion` and friends) and the
//! host's audit annotations, which name the plugin and so always differ between two
//! versions, are left out so that they never drown the changes that matter.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde_json::{Map, Value};

/// Annotations whose value always differs between two plugin versions (the host's audit stamps); never reported.
pub const IGNORED_ANNOTATION_PREFIX: &str = "berth.dev/plugin";

/// Metadata the API server writes; a fresh render never has it, a live object always does.
const IGNORED_METADATA: [&str; 5] = ["resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"];

/// Widest value `to_text` prints, in characters: a whole ConfigMap on one line helps nobody.
const VALUE_WIDTH: usize = 120;

const ELLIPSIS: &str = "…";

/// Which object. No namespace: the host puts every object of a render in the cluster's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: String,
    pub name: String,
}

impl ObjectKey {
    /// The key of `object`; a missing kind or name is empty rather than an error, so that a
    /// malformed render is still compared instead of hiding the rest of the diff.
    pub fn of(object: &Map<String, Value>) -> ObjectKey {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = object.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default();
        ObjectKey { kind: kind.to_owned(), name: name.to_owned() }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// One field that differs. `path` is written like `spec.template.spec.containers[0].image`;
/// a key that is not a plain word is quoted, as in
/// `metadata.annotations["portal.berth.dev/renderer"]`, and an element of an array matched
/// by name is written `containers[name=portal]`. `None` means the field is absent on that side.
///
/// When the elements of an array matched by name were reordered, the change is reported
/// once at the array's own path, with the element names in their before and after order
/// as the values: the order of containers or env vars is part of the pod template, so a
/// reorder still rolls pods, and the names say more than two truncated copies of the array.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObjectChange {
    Added(ObjectKey),
    Removed(ObjectKey),
    Changed { key: ObjectKey, fields: Vec<FieldChange> },
}

impl ObjectChange {
    pub fn key(&self) -> &ObjectKey {
        match self {
            ObjectChange::Added(key) | ObjectChange::Removed(key) | ObjectChange::Changed { key, .. } => key,
        }
    }
}

/// The difference between two renders, ordered by object key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderDiff {
    pub changes: Vec<ObjectChange>,
    /// Objects in both renders whose only differences (if any) are ignored ones.
    pub unchanged: usize,
}

/// Compares the objects one plugin version rendered (`before`) with those another
/// rendered (`after`) for the same cluster, matching objects by kind and name.
///
/// If one input holds two objects with the same kind and name, the last one wins, as it
/// would if the objects were applied in order.
pub fn diff(before: &[Map<String, Value>], after: &[Map<String, Value>]) -> RenderDiff {
    let before = by_key(before);
    let after = by_key(after);
    let keys: BTreeSet<&ObjectKey> = before.keys().chain(after.keys()).collect();
    let mut result = RenderDiff::default();
    for key in keys {
        match (before.get(key), after.get(key)) {
            (Some(_), None) => result.changes.push(ObjectChange::Removed(key.clone())),
            (None, Some(_)) => result.changes.push(ObjectChange::Added(key.clone())),
            (Some(b), Some(a)) => {
                let mut fields = Vec::new();
                let (b, a) = (Value::Object(comparable(b)), Value::Object(comparable(a)));
                diff_value(&mut String::new(), &b, &a, &mut fields);
                if fields.is_empty() {
                    result.unchanged += 1;
                } else {
                    result.changes.push(ObjectChange::Changed { key: key.clone(), fields });
                }
            }
            (None, None) => {}
        }
    }
    result
}

fn by_key(objects: &[Map<String, Value>]) -> BTreeMap<ObjectKey, &Map<String, Value>> {
    objects.iter().map(|o| (ObjectKey::of(o), o)).collect()
}

/// `object` without what is never reported. A missing annotations map becomes an empty
/// one: the host's stamps are often the only annotations, so without this a render that
/// adds its first real annotation would be reported as the whole map appearing rather
/// than as the one key (and the API server treats an empty map and none alike).
fn comparable(object: &Map<String, Value>) -> Map<String, Value> {
    let mut object = object.clone();
    object.remove("status");
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in IGNORED_METADATA {
            metadata.remove(field);
        }
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(annotations) = annotations {
            annotations.retain(|k, _| !k.starts_with(IGNORED_ANNOTATION_PREFIX));
        }
    }
    object
}

/// Appends every difference under `path` to `out`. `path` is a scratch buffer, restored
/// before returning, so that a deep object costs no allocation per level.
fn diff_value(path: &mut String, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            // Sorted, whatever order the maps keep, so that a report never depends on it.
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for key in keys {
                let len = path.len();
                push_key(path, key);
                field(path, b.get(key.as_str()), a.get(key.as_str()), out);
                path.truncate(len);
            }
        }
        (Value::Array(b), Value::Array(a)) => match (element_names(b), element_names(a)) {
            (Some(b_names), Some(a_names)) => diff_named(path, b, &b_names, a, &a_names, out),
            _ => {
                for i in 0..b.len().max(a.len()) {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    field(path, b.get(i), a.get(i), out);
                    path.truncate(len);
                }
            }
        },
        _ => {
            if before != after {
                out.push(change(path, Some(before), Some(after)));
            }
        }
    }
}

/// A field that may be missing on either side.
fn field(path: &mut String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(b), Some(a)) => diff_value(path, b, a, out),
        (None, None) => {}
        (b, a) => out.push(change(path, b, a)),
    }
}

fn change(path: &str, before: Option<&Value>, after: Option<&Value>) -> FieldChange {
    FieldChange { path: path.to_owned(), before: before.cloned(), after: after.cloned() }
}

/// The names of an array's elements if every element is an object with a string `name`
/// and no two share one. Containers, env vars, volumes and ports are such lists: compared
/// by index, one insertion would report every element after it as changed. Names must be
/// unique to be a key (volumeMounts may mount one volume twice), else the index is used.
fn element_names(array: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = array.iter().map(|e| e.get("name").and_then(Value::as_str)).collect::<Option<_>>()?;
    let unique: HashSet<&str> = names.iter().copied().collect();
    (unique.len() == names.len()).then_some(names)
}

fn diff_named(
    path: &mut String,
    before: &[Value],
    before_names: &[&str],
    after: &[Value],
    after_names: &[&str],
    out: &mut Vec<FieldChange>,
) {
    let after_by_name: HashMap<&str, &Value> = after_names.iter().copied().zip(after).collect();
    let before_set: HashSet<&str> = before_names.iter().copied().collect();
    let common_before: Vec<&str> = before_names.iter().copied().filter(|n| after_by_name.contains_key(n)).collect();
    let common_after: Vec<&str> = after_names.iter().copied().filter(|n| before_set.contains(n)).collect();
    if common_before != common_after {
        let names = |names: &[&str]| Value::Array(names.iter().map(|n| Value::String((*n).to_owned())).collect());
        out.push(FieldChange { path: path.clone(), before: Some(names(before_names)), after: Some(names(after_names)) });
    }
    for (name, b) in before_names.iter().copied().zip(before) {
        let len = path.len();
        push_name(path, name);
        field(path, Some(b), after_by_name.get(name).copied(), out);
        path.truncate(len);
    }
    for (name, a) in after_names.iter().copied().zip(after) {
        if !before_set.contains(name) {
            let len = path.len();
            push_name(path, name);
            out.push(change(path, None, Some(a)));
            path.truncate(len);
        }
    }
}

/// A key is written bare only when it cannot be misread as several path segments.
fn is_plain(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn push_key(path: &mut String, key: &str) {
    if is_plain(key) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&quoted(key));
        path.push(']');
    }
}

fn push_name(path: &mut String, name: &str) {
    if name.is_empty() || name.contains([']', '"', '[']) {
        path.push_str(&format!("[name={}]", quoted(name)));
    } else {
        path.push_str(&format!("[name={name}]"));
    }
}

fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// One item `summary` may list or leave out, in the order it lists them.
struct Unit<'d> {
    section: Section,
    key: &'d ObjectKey,
    path: Option<&'d str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Changed,
    Added,
    Removed,
}

impl RenderDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn added(&self) -> usize {
        self.changes.iter().filter(|c| matches!(c, ObjectChange::Added(_))).count()
    }

    pub fn removed(&self) -> usize {
        self.changes.iter().filter(|c| matches!(c, ObjectChange::Removed(_))).count()
    }

    pub fn changed(&self) -> usize {
        self.changes.iter().filter(|c| matches!(c, ObjectChange::Changed { .. })).count()
    }

    /// One line for an Event, e.g. `1 changed (Deployment/harbor-portal:
    /// spec.template.metadata.annotations["portal.berth.dev/renderer"]), 0 added, 0 removed,
    /// 2 unchanged`, or `no change` when empty. Added and removed objects are named too.
    ///
    /// At most `max_chars` long, measured in UTF-8 bytes (so never more characters either):
    /// the API server's 1 kB cap on an Event note counts bytes, and `…` is three of them.
    /// When the line is too long, the field paths and object names are cut after a whole
    /// one and the rest counted, as in `Deployment/harbor-core: spec.replicas … (+7 more)`;
    /// the totals are always kept, since they matter most. A budget too small for the
    /// marker gives the bare totals, and one too small for those a cut mid-word.
    pub fn summary(&self, max_chars: usize) -> String {
        if self.is_empty() {
            return cut("no change", max_chars);
        }
        let units = self.units();
        let full = self.summary_with(&units, units.len());
        if full.len() <= max_chars {
            return full;
        }
        // Each listed item adds more than a shorter count saves, so the first line that
        // does not fit ends the search.
        let mut best = None;
        for listed in 0..units.len() {
            let line = self.summary_with(&units, listed);
            if line.len() > max_chars {
                break;
            }
            best = Some(line);
        }
        // The counts say more than a marker cut in half.
        best.unwrap_or_else(|| cut(&self.totals(), max_chars))
    }

    fn totals(&self) -> String {
        format!("{} changed, {} added, {} removed, {} unchanged", self.changed(), self.added(), self.removed(), self.unchanged)
    }

    fn units(&self) -> Vec<Unit<'_>> {
        let mut units = Vec::new();
        for section in [Section::Changed, Section::Added, Section::Removed] {
            for c in &self.changes {
                match (section, c) {
                    (Section::Changed, ObjectChange::Changed { key, fields }) => {
                        if fields.is_empty() {
                            units.push(Unit { section, key, path: None });
                        }
                        units.extend(fields.iter().map(|f| Unit { section, key, path: Some(f.path.as_str()) }));
                    }
                    (Section::Added, ObjectChange::Added(key)) | (Section::Removed, ObjectChange::Removed(key)) => {
                        units.push(Unit { section, key, path: None });
                    }
                    _ => {}
                }
            }
        }
        units
    }

    /// The summary listing the first `listed` units.
    fn summary_with(&self, units: &[Unit<'_>], listed: usize) -> String {
        let cut_in = units.get(listed).map(|u| u.section);
        let sections = [
            (Section::Changed, self.changed(), "changed"),
            (Section::Added, self.added(), "added"),
            (Section::Removed, self.removed(), "removed"),
        ];
        let mut line = String::new();
        for (section, count, label) in sections {
            line.push_str(&format!("{count} {label}"));
            let shown: Vec<&Unit<'_>> = units.iter().take(listed).filter(|u| u.section == section).collect();
            let more = (cut_in == Some(section)).then(|| format!("{ELLIPSIS} (+{} more)", units.len() - listed));
            if !shown.is_empty() {
                line.push_str(" (");
                line.push_str(&list(&shown));
                if let Some(more) = &more {
                    line.push(' ');
                    line.push_str(more);
                }
                line.push(')');
            } else if let Some(more) = &more {
                line.push(' ');
                line.push_str(more);
            }
            line.push_str(", ");
        }
        line.push_str(&format!("{} unchanged", self.unchanged));
        line
    }

    /// The full report for a terminal: `~ Kind/name` and one `  path: before -> after` line
    /// per field for each changed object, `+ Kind/name` for added and `- Kind/name` for
    /// removed ones, in key order, then a totals line. Values are compact JSON cut to about
    /// 120 characters; `(absent)` stands for a missing field.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RenderDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            match c {
                ObjectChange::Added(key) => writeln!(f, "+ {key}")?,
                ObjectChange::Removed(key) => writeln!(f, "- {key}")?,
                ObjectChange::Changed { key, fields } => {
                    writeln!(f, "~ {key}")?;
                    for field in fields {
                        writeln!(f, "  {}: {} -> {}", field.path, shown(&field.before), shown(&field.after))?;
                    }
                }
            }
        }
        if self.is_empty() { writeln!(f, "no change ({} unchanged)", self.unchanged) } else { writeln!(f, "{}", self.totals()) }
    }
}

fn list(units: &[&Unit<'_>]) -> String {
    let mut text = String::new();
    let mut previous: Option<&ObjectKey> = None;
    for unit in units {
        let same_object = previous == Some(unit.key);
        match (unit.path, same_object) {
            (Some(path), true) => text.push_str(&format!(", {path}")),
            (Some(path), false) => {
                if previous.is_some() {
                    text.push_str("; ");
                }
                text.push_str(&format!("{}: {path}", unit.key));
            }
            (None, _) => {
                if previous.is_some() {
                    text.push_str(", ");
                }
                text.push_str(&unit.key.to_string());
            }
        }
        previous = Some(unit.key);
    }
    text
}

fn shown(value: &Option<Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(value) => {
            let json = value.to_string();
            if json.chars().count() <= VALUE_WIDTH {
                json
            } else {
                let mut short: String = json.chars().take(VALUE_WIDTH - 1).collect();
                short.push_str(ELLIPSIS);
                short
            }
        }
    }
}

/// `text` in at most `max_bytes` bytes, cut on a character boundary and marked with `…`
/// when there is room for it.
fn cut(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let room = max_bytes.saturating_sub(ELLIPSIS.len());
    let marked = max_bytes >= ELLIPSIS.len();
    let budget = if marked { room } else { max_bytes };
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() > budget {
            break;
        }
        end = i + c.len_utf8();
    }
    let mut short = text[..end].to_owned();
    if marked {
        short.push_str(ELLIPSIS);
    }
    short
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn deployment(name: &str, image: &str) -> Map<String, Value> {
        object(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": {"berth.dev/plugin": "portal@1.0.0"}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "portal", "image": image, "env": [{"name": "A", "value": "1"}]},
            ]}}},
        }))
    }

    fn config_map(name: &str) -> Map<String, Value> {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}))
    }

    fn service(name: &str) -> Map<String, Value> {
        object(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}))
    }

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey { kind: kind.to_owned(), name: name.to_owned() }
    }

    fn fields(d: &RenderDiff) -> Vec<FieldChange> {
        d.changes
            .iter()
            .flat_map(|c| match c {
                ObjectChange::Changed { fields, .. } => fields.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn added_removed_and_changed_objects_in_key_order() {
        let before = [service("old"), deployment("harbor-portal", "portal:1"), config_map("same")];
        let after = [config_map("new"), deployment("harbor-portal", "portal:2"), config_map("same")];
        let d = diff(&before, &after);
        let keys: Vec<&ObjectKey> = d.changes.iter().map(ObjectChange::key).collect();
        assert_eq!(keys, [&key("ConfigMap", "new"), &key("Deployment", "harbor-portal"), &key("Service", "old")]);
        assert!(matches!(&d.changes[0], ObjectChange::Added(k) if *k == key("ConfigMap", "new")));
        assert!(matches!(&d.changes[2], ObjectChange::Removed(k) if *k == key("Service", "old")));
        assert_eq!((d.added(), d.removed(), d.changed(), d.unchanged), (1, 1, 1, 1));
        assert_eq!(
            fields(&d),
            [FieldChange {
                path: "spec.template.spec.containers[name=portal].image".to_owned(),
                before: Some(json!("portal:1")),
                after: Some(json!("portal:2")),
            }]
        );
        assert_eq!(key("Deployment", "harbor-portal").to_string(), "Deployment/harbor-portal");
    }

    #[test]
    fn audit_annotations_and_server_fields_are_ignored() {
        let mut before = deployment("harbor-portal", "portal:1");
        let mut after = before.clone();
        after["metadata"]["annotations"] = json!({"berth.dev/plugin": "portal@2.0.0", "berth.dev/plugin-digest": "sha256:b"});
        after["metadata"]["resourceVersion"] = json!("42");
        after["metadata"]["uid"] = json!("u");
        after["metadata"]["generation"] = json!(3);
        after["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        after["metadata"]["managedFields"] = json!([{"manager": "berth"}]);
        after.insert("status".to_owned(), json!({"replicas": 1}));
        // Only the host's stamps on one side, none at all on the other: still the same.
        before["metadata"].as_object_mut().map(|m| m.remove("annotations"));
        let d = diff(&[before], &[after]);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn other_annotations_are_reported_with_quoted_keys() {
        let before = deployment("harbor-portal", "portal:1");
        let mut after = before.clone();
        after["metadata"]["annotations"]["portal.berth.dev/renderer"] = json!("next");
        let d = diff(&[before], &[after]);
        assert_eq!(
            fields(&d),
            [FieldChange {
                path: "metadata.annotations[\"portal.berth.dev/renderer\"]".to_owned(),
                before: None,
                after: Some(json!("next")),
            }]
        );
    }

    #[test]
    fn arrays_of_named_objects_are_matched_by_name() {
        let before = deployment("harbor-portal", "portal:1");
        let mut after = before.clone();
        after["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "sidecar", "image": "proxy:1"},
            {"name": "portal", "image": "portal:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        ]);
        let d = diff(&[before], &[after]);
        let paths: Vec<(String, Option<Value>, Option<Value>)> = fields(&d).into_iter().map(|f| (f.path, f.before, f.after)).collect();
        assert_eq!(
            paths,
            [
                ("spec.template.spec.containers[name=portal].env[name=B]".to_owned(), None, Some(json!({"name": "B", "value": "2"}))),
                ("spec.template.spec.containers[name=portal].image".to_owned(), Some(json!("portal:1")), Some(json!("portal:2"))),
                ("spec.template.spec.containers[name=sidecar]".to_owned(), None, Some(json!({"name": "sidecar", "image": "proxy:1"}))),
            ]
        );
    }

    #[test]
    fn a_reorder_of_named_elements_is_reported_at_the_array() {
        let mut before = deployment("d", "x");
        before["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A"}, {"name": "B"}]);
        let mut after = before.clone();
        after["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "B"}, {"name": "A"}]);
        let d = diff(&[before], &[after]);
        assert_eq!(
            fields(&d),
            [FieldChange {
                path: "spec.template.spec.containers[name=portal].env".to_owned(),
                before: Some(json!(["A", "B"])),
                after: Some(json!(["B", "A"])),
            }]
        );
    }

    #[test]
    fn duplicate_names_fall_back_to_indices() {
        let mounts = |second: &str| {
            object(json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumeMounts": [
                {"name": "config", "mountPath": "/a"},
                {"name": "config", "mountPath": second},
            ]}}))
        };
        let d = diff(&[mounts("/b")], &[mounts("/c")]);
        assert_eq!(
            fields(&d),
            [FieldChange { path: "spec.volumeMounts[1].mountPath".to_owned(), before: Some(json!("/b")), after: Some(json!("/c")) }]
        );
    }

    #[test]
    fn arrays_of_other_lengths_compare_the_common_prefix_by_index() {
        let with_args = |args: Value| object(json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {"args": args}}));
        let d = diff(&[with_args(json!(["a", "b"]))], &[with_args(json!(["a", "c", "d"]))]);
        assert_eq!(
            fields(&d),
            [
                FieldChange { path: "spec.args[1]".to_owned(), before: Some(json!("b")), after: Some(json!("c")) },
                FieldChange { path: "spec.args[2]".to_owned(), before: None, after: Some(json!("d")) },
            ]
        );
        let d = diff(&[with_args(json!(["a", "b", "c"]))], &[with_args(json!(["a"]))]);
        let removed: Vec<(String, Option<Value>)> = fields(&d).into_iter().map(|f| (f.path, f.after)).collect();
        assert_eq!(removed, [("spec.args[1]".to_owned(), None), ("spec.args[2]".to_owned(), None)]);
    }

    #[test]
    fn a_type_change_is_one_field() {
        let d = diff(
            &[object(json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"x": {"a": 1}}}))],
            &[object(json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"x": [1]}}))],
        );
        assert_eq!(fields(&d), [FieldChange { path: "spec.x".to_owned(), before: Some(json!({"a": 1})), after: Some(json!([1])) }]);
    }

    #[test]
    fn the_last_of_duplicate_objects_wins() {
        let d = diff(&[deployment("d", "x:1"), deployment("d", "x:2")], &[deployment("d", "x:2")]);
        assert!(d.is_empty());
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn identical_renders_are_empty() {
        let objects = [deployment("harbor-portal", "portal:1"), config_map("c"), service("s")];
        let d = diff(&objects, &objects);
        assert!(d.is_empty());
        assert_eq!(d.unchanged, 3);
        assert_eq!(d.summary(1000), "no change");
        assert_eq!(d.to_text(), "no change (3 unchanged)\n");
    }

    #[test]
    fn summary_names_objects_and_fields() {
        let mut before = vec![deployment("harbor-portal", "portal:1"), config_map("a"), config_map("b")];
        let mut after = before.clone();
        before[0]["spec"]["template"]["metadata"] = json!({"annotations": {}});
        after[0]["spec"]["template"]["metadata"] = json!({"annotations": {"portal.berth.dev/renderer": "next"}});
        let d = diff(&before, &after);
        assert_eq!(
            d.summary(1000),
            "1 changed (Deployment/harbor-portal: spec.template.metadata.annotations[\"portal.berth.dev/renderer\"]), \
             0 added, 0 removed, 2 unchanged"
        );
        let d = diff(&[service("old")], &[config_map("new"), config_map("newer")]);
        assert_eq!(d.summary(1000), "0 changed, 2 added (ConfigMap/new, ConfigMap/newer), 1 removed (Service/old), 0 unchanged");
        // A cut in a later section keeps the earlier ones whole and only counts what follows.
        assert_eq!(d.summary(80), "0 changed, 2 added (ConfigMap/new … (+2 more)), 1 removed, 0 unchanged");
    }

    #[test]
    fn summary_is_cut_to_max_chars_with_a_count_of_the_rest() {
        let before: Vec<Map<String, Value>> = (0..20).map(|i| deployment(&format!("harbor-{i}"), "x:1")).collect();
        let after: Vec<Map<String, Value>> = (0..20).map(|i| deployment(&format!("harbor-{i}"), "x:2")).collect();
        let d = diff(&before, &after);
        let full = d.summary(usize::MAX);
        assert!(full.len() > 200 && !full.contains("more)"), "{full}");
        for max in [200, 120, 60] {
            let line = d.summary(max);
            assert!(line.len() <= max, "{max}: {line}");
            assert!(line.contains("… (+") && line.contains(" more)"), "{max}: {line}");
            assert!(line.ends_with(", 0 added, 0 removed, 0 unchanged"), "{max}: {line}");
        }
        let line = d.summary(300);
        assert!(line.len() <= 300, "{line}");
        assert!(line.starts_with("20 changed (Deployment/harbor-0: spec.template.spec.containers[name=portal].image; "), "{line}");
        // The count is of what was left out, so listed plus more is everything.
        let listed = line.matches(".image").count();
        let more: usize = line.split("(+").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_default();
        assert_eq!(listed + more, 20, "{line}");
        // With no room for any name, the totals alone.
        assert_eq!(d.summary(60), "20 changed … (+20 more), 0 added, 0 removed, 0 unchanged");
        // No room for the marker: the bare totals; no room for those: a cut that still fits.
        assert_eq!(d.summary(45), "20 changed, 0 added, 0 removed, 0 unchanged");
        let tiny = d.summary(12);
        assert!(tiny.len() <= 12 && tiny.ends_with('…'), "{tiny}");
        assert_eq!(d.summary(0), "");
    }

    #[test]
    fn to_text_lists_every_change() {
        let mut big = config_map("big");
        let mut after_big = big.clone();
        big["data"] = json!({"k": "v".repeat(300)});
        after_big["data"] = json!({"k": "w"});
        let before = [deployment("harbor-portal", "portal:1"), service("old"), big];
        let after = [deployment("harbor-portal", "portal:2"), config_map("new"), after_big];
        let text = diff(&before, &after).to_text();
        let lines: Vec<&str> = text.lines().collect();
        let long = format!("  data.k: \"{}… -> \"w\"", "v".repeat(VALUE_WIDTH - 2));
        assert_eq!(
            lines,
            [
                "~ ConfigMap/big",
                long.as_str(),
                "+ ConfigMap/new",
                "~ Deployment/harbor-portal",
                "  spec.template.spec.containers[name=portal].image: \"portal:1\" -> \"portal:2\"",
                "- Service/old",
                "2 changed, 1 added, 1 removed, 0 unchanged",
            ]
        );
    }

    #[test]
    fn absent_values_are_shown_as_such() {
        let before = object(json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"a": 1}}));
        let after = object(json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"b": 2}}));
        let text = diff(&[before], &[after]).to_text();
        assert!(text.contains("  spec.a: 1 -> (absent)\n"), "{text}");
        assert!(text.contains("  spec.b: (absent) -> 2\n"), "{text}");
    }
}
