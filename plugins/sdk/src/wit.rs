//! The contract's types, generated from `wit/renderer.wit` and nothing else: plugin code
//! works on exactly what crosses the component boundary, so no mirror of the contract
//! can drift from it. They also derive serde, so a test can build them from JSON.
//!
//! The export glue is generated too; [`crate::export_renderer!`] wires a [`crate::Renderer`]
//! to it on wasm32 only, so renderers build and unit-test natively.

wit_bindgen::generate!({
    path: "../../wit",
    world: "component-renderer",
    pub_export_macro: true,
    export_macro_name: "__berth_export_renderer",
    default_bindings_module: "berth_sdk::wit",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, Eq],
});

pub use exports::berth::plugin::renderer::*;

/// The version of the WIT package this SDK implements (`berth:plugin@0.4.0`); a test
/// keeps it equal to the package line of `wit/renderer.wit`.
pub const CONTRACT_VERSION: &str = "0.4.0";

impl PluginDescription {
    /// True when `harbor_version` ("2.15.1") is of a "major.minor" it lists.
    pub fn supports_harbor(&self, harbor_version: &str) -> bool {
        berth_api::version::renders(&self.harbor_versions, harbor_version)
    }
}

impl RenderError {
    /// The spec is wrong at `field` (e.g. "spec.portal.replicas").
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RenderError::InvalidSpec(InvalidSpec { field: field.into(), message: message.into() })
    }
}

/// Describes a bundled plugin: its crate's version, the Harbor versions this release of
/// Berth deploys (`berth_api::HARBOR_MINORS`, declared once), this contract's version.
#[macro_export]
macro_rules! bundled_description {
    ($name:expr, $component:expr) => {
        $crate::PluginDescription {
            name: ::std::string::String::from($name),
            version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
            component: ::std::string::String::from($component),
            harbor_versions: $crate::api::HARBOR_MINORS.iter().map(|v| ::std::string::String::from(*v)).collect(),
            contract_version: ::std::string::String::from($crate::CONTRACT_VERSION),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_version_is_the_wit_package_version() {
        let wit = include_str!("../../../wit/renderer.wit");
        assert!(
            wit.lines().any(|l| l == format!("package berth:plugin@{CONTRACT_VERSION};")),
            "wit/renderer.wit is not {CONTRACT_VERSION}"
        );
    }

    #[test]
    fn harbor_support_is_by_major_minor() {
        let d = bundled_description!("berth-test", "portal");
        assert!(d.supports_harbor("2.15.1"));
        assert!(!d.supports_harbor("2.9.0"));
        assert!(!d.supports_harbor("2.15"));
    }
}
