//! Berth: a Kubernetes operator for Harbor whose component renderers are sandboxed
//! WebAssembly plugins.
//!
//! - [`sandbox`]: the wasmtime runtime that loads, verifies and runs plugins.
//! - [`plugin_dir`]: the plugin directory, read through a directory capability.
//! - [`catalog`]: which loaded plugin renders which component.
//! - [`topology`]: names, Services, URLs and images the host resolves for plugins.
//! - [`render`]: one HarborCluster through every enabled component's plugin.
//! - [`manifest`]: reading HarborCluster files and writing multi-document YAML.
//! - [`names`]: Kubernetes name rules, and bounding outside text.
//! - [`crd`]: the generated CustomResourceDefinition.
//! - [`helm_import`]: the HarborCluster that reproduces a Helm chart install.
//! - [`oci`]: plugins as OCI artifacts: pull, push, signatures, the local store.

pub mod backup_cli;
pub mod catalog;
pub mod components;
pub mod contract;
pub mod controller;
pub mod crd;
pub mod diff;
pub mod error_chain;
pub mod helm_import;
pub mod labels;
pub mod manifest;
pub mod names;
pub mod oci;
pub mod plugin_dir;
pub mod policy;
pub mod render;
pub mod sandbox;
pub mod secrets;
pub mod spec_checks;
pub mod spec_schema;
pub mod topology;
pub mod upgrade_cli;
pub mod upgrade_plan;

pub use berth_api::spec::{HarborCluster, HarborClusterSpec};
