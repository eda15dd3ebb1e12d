//! The Wasm OCI artifact layout (CNCF TAG Runtime): an OCI image manifest whose config
//! has the media type `application/vnd.wasm.config.v0+json` and whose one layer is the
//! component, `application/wasm`. Everything a registry returns is checked against
//! [`PullLimits`] before a byte more than needed is read.

use std::time::Duration;

use oci_client::manifest::{OciDescriptor, OciImageManifest};

use super::OciError;

pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// How much a pull may read, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLimits {
    /// A manifest's bytes. An artifact of one layer is well under 1 KiB; a registry
    /// accepts up to 4 MiB.
    pub manifest_bytes: u64,
    /// Descriptors a manifest may list: a plugin artifact has one layer.
    pub layers: usize,
    /// The .wasm layer and the config blob, each.
    pub layer_bytes: u64,
    /// One whole pull: manifest, layer and signatures.
    pub timeout: Duration,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits { manifest_bytes: 1 << 20, layers: 8, layer_bytes: 64 << 20, timeout: Duration::from_secs(120) }
    }
}

/// The .wasm layer of a manifest, once the manifest passed every check: the artifact's
/// media types, one wasm layer, the layer count and every declared size within limits.
pub fn wasm_layer<'m>(reference: &str, manifest: &'m OciImageManifest, limits: &PullLimits) -> Result<&'m OciDescriptor, OciError> {
    let not_wasm = |problem: String| OciError::NotWasmArtifact { reference: reference.to_owned(), problem };
    if manifest.layers.len() > limits.layers {
        return Err(OciError::TooLarge {
            what: format!("the manifest of {reference} (layers)"),
            size: manifest.layers.len() as u64,
            limit: limits.layers as u64,
        });
    }
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!("config media type {:?}, not {WASM_CONFIG_MEDIA_TYPE:?}", manifest.config.media_type)));
    }
    check_size(reference, "config", &manifest.config, limits)?;
    let mut wasm = manifest.layers.iter().filter(|l| l.media_type == WASM_LAYER_MEDIA_TYPE);
    let layer = wasm.next().ok_or_else(|| not_wasm(format!("no {WASM_LAYER_MEDIA_TYPE:?} layer")))?;
    if wasm.next().is_some() {
        return Err(not_wasm(format!("more than one {WASM_LAYER_MEDIA_TYPE:?} layer")));
    }
    for other in &manifest.layers {
        check_size(reference, "a layer", other, limits)?;
    }
    Ok(layer)
}

fn check_size(reference: &str, what: &str, descriptor: &OciDescriptor, limits: &PullLimits) -> Result<(), OciError> {
    let size = u64::try_from(descriptor.size).map_err(|_| OciError::NotWasmArtifact {
        reference: reference.to_owned(),
        problem: format!("{what} declares a negative size {}", descriptor.size),
    })?;
    if size > limits.layer_bytes {
        return Err(OciError::TooLarge { what: format!("{what} of {reference} ({})", descriptor.digest), size, limit: limits.layer_bytes });
    }
    Ok(())
}

/// The config blob pushed with a plugin: what `describe()` says of it, so `berth plugins
/// inspect REF` and a registry's UI show it without running it.
pub fn config_blob(name: &str, version: &str, component: &str, layer_digest: &str) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": { "name": name, "version": version, "renders": component },
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(media_type: &str, size: i64) -> OciDescriptor {
        OciDescriptor { media_type: media_type.to_owned(), digest: format!("sha256:{:064}", size), size, ..Default::default() }
    }

    fn manifest(layers: Vec<OciDescriptor>) -> OciImageManifest {
        OciImageManifest { config: descriptor(WASM_CONFIG_MEDIA_TYPE, 100), layers, ..Default::default() }
    }

    #[test]
    fn one_wasm_layer_within_limits_is_accepted() {
        let m = manifest(vec![descriptor(WASM_LAYER_MEDIA_TYPE, 4096)]);
        let layer = wasm_layer("r", &m, &PullLimits::default());
        assert!(matches!(layer, Ok(l) if l.size == 4096));
    }

    #[test]
    fn a_layer_declared_larger_than_the_limit_is_refused_before_any_read() {
        let m = manifest(vec![descriptor(WASM_LAYER_MEDIA_TYPE, 5 << 30)]);
        let err = wasm_layer("r", &m, &PullLimits::default()).err();
        assert!(matches!(err, Some(OciError::TooLarge { size, .. }) if size == 5 << 30), "{err:?}");
    }

    #[test]
    fn ten_thousand_layers_are_refused() {
        let m = manifest((0..10_000).map(|_| descriptor(WASM_LAYER_MEDIA_TYPE, 10)).collect());
        let err = wasm_layer("r", &m, &PullLimits::default()).err();
        assert_eq!(err.map(|e| e.reason()), Some("ArtifactTooLarge"));
    }

    #[test]
    fn a_container_image_or_two_wasm_layers_are_not_plugins() {
        let mut image = manifest(vec![descriptor("application/vnd.oci.image.layer.v1.tar+gzip", 10)]);
        image.config.media_type = "application/vnd.oci.image.config.v1+json".to_owned();
        assert_eq!(wasm_layer("r", &image, &PullLimits::default()).err().map(|e| e.reason()), Some("NotWasmArtifact"));
        let two = manifest(vec![descriptor(WASM_LAYER_MEDIA_TYPE, 10), descriptor(WASM_LAYER_MEDIA_TYPE, 11)]);
        assert_eq!(wasm_layer("r", &two, &PullLimits::default()).err().map(|e| e.reason()), Some("NotWasmArtifact"));
        let negative = manifest(vec![descriptor(WASM_LAYER_MEDIA_TYPE, -1)]);
        assert_eq!(wasm_layer("r", &negative, &PullLimits::default()).err().map(|e| e.reason()), Some("NotWasmArtifact"));
    }
}
