//! A broken "next version" of the portal renderer, for the end-to-end tests of canary
//! rollback: it describes itself as berth-portal 0.3.0, so it loads and passes every
//! check made at load time, but every render panics, which traps in the sandbox. A test
//! that rolls this version out can watch the canary fail and the operator roll back to
//! the previous portal plugin.

#![forbid(unsafe_code)]

// The real portal renderer, compiled in (see plugins/portal/src/render.rs for why not a
// dependency).
#[path = "../../../../plugins/portal/src/render.rs"]
mod portal;

use portal::Portal;

use berth_sdk::{PluginDescription, RenderError, RenderRequest, Rendered, Renderer};

pub struct PortalBroken;

impl Renderer for PortalBroken {
    fn describe() -> PluginDescription {
        PluginDescription { version: "0.3.0".to_owned(), ..Portal::describe() }
    }

    fn render(_request: &RenderRequest) -> Result<Rendered, RenderError> {
        // Deliberate: the point of this plugin is a render that traps.
        panic!("berth-portal 0.3.0 fails on purpose")
    }
}

berth_sdk::export_renderer!(PortalBroken);
