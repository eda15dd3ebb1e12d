//! Reading HarborCluster manifests and writing rendered objects as YAML.

use std::path::{Path, PathBuf};

use berth_api::spec::HarborCluster;
use serde::Deserialize as _;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid {what} at {field}: {message}")]
    Invalid { path: PathBuf, what: &'static str, field: String, message: String },
    #[error("writing YAML failed")]
    Write(#[source] serde_yaml::Error),
    #[error("{path}: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error("{path}: not a regular file (a FIFO, device or directory is never read)")]
    NotAFile { path: PathBuf },
    #[error("{path}: larger than {limit} bytes; a manifest is read only up to that size")]
    TooLarge { path: PathBuf, limit: u64 },
}

/// The largest manifest file read: a HarborCluster or PluginPolicy is a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Reads a manifest file: a regular file (a FIFO would block forever) of at most
/// [`MAX_MANIFEST_BYTES`].
pub fn read_bounded(path: &Path) -> Result<String, ManifestError> {
    use std::io::Read as _;
    let read_error = |source| ManifestError::Read { path: path.to_owned(), source };
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
    let file = std::os::unix::fs::OpenOptionsExt::custom_flags(std::fs::OpenOptions::new().read(true), libc::O_NONBLOCK)
        .open(path)
        .map_err(read_error)?;
    if !file.metadata().map_err(read_error)?.is_file() {
        return Err(ManifestError::NotAFile { path: path.to_owned() });
    }
    let mut text = String::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_string(&mut text).map_err(read_error)?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge { path: path.to_owned(), limit: MAX_MANIFEST_BYTES });
    }
    check_shape(&text).map_err(|reason| ManifestError::Shape { path: path.to_owned(), reason })?;
    Ok(text)
}

/// Deepest flow nesting (`[` and `{`) and widest indentation a manifest may have.
const MAX_FLOW_DEPTH: usize = 64;
const MAX_INDENT: usize = 256;

/// Refuses, before the YAML parser sees it, what makes parsing cost more than reading:
/// aliases (a 12 KB file of nested aliases grew to 2 GiB), deep flow nesting (100,000
/// levels took 66 s) and absurd indentation. Kubernetes manifests need none of these.
/// A scan of the text, quote- and comment-aware, one line at a time.
pub fn check_shape(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (number, line) in text.lines().enumerate() {
        let at = number + 1;
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent > MAX_INDENT {
            return Err(format!("line {at} is indented {indent} columns; at most {MAX_INDENT} are read"));
        }
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' => quote = Some(c),
                    '#' if previous.is_whitespace() => break,
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Err(format!("line {at} nests flow collections deeper than {MAX_FLOW_DEPTH}"));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    '*' if matches!(previous, ' ' | '\t' | '[' | '{' | ',' | ':' | '-')
                        && chars.peek().is_some_and(|n| n.is_alphanumeric() || matches!(n, '_' | '-' | '.')) =>
                    {
                        return Err(format!("line {at} uses a YAML alias (*name); manifests are read without aliases"));
                    }
                    _ => {}
                },
            }
            previous = c;
        }
    }
    Ok(())
}

/// Reads every PluginPolicy of a (multi-document) YAML file. An unknown field is named.
pub fn read_policies(path: &Path) -> Result<Vec<crate::policy::PluginPolicy>, ManifestError> {
    let text = read_bounded(path)?;
    let invalid = |field: String, message: String| ManifestError::Invalid { path: path.to_owned(), what: "PluginPolicy", field, message };
    let mut policies = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| invalid("(document)".to_owned(), e.to_string()))?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(serde_yaml::Value::as_str) != Some("PluginPolicy") {
            return Err(invalid("kind".to_owned(), "expected kind PluginPolicy".to_owned()));
        }
        let policy = serde_path_to_error::deserialize(value).map_err(|e| invalid(e.path().to_string(), e.into_inner().to_string()))?;
        policies.push(policy);
    }
    Ok(policies)
}

/// Reads one HarborCluster from a YAML file. A wrong type or an unknown field is named
/// by its path, e.g. `spec.portal.replicas`.
pub fn read_cluster(path: &Path) -> Result<HarborCluster, ManifestError> {
    let text = read_bounded(path)?;
    parse_cluster(&text).map_err(|(field, message)| ManifestError::Invalid { path: path.to_owned(), what: "HarborCluster", field, message })
}

/// Parses a HarborCluster from YAML text; the error is (field path, message).
pub fn parse_cluster(text: &str) -> Result<HarborCluster, (String, String)> {
    check_shape(text).map_err(|reason| ("(document)".to_owned(), reason))?;
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| ("(document)".to_owned(), e.to_string()))?;
    let api_version = "berth.dev/v1alpha1";
    let field = |name: &str| value.get(name).and_then(serde_yaml::Value::as_str);
    if field("apiVersion") != Some(api_version) || field("kind") != Some("HarborCluster") {
        return Err(("apiVersion".to_owned(), format!("expected apiVersion {api_version} and kind HarborCluster")));
    }
    let json = serde_json::to_value(&value).map_err(|e| ("(document)".to_owned(), e.to_string()))?;
    if let Some(spec) = json.get("spec") {
        crate::spec_schema::check_spec(spec).map_err(|v| (v.field, v.message))?;
    }
    let cluster: HarborCluster = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        (if path == "." { "(document)".to_owned() } else { path }, e.into_inner().to_string())
    })?;
    if cluster.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err(("metadata.name".to_owned(), "a HarborCluster needs a name".to_owned()));
    }
    Ok(cluster)
}

/// Multi-document YAML that `kubectl apply -f -` accepts.
pub fn to_yaml<'a>(objects: impl IntoIterator<Item = &'a Map<String, Value>>) -> Result<String, ManifestError> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(object).map_err(ManifestError::Write)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_deep_nesting_and_wide_indentation_are_refused_before_parsing() {
        let bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
        assert!(check_shape(bomb).is_err_and(|e| e.contains("alias")));
        let nested = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(check_shape(&nested).is_err_and(|e| e.contains("deeper")));
        assert!(check_shape(&format!("{}a: 1\n", " ".repeat(1000))).is_err_and(|e| e.contains("indented")));
        // Ordinary manifests pass, stars and brackets inside quotes or comments included.
        let fine = "apiVersion: v1 # a *comment [\nmetadata: {name: demo, labels: {a: \"*b\"}}\nspec:\n  x: 'a *b [c'\n  glob: a*b\n  list: [1, 2]\n";
        assert_eq!(check_shape(fine), Ok(()));
    }

    #[test]
    fn a_fifo_and_an_oversized_file_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'a'; (MAX_MANIFEST_BYTES + 1) as usize]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read_bounded(&big), Err(ManifestError::TooLarge { .. })));
        assert!(matches!(read_bounded(dir.path()), Err(ManifestError::NotAFile { .. })));
        let fifo = dir.path().join("fifo.yaml");
        let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_bounded(&fifo), Err(ManifestError::NotAFile { .. })));
    }
}
