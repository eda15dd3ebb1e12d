//! The Berth plugin SDK, for renderers written in Rust.
//!
//! A component renderer implements [`Renderer`] and calls [`export_renderer!`]. The SDK
//! parses the spec JSON (naming the offending field when it is invalid), serialises
//! typed Kubernetes objects, and hands the WIT contract's own types ([`wit`]) to the
//! renderer, so plugin code and the contract cannot disagree. Renderers stay plain Rust
//! functions that unit-test natively.
//!
//! ```ignore
//! struct Portal;
//! impl berth_sdk::Renderer for Portal {
//!     fn describe() -> berth_sdk::PluginDescription { berth_sdk::bundled_description!("berth-portal", "portal") }
//!     fn render(req: &berth_sdk::RenderRequest) -> Result<berth_sdk::Rendered, berth_sdk::RenderError> {
//!         let mut out = berth_sdk::Rendered::default();
//!         out.object(&config_map)?;
//!         Ok(out)
//!     }
//! }
//! berth_sdk::export_renderer!(Portal);
//! ```

#![forbid(unsafe_code)]

pub mod k8s;
pub mod topology;
pub mod volume;
#[doc(hidden)]
pub mod wit;

pub use berth_api as api;
pub use berth_api::spec;
pub use k8s_openapi;
pub use spec::HarborClusterSpec;
pub use wit::{BackupTask, DeleteTask, MigrateTask, RestoreTask, Task};
pub use wit::{
    CONTRACT_VERSION, ClusterIdentity, ComponentTopology, Condition, ConditionStatus, GeneratedKey, GeneratedSecret, InvalidSpec,
    PluginDescription, RenderError, RenderInput, RenderOutput, SecretKeyRef, SecretValue, Topology,
};

use serde::Serialize;

/// What a renderer receives: the parsed spec and the host's topology.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub cluster: ClusterIdentity,
    pub harbor_version: String,
    pub spec: HarborClusterSpec,
    pub topology: Topology,
}

/// A component renderer.
pub trait Renderer {
    /// Names the plugin; the host calls it once at load.
    fn describe() -> PluginDescription;
    /// Renders the component's objects.
    fn render(request: &RenderRequest) -> Result<Rendered, RenderError>;
    /// Renders the Job of one day-two task: `backup` takes backups, restores and
    /// deletions, `core` an upgrade's migration; every other renderer keeps this default.
    fn render_task(request: &RenderRequest, task: &Task) -> Result<Rendered, RenderError> {
        let _ = (request, task);
        let description = Self::describe();
        Err(RenderError::Unsupported(format!("{} renders no task Jobs", description.name)))
    }
}

/// The objects, secrets and conditions a render produces, built up in order.
#[derive(Debug)]
pub struct Rendered {
    output: RenderOutput,
}

impl Default for Rendered {
    fn default() -> Self {
        Rendered { output: RenderOutput { objects: Vec::new(), secrets: Vec::new(), conditions: Vec::new() } }
    }
}

impl Rendered {
    /// Adds a typed Kubernetes object; apiVersion and kind come from its type.
    pub fn object<K>(&mut self, object: &K) -> Result<&mut Self, RenderError>
    where
        K: k8s_openapi::Resource + Serialize,
    {
        let json = serde_json::to_string(object).map_err(|e| RenderError::Internal(format!("serialising a {}: {e}", K::KIND)))?;
        self.output.objects.push(json);
        Ok(self)
    }

    /// Adds an object of a kind k8s-openapi does not model (a Gateway API HTTPRoute, say).
    /// It must carry apiVersion, kind and metadata.name.
    pub fn raw_object(&mut self, object: &serde_json::Value) -> &mut Self {
        self.output.objects.push(object.to_string());
        self
    }

    /// Declares a Secret the host must generate once.
    pub fn secret(&mut self, secret: GeneratedSecret) -> &mut Self {
        self.output.secrets.push(secret);
        self
    }

    /// Surfaces a condition on the HarborCluster.
    pub fn condition(&mut self, condition: Condition) -> &mut Self {
        self.output.conditions.push(condition);
        self
    }

    pub fn into_output(self) -> RenderOutput {
        self.output
    }
}

/// Parses the spec, runs the renderer and returns the contract's output. The export
/// glue calls this; tests can call it natively.
pub fn render_input<R: Renderer>(mut input: RenderInput) -> Result<RenderOutput, RenderError> {
    let task = input.task.take();
    let request = parse_request(input)?;
    let description = R::describe();
    if !description.supports_harbor(&request.harbor_version) {
        return Err(RenderError::Unsupported(format!(
            "{} {} renders Harbor {}, not {}",
            description.name,
            description.version,
            description.harbor_versions.join(", "),
            request.harbor_version
        )));
    }
    match task {
        None => R::render(&request),
        Some(task) => R::render_task(&request, &task),
    }
    .map(Rendered::into_output)
}

/// Parses the spec, naming the offending field on error.
pub fn parse_request(input: RenderInput) -> Result<RenderRequest, RenderError> {
    let spec = parse_spec_json(&input.spec_json)?;
    Ok(RenderRequest { cluster: input.cluster, harbor_version: input.harbor_version, spec, topology: input.topology })
}

/// Parses a spec from JSON; a type error names the field, e.g. `spec.portal.replicas`.
/// Unknown fields are ignored: the host refused them already, so any left are ones a
/// newer host added.
pub fn parse_spec_json(json: &str) -> Result<HarborClusterSpec, RenderError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "spec".to_owned() } else { format!("spec.{path}") };
        RenderError::invalid(field, e.into_inner().to_string())
    })
}

/// Exports a [`Renderer`] as the component's `berth:plugin/renderer` interface.
/// Expands to nothing outside wasm32, so the renderer still builds and tests natively.
#[macro_export]
macro_rules! export_renderer {
    ($renderer:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct BerthGuest;
            impl $crate::wit::Guest for BerthGuest {
                fn describe() -> $crate::PluginDescription {
                    <$renderer as $crate::Renderer>::describe()
                }
                fn render(input: $crate::RenderInput) -> ::core::result::Result<$crate::RenderOutput, $crate::RenderError> {
                    $crate::render_input::<$renderer>(input)
                }
            }
    $crate::wit::__berth_export_renderer!(BerthGuest with_types_in $crate::wit);
        };
    };
}
