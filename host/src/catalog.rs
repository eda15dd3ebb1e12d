//! Which loaded plugin renders which component.

use std::collections::BTreeMap;

use crate::plugin_dir::{OpenPluginDirError, PluginDir};
use crate::sandbox::{Limits, Plugin, Sandbox, SandboxError};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Dir(#[from] OpenPluginDirError),
    #[error("plugin file {file} could not be loaded")]
    Load {
        file: String,
        #[source]
        source: SandboxError,
    },
    #[error("both {first} and {second} render component {component:?}; keep one in the plugin directory")]
    Duplicate { component: String, first: String, second: String },
}

/// Plugins by the component they render.
#[derive(Clone, Default)]
pub struct Catalog {
    by_component: BTreeMap<String, Plugin>,
}

impl Catalog {
    /// Loads every `.wasm` in the directory. Any plugin that fails to load fails the
    /// whole catalog: a half-loaded set would render a Harbor missing a component.
    pub fn load_dir(sandbox: &Sandbox, dir: &PluginDir, limits: Limits) -> Result<Self, CatalogError> {
        let mut catalog = Catalog::default();
        for file in dir.list()? {
            let wasm = dir.read(&file).map_err(|source| CatalogError::Load { file: file.clone(), source })?;
            let plugin = sandbox.load(&file, &wasm, None, limits).map_err(|source| CatalogError::Load { file: file.clone(), source })?;
            catalog.insert(plugin)?;
        }
        Ok(catalog)
    }

    pub fn insert(&mut self, plugin: Plugin) -> Result<(), CatalogError> {
        let component = plugin.description().component.clone();
        if let Some(existing) = self.by_component.get(&component) {
            return Err(CatalogError::Duplicate {
                component,
                first: existing.source_name().to_owned(),
                second: plugin.source_name().to_owned(),
            });
        }
        self.by_component.insert(component, plugin);
        Ok(())
    }

    pub fn get(&self, component: &str) -> Option<&Plugin> {
        self.by_component.get(component)
    }

    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.by_component.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_component.is_empty()
    }
}
