//! The on-disk cache of precompiled components.
//!
//! `Component::deserialize` runs native code from the file it is given, so it must only
//! ever see bytes this host wrote. Every artifact is stored behind an HMAC-SHA256 tag
//! that covers the engine fingerprint, the plugin digest and the artifact. A file whose
//! tag does not verify — truncated, corrupted, forged, or for another engine — is
//! deleted and recompiled, never loaded.
//!
//! The key is never in the cache directory: whoever can write an artifact must not be
//! able to sign one. By default it is drawn at random for each process and lives only in
//! its memory ([`CacheKey::Ephemeral`]): artifacts then serve hot swaps and reloads
//! within the process, and a restart recompiles. To keep artifacts across restarts, the
//! deployer gives a key file outside the cache ([`CacheKey::File`], e.g. a read-only
//! mounted Secret). A `cache.key` left in the directory by older versions is deleted.
//! The directory must belong to this user and be writable by no one else; it is opened
//! once, as a capability, and nothing outside it is touched.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::Digest;
use super::error::SandboxError;

const MAGIC: &[u8; 8] = b"BERTHCW1";
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + TAG_LEN;
/// Where versions before 0.2 kept the key, readable by whoever could write artifacts.
const LEGACY_KEY_FILE: &str = "cache.key";

/// Where the HMAC key of the precompiled cache comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheKey {
    /// Random, per process, in memory only.
    #[default]
    Ephemeral,
    /// 32 or more bytes read from this file, which must lie outside the cache directory
    /// (a read-only mounted Secret).
    File(PathBuf),
}

pub(crate) struct PrecompiledCache {
    dir: Dir,
    path: PathBuf,
    key: [u8; 32],
}

impl PrecompiledCache {
    /// Opens (creating it if needed) the cache directory, with its key from `key`.
    pub(crate) fn open(path: &Path, key: &CacheKey) -> Result<Self, SandboxError> {
        let io = |source| SandboxError::Cache { path: path.to_owned(), source };
        std::fs::create_dir_all(path).map_err(io)?;
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o022 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        check_owner(path, &meta)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
        if dir.remove_file(LEGACY_KEY_FILE).is_ok() {
            tracing::warn!(dir = %path.display(), "deleted the cache key an older version kept beside the artifacts");
        }
        let key = match key {
            CacheKey::Ephemeral => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e)))?;
                key
            }
            CacheKey::File(file) => read_key_file(path, file)?,
        };
        Ok(PrecompiledCache { dir, path: path.to_owned(), key })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn file_name(digest: &Digest, fingerprint: &str) -> String {
        format!("{}-{fingerprint}.cwasm", digest.hex())
    }

    fn tag(&self, digest: &Digest, fingerprint: &str, artifact: &[u8]) -> Hmac<Sha256> {
        // A 32-byte key is always a valid HMAC key; new_from_slice cannot fail here.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(fingerprint.as_bytes());
        mac.update(&digest.bytes());
        mac.update(artifact);
        mac
    }

    /// The verified artifact for this plugin and engine, or None (absent or rejected).
    pub(crate) fn get(&self, digest: &Digest, fingerprint: &str) -> Option<Vec<u8>> {
        let name = Self::file_name(digest, fingerprint);
        let mut bytes = self.dir.read(&name).ok()?;
        let verified = bytes.len() > HEADER_LEN
            && &bytes[..MAGIC.len()] == MAGIC
            && self.tag(digest, fingerprint, &bytes[HEADER_LEN..]).verify_slice(&bytes[MAGIC.len()..HEADER_LEN]).is_ok();
        if !verified {
            tracing::warn!(file = %self.path.join(&name).display(), "precompiled artifact failed verification; deleting it");
            let _ = self.dir.remove_file(&name);
            return None;
        }
        Some(bytes.split_off(HEADER_LEN))
    }

    /// Stores an artifact atomically (write a temporary file, then rename).
    pub(crate) fn put(&self, digest: &Digest, fingerprint: &str, artifact: &[u8]) -> Result<(), SandboxError> {
        let name = Self::file_name(digest, fingerprint);
        let tmp = format!("{name}.tmp-{}", std::process::id());
        let tag = self.tag(digest, fingerprint, artifact).finalize().into_bytes();
        let io = |source| SandboxError::Cache { path: self.path.join(&name), source };
        let mut file = self.dir.open_with(&tmp, OpenOptions::new().write(true).create(true).truncate(true).mode(0o600)).map_err(io)?;
        file.write_all(MAGIC).map_err(io)?;
        file.write_all(&tag).map_err(io)?;
        file.write_all(artifact).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        self.dir.rename(&tmp, &self.dir, &name).map_err(io)
    }
}

/// The key from a file outside the cache directory: its first 32 bytes are used as they
/// are if it holds exactly 32, else it is hashed (a Secret's text value of any length).
fn read_key_file(cache: &Path, file: &Path) -> Result<[u8; 32], SandboxError> {
    use sha2::Digest as _;
    let unsafe_key = |reason: String| SandboxError::UnsafeCache { path: cache.to_owned(), reason };
    let resolved = std::fs::canonicalize(file).map_err(|source| SandboxError::Cache { path: file.to_owned(), source })?;
    let cache_dir = std::fs::canonicalize(cache).map_err(|source| SandboxError::Cache { path: cache.to_owned(), source })?;
    if resolved.starts_with(&cache_dir) {
        return Err(unsafe_key(format!(
            "the cache key {} lies inside the cache directory, where whoever writes artifacts could read it",
            file.display()
        )));
    }
    let bytes = std::fs::read(&resolved).map_err(|source| SandboxError::Cache { path: file.to_owned(), source })?;
    if bytes.len() < 32 {
        return Err(unsafe_key(format!("the cache key {} has {} bytes; it needs at least 32", file.display(), bytes.len())));
    }
    Ok(<[u8; 32]>::try_from(bytes.as_slice()).unwrap_or_else(|_| Sha256::digest(&bytes).into()))
}

fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<(), SandboxError> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(SandboxError::UnsafeCache {
            path: path.to_owned(),
            reason: format!("owned by uid {}, not by this process (uid {me})", meta.uid()),
        });
    }
    Ok(())
}
