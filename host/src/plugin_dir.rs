//! The plugin directory, read only through a directory capability opened once.
//! A plugin name that comes from a policy or a spec can never reach outside it:
//! `../`, absolute paths and symlinks that lead out are refused by cap-std.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the plugin directory {path}")]
pub struct OpenPluginDirError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The largest plugin read: the bundled ones are 1.2 to 1.4 MB.
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;

pub struct PluginDir {
    dir: Dir,
    path: PathBuf,
}

impl PluginDir {
    pub fn open(path: &Path) -> Result<Self, OpenPluginDirError> {
        let dir =
            Dir::open_ambient_dir(path, ambient_authority()).map_err(|source| OpenPluginDirError { path: path.to_owned(), source })?;
        Ok(PluginDir { dir, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `.wasm` entries directly in the directory, sorted by name: files, and
    /// symlinks (a mounted ConfigMap presents its keys as symlinks), which [`Self::read`]
    /// follows only while they stay inside. Anything else named `.wasm` is listed too, so
    /// that reading it fails loudly instead of it being skipped in silence.
    pub fn list(&self) -> Result<Vec<String>, OpenPluginDirError> {
        let err = |source| OpenPluginDirError { path: self.path.clone(), source };
        let mut names = Vec::new();
        for entry in self.dir.entries().map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".wasm") && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads one plugin file by name, inside the directory only, and at most
    /// [`MAX_PLUGIN_BYTES`]. The file is opened without blocking and must be a regular
    /// file: a FIFO would otherwise hang the reader until someone writes to it.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, SandboxError> {
        use cap_std::fs::{OpenOptions, OpenOptionsExt as _};
        use std::io::Read as _;
        let failed = |source: std::io::Error| match source.kind() {
            ErrorKind::NotFound => SandboxError::PluginNotFound { name: name.to_owned() },
            _ => SandboxError::ReadPlugin { name: name.to_owned(), source },
        };
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self.dir.open_with(name, &options).map_err(failed)?;
        if !file.metadata().map_err(failed)?.is_file() {
            return Err(failed(std::io::Error::new(
                ErrorKind::InvalidInput,
                "not a regular file (a FIFO, device or directory is never read)",
            )));
        }
        let mut bytes = Vec::new();
        file.into_std().take(MAX_PLUGIN_BYTES + 1).read_to_end(&mut bytes).map_err(failed)?;
        if bytes.len() as u64 > MAX_PLUGIN_BYTES {
            return Err(failed(std::io::Error::new(ErrorKind::InvalidData, format!("larger than {MAX_PLUGIN_BYTES} bytes"))));
        }
        Ok(bytes)
    }

    /// Where bundled plugins are when no directory is named: `$BERTH_PLUGIN_DIR`, then
    /// `plugins/` beside the binary's directory (`target/plugins` for a cargo build,
    /// which is where the documented build puts them), then `/usr/lib/berth/plugins`
    /// (the container image).
    pub fn default_location() -> PathBuf {
        if let Some(dir) = std::env::var_os("BERTH_PLUGIN_DIR") {
            return PathBuf::from(dir);
        }
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/berth -> target/plugins; target/<profile>/deps/x -> target/plugins
            for ancestor in exe.ancestors().skip(1).take(3) {
                let candidate = ancestor.join("plugins");
                if candidate.is_dir() {
                    return candidate;
                }
            }
        }
        PathBuf::from("/usr/lib/berth/plugins")
    }
}
