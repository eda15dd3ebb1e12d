//! Harbor's registry renderer. (Being written; renders nothing yet.)

use berth_sdk::{CONTRACT_VERSION, PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

pub struct Plugin;

impl Renderer for Plugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "berth-registry".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            component: "registry".to_owned(),
            harbor_versions: vec!["2.13".to_owned(), "2.14".to_owned(), "2.15".to_owned()],
            contract_version: CONTRACT_VERSION.to_owned(),
        }
    }

    fn render(_req: &RenderRequest) -> Result<Rendered, RenderError> {
        Err(RenderError::Unsupported("the registry renderer is not written yet".to_owned()))
    }
}

berth_sdk::export_renderer!(Plugin);
