//! A renderer whose `describe` sleeps forever, as a hostile plugin would to hang
//! `berth plugins verify` or the operator's hot swap. Loading it must fail with a
//! timeout at its deadline.

#![forbid(unsafe_code)]
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use berth_sdk::wit::{Guest, PluginDescription, RenderError, RenderInput, RenderOutput};

struct Sleeper;

impl Guest for Sleeper {
    fn describe() -> PluginDescription {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn render(_input: RenderInput) -> Result<RenderOutput, RenderError> {
        Err(RenderError::Internal("never loaded".to_owned()))
    }
}

berth_sdk::wit::__berth_export_renderer!(Sleeper with_types_in berth_sdk::wit);
