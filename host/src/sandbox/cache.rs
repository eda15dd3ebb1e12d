//! The on-disk cache of precompiled components.
//!
//! `Component::deserialize` runs native code from the file it is given, so it must only
//! ever see bytes this host wrote. Every artifact is stored behind an HMAC-SHA256 tag
//! keyed by a secret that lives in the cache directory (mode 0600) and covers the engine
//! fingerprint, the plugin digest and the artifact. A file whose tag does not verify —
//! truncated, corrupted, written by someone else, or for another engine — is deleted and
//! recompiled, never loaded. The directory must belong to this user and be writable by
//! no one else; it is opened once, as a capability, and nothing outside it is touched.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _, Permissions};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::Digest;
use super::error::SandboxError;

const MAGIC: &[u8; 8] = b"BERTHCW1";
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + TAG_LEN;
const KEY_FILE: &str = "cache.key";

pub(crate) struct PrecompiledCache {
    dir: Dir,
    path: PathBuf,
    key: [u8; 32],
}

impl PrecompiledCache {
    /// Opens (creating it if needed) the cache directory and its key.
    pub(crate) fn open(path: &Path) -> Result<Self, SandboxError> {
        let io = |source| SandboxError::Cache { path: path.to_owned(), source };
        std::fs::create_dir_all(path).map_err(io)?;
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o022 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        check_owner(path, &meta)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
        let key = load_or_create_key(&dir).map_err(io)?;
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
            && self
                .tag(digest, fingerprint, &bytes[HEADER_LEN..])
                .verify_slice(&bytes[MAGIC.len()..HEADER_LEN])
                .is_ok();
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
        let mut file = self
            .dir
            .open_with(&tmp, OpenOptions::new().write(true).create(true).truncate(true).mode(0o600))
            .map_err(io)?;
        file.write_all(MAGIC).map_err(io)?;
        file.write_all(&tag).map_err(io)?;
        file.write_all(artifact).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        self.dir.rename(&tmp, &self.dir, &name).map_err(io)
    }
}

fn load_or_create_key(dir: &Dir) -> std::io::Result<[u8; 32]> {
    if let Ok(bytes) = dir.read(KEY_FILE)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(std::io::Error::other)?;
    let mut file = dir.open_with(
        KEY_FILE,
        OpenOptions::new().write(true).create(true).truncate(true).mode(0o600),
    )?;
    file.write_all(&key)?;
    file.sync_all()?;
    dir.set_permissions(KEY_FILE, Permissions::from_std(std::fs::Permissions::from_mode(0o600)))?;
    Ok(key)
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
