//! The portal written in Python from the WIT alone (examples/portal-py, built by
//! componentize-py) against the bundled Rust portal, through the host, loaded under
//! exactly the bundled portal's limits. If it ever stops loading under them, these tests
//! say so; the limits are not raised for it.

use std::sync::OnceLock;

use berth::catalog::Catalog;
use berth::contract::{InvalidSpec, RenderError};
use berth::render::ClusterRender;
use berth::sandbox::{Plugin, SandboxError};
use berth_api::spec::HarborCluster;
use berth_tests::{component_objects, plugin_input, read_example, render, render_yaml, shared_catalog, shared_sandbox, workspace};
use serde_json::Value;

/// The bundled catalog with the Python portal in place of the Rust one, made once per test
/// binary (a cold compile of the Python component takes seconds).
fn python_catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        berth_tests::catalog_with_portal(shared_sandbox(), shared_catalog(), "berth_portal_py.wasm", &berth_tests::portal_py_wasm())
    })
}

fn rust_portal() -> &'static Plugin {
    shared_catalog().get("portal").unwrap_or_else(|| panic!("no bundled portal"))
}

fn python_portal() -> &'static Plugin {
    python_catalog().get("portal").unwrap_or_else(|| panic!("no Python portal"))
}

/// Every examples/*.yaml, by file name.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("examples"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "examples are missing: {names:?}");
    names
}

/// The annotations that name the plugin (name, version, digest): the one place the two
/// portals' objects may differ.
fn without_plugin_identity(mut object: Value) -> Value {
    if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
        for key in [berth::render::PLUGIN_ANNOTATION, berth::render::PLUGIN_VERSION_ANNOTATION, berth::render::PLUGIN_DIGEST_ANNOTATION] {
            annotations.remove(key);
        }
    }
    object
}

fn portal_objects(rendered: &ClusterRender) -> Vec<(String, String, Value)> {
    component_objects(rendered, "portal").into_iter().map(|(kind, name, object)| (kind, name, without_plugin_identity(object))).collect()
}

#[test]
fn the_python_portal_loads_under_the_bundled_portals_limits() {
    let (rust, python) = (rust_portal(), python_portal());
    assert_eq!(python.limits(), rust.limits());
    let d = python.description();
    assert_eq!((d.name.as_str(), d.version.as_str(), d.component.as_str()), ("berth-portal-py", "0.1.0", "portal"));
    assert_eq!(d.harbor_versions, ["2.13", "2.14", "2.15"]);
    assert_eq!(d.contract_version, berth_sdk::CONTRACT_VERSION);
    assert!(python.exports().iter().any(|e| e == berth::contract::RENDERER_INTERFACE), "{:?}", python.exports());
    // Beyond what Rust's std imports, only what the deny-by-default stubs serve.
    let stubbed = python.stubbed_imports();
    assert!(stubbed.iter().any(|i| i.starts_with("wasi:filesystem/preopens@")), "{stubbed:?}");
    assert!(stubbed.iter().all(|i| i.starts_with("wasi:filesystem/") || i.starts_with("wasi:sockets/")), "{stubbed:?}");
    assert!(rust.stubbed_imports().is_empty(), "{:?}", rust.stubbed_imports());
}

#[test]
fn the_python_portal_follows_the_chart_contract() {
    berth_tests::assert_portal_chart_contract(python_catalog());
}

#[test]
fn both_portals_render_every_example_alike() {
    for example in examples() {
        let cluster = read_example(&example);
        // Straight from the plugins: objects, Secrets and conditions, before any stamping.
        let input = plugin_input(&cluster);
        let rust = rust_portal().render(&input).unwrap_or_else(|e| panic!("{example}: Rust portal: {e}"));
        let python = python_portal().render(&input).unwrap_or_else(|e| panic!("{example}: Python portal: {e}"));
        assert_eq!(python, rust, "{example}: the plugins' outputs differ");
        // Through the whole host path: the same objects, stamped the same but for the
        // plugin's name, version and digest; every other component untouched.
        let with_rust = render(shared_catalog(), &cluster).unwrap_or_else(|e| panic!("{example}: {e}"));
        let with_python = render(python_catalog(), &cluster).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(portal_objects(&with_python), portal_objects(&with_rust), "{example}");
        for (component, _) in with_rust.components.iter().filter(|(c, _)| c != "portal") {
            assert_eq!(component_objects(&with_python, component), component_objects(&with_rust, component), "{example}: {component}");
        }
    }
}

/// A change that makes a spec invalid.
type SpecChange = fn(&mut HarborCluster);

/// Invalid specs the host itself lets through to the portal, or that only a plugin called
/// directly would see: both plugins refuse each, naming the same field, in the same words.
#[test]
fn invalid_specs_are_refused_naming_the_same_field() {
    let variants: Vec<(&str, SpecChange)> = vec![
        ("negative replicas", |c| c.spec.portal.replicas = Some(-2)),
        ("no IP family", |c| {
            c.spec.ip_family.ipv4 = false;
            c.spec.ip_family.ipv6 = false;
        }),
        ("negative replicas and no IP family", |c| {
            c.spec.portal.replicas = Some(-1);
            c.spec.ip_family.ipv4 = false;
            c.spec.ip_family.ipv6 = false;
        }),
    ];
    for (what, change) in variants {
        let mut cluster = read_example("minimal.yaml");
        change(&mut cluster);
        let input = plugin_input(&cluster);
        let refusal = |plugin: &Plugin| match plugin.render(&input) {
            Err(SandboxError::Rejected { error: RenderError::InvalidSpec(InvalidSpec { field, message }), .. }) => (field, message),
            other => panic!("{what}: {} did not refuse it as an invalid spec: {other:?}", plugin.name()),
        };
        let (rust, python) = (refusal(rust_portal()), refusal(python_portal()));
        assert_eq!(python, rust, "{what}");
        // Through the host, whichever layer refuses it names the same field.
        assert_eq!(
            berth_tests::spec_error_field(render(python_catalog(), &cluster), "portal"),
            berth_tests::spec_error_field(render(shared_catalog(), &cluster), "portal"),
            "{what}"
        );
    }
    // The host does not check the IP families itself: that refusal is the Python plugin's.
    let mut cluster = read_example("minimal.yaml");
    cluster.spec.ip_family.ipv4 = false;
    cluster.spec.ip_family.ipv6 = false;
    assert_eq!(berth_tests::spec_error_field(render(python_catalog(), &cluster), "portal"), "spec.ipFamily");
    // A Harbor version the portal does not render: both say so (the host refuses it first).
    let mut input = plugin_input(&read_example("minimal.yaml"));
    input.harbor_version = "2.9.0".to_owned();
    for plugin in [rust_portal(), python_portal()] {
        let error = plugin.render(&input).err();
        assert!(matches!(error, Some(SandboxError::Rejected { error: RenderError::Unsupported(_), .. })), "{}: {error:?}", plugin.name());
    }
}

#[test]
fn the_python_portal_renders_byte_identically_twice_and_across_runtimes() {
    let cluster = read_example("production.yaml");
    let first = render_yaml(python_catalog(), &cluster);
    assert_eq!(render_yaml(python_catalog(), &cluster), first);
    let sandbox = berth_tests::sandbox();
    let bundled = berth_tests::bundled_catalog(&sandbox);
    let other = berth_tests::catalog_with_portal(&sandbox, &bundled, "berth_portal_py.wasm", &berth_tests::portal_py_wasm());
    assert_eq!(render_yaml(&other, &cluster), first);
}
