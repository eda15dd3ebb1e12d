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

pub struct PluginDir {
    dir: Dir,
    path: PathBuf,
}

impl PluginDir {
    pub fn open(path: &Path) -> Result<Self, OpenPluginDirError> {
        let dir = Dir::open_ambient_dir(path, ambient_authority())
            .map_err(|source| OpenPluginDirError { path: path.to_owned(), source })?;
        Ok(PluginDir { dir, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `.wasm` files directly in the directory, sorted by name.
    pub fn list(&self) -> Result<Vec<String>, OpenPluginDirError> {
        let err = |source| OpenPluginDirError { path: self.path.clone(), source };
        let mut names = Vec::new();
        for entry in self.dir.entries().map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".wasm") && entry.file_type().map_err(err)?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads one plugin file by name, inside the directory only.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, SandboxError> {
        self.dir.read(name).map_err(|source| match source.kind() {
            ErrorKind::NotFound => SandboxError::PluginNotFound { name: name.to_owned() },
            _ => SandboxError::ReadPlugin { name: name.to_owned(), source },
        })
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
