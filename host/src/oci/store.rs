//! The local content store of pulled plugins, beside the precompiled cache: the .wasm
//! under its own digest, and per manifest what it resolved to and the signatures found
//! for it. A restart reads from here instead of pulling, and a registry outage leaves
//! the plugins already pulled usable.
//!
//! Nothing here is trusted as it is read: a .wasm is hashed against its name, and the
//! signatures are verified again against the policy's keys. Whoever can write the
//! directory can at worst make a plugin unusable, never substitute one. Like the
//! precompiled cache, the directory is opened once as a capability.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use super::OciError;
use super::registry::sha256;
use super::signature::StoredSignature;

const BLOBS: &str = "blobs";
const MANIFESTS: &str = "manifests";

/// What a manifest resolved to when it was pulled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRecord {
    /// "registry/repository" it was pulled from.
    pub repository: String,
    pub manifest_digest: String,
    pub wasm_digest: String,
    /// The signatures found when it was pulled, if any were asked for.
    #[serde(default)]
    pub signatures: Option<Vec<StoredSignature>>,
}

pub struct ContentStore {
    dir: Dir,
    path: PathBuf,
}

impl ContentStore {
    /// Opens (creating it if needed) the store at `path`, private to this user.
    pub fn open(path: &Path) -> Result<ContentStore, OciError> {
        let io = |source| OciError::Store { path: path.display().to_string(), source };
        std::fs::create_dir_all(path).map_err(io)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
        dir.create_dir_all(BLOBS).map_err(io)?;
        dir.create_dir_all(MANIFESTS).map_err(io)?;
        Ok(ContentStore { dir, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> OciError + '_ {
        |source| OciError::Store { path: self.path.display().to_string(), source }
    }

    /// The .wasm with this digest, if stored and intact (a damaged file is deleted).
    pub fn wasm(&self, digest: &str) -> Option<Vec<u8>> {
        let name = blob_name(digest)?;
        let bytes = self.dir.read(&name).ok()?;
        if sha256(&bytes) == digest {
            return Some(bytes);
        }
        tracing::warn!(store = %self.path.display(), digest, "a stored plugin no longer matches its digest; deleted");
        let _ = self.dir.remove_file(&name);
        None
    }

    /// Stores a pulled plugin and its manifest's record.
    pub fn put(&self, wasm: &[u8], record: &ManifestRecord) -> Result<(), OciError> {
        let blob = blob_name(&record.wasm_digest).ok_or_else(|| self.invalid(&record.wasm_digest))?;
        if sha256(wasm) != record.wasm_digest {
            return Err(self.invalid(&record.wasm_digest));
        }
        self.write_atomically(&blob, wasm)?;
        let name = manifest_name(&record.manifest_digest).ok_or_else(|| self.invalid(&record.manifest_digest))?;
        let json = serde_json::to_vec(record).map_err(|e| self.io()(std::io::Error::other(e)))?;
        self.write_atomically(&name, &json)
    }

    /// The record of a manifest pulled before.
    pub fn manifest(&self, manifest_digest: &str) -> Option<ManifestRecord> {
        let name = manifest_name(manifest_digest)?;
        let record: ManifestRecord = serde_json::from_slice(&self.dir.read(name).ok()?).ok()?;
        (record.manifest_digest == manifest_digest).then_some(record)
    }

    /// A manifest of `repository` pulled before that holds the .wasm `wasm_digest`: what
    /// stands in for the registry while it is unreachable.
    pub fn by_wasm(&self, repository: &str, wasm_digest: &str) -> Option<ManifestRecord> {
        let entries = self.dir.read_dir(MANIFESTS).ok()?;
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| self.dir.read(format!("{MANIFESTS}/{name}")).ok())
            .filter_map(|bytes| serde_json::from_slice::<ManifestRecord>(&bytes).ok())
            .find(|r| r.repository == repository && r.wasm_digest == wasm_digest)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), OciError> {
        let temp = format!("{name}.tmp-{}", std::process::id());
        let mut file = self.dir.create(&temp).map_err(self.io())?;
        file.write_all(bytes).map_err(self.io())?;
        file.sync_all().map_err(self.io())?;
        self.dir.rename(&temp, &self.dir, name).map_err(self.io())
    }

    fn invalid(&self, digest: &str) -> OciError {
        self.io()(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{digest:?} is not a sha256 digest of this content")))
    }
}

/// "sha256:<64 hex>" → "blobs/<hex>"; anything else (a path, say) → None.
fn blob_name(digest: &str) -> Option<String> {
    hex_of(digest).map(|hex| format!("{BLOBS}/{hex}"))
}

fn manifest_name(digest: &str) -> Option<String> {
    hex_of(digest).map(|hex| format!("{MANIFESTS}/{hex}.json"))
}

fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wasm: &[u8]) -> ManifestRecord {
        ManifestRecord {
            repository: "localhost:5000/berth/core".to_owned(),
            manifest_digest: sha256(b"manifest"),
            wasm_digest: sha256(wasm),
            signatures: None,
        }
    }

    #[test]
    fn a_stored_plugin_is_found_by_manifest_and_by_wasm_digest() {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = ContentStore::open(&temp.path().join("oci")).unwrap_or_else(|e| panic!("{e}"));
        let wasm = b"\0asm plugin";
        let r = record(wasm);
        store.put(wasm, &r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.wasm(&r.wasm_digest).as_deref(), Some(&wasm[..]));
        assert_eq!(store.manifest(&r.manifest_digest), Some(r.clone()));
        assert_eq!(store.by_wasm(&r.repository, &r.wasm_digest), Some(r.clone()));
        assert_eq!(store.by_wasm("localhost:5000/other", &r.wasm_digest), None);
    }

    #[test]
    fn a_damaged_blob_is_not_served_and_a_mislabelled_one_is_not_stored() {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = ContentStore::open(temp.path()).unwrap_or_else(|e| panic!("{e}"));
        let r = record(b"good");
        store.put(b"good", &r).unwrap_or_else(|e| panic!("{e}"));
        let hex = r.wasm_digest.trim_start_matches("sha256:");
        std::fs::write(temp.path().join(BLOBS).join(hex), b"evil").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.wasm(&r.wasm_digest), None);
        assert!(store.put(b"other bytes", &r).is_err());
        assert_eq!(blob_name("sha256:../../etc/passwd"), None);
    }
}
