//! Shared fixtures for the cross-crate tests: where the built plugins are, a sandbox,
//! and rendering an example file through the bundled plugins.

pub mod berth_process;
pub mod chart_install;
pub mod control_plane;
pub mod day_two;
pub mod job_runner;
pub mod kubelet;
pub mod operator;
pub mod policies;
pub mod postgres;
pub mod registry;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth::catalog::Catalog;
use berth::plugin_dir::PluginDir;
use berth::render::{ClusterRef, ClusterRender, ClusterRenderError, render_cluster};
use berth::sandbox::{CacheKey, EngineSettings, Limits, Sandbox};
use berth_api::spec::HarborCluster;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// target/plugins, where `make plugins` puts the bundled renderers.
pub fn bundled_plugins() -> PathBuf {
    let dir = workspace().join("target/plugins");
    assert!(
        dir.join("berth_plugin_portal.wasm").is_file(),
        "no bundled plugins in {}: run `make plugins` (or `make test`) first",
        dir.display()
    );
    dir
}

/// target/test-plugins, where `make test-plugins` puts the hostile plugins.
pub fn test_plugins() -> PathBuf {
    let dir = workspace().join("target/test-plugins");
    assert!(
        dir.join("berth_test_hostile.wasm").is_file(),
        "no test plugins in {}: run `make test-plugins` (or `make test`) first",
        dir.display()
    );
    dir
}

/// A sandbox whose precompiled cache lives in target/, so each plugin digest is
/// compiled once across all test binaries and runs. Its key lies beside the cache, not
/// in it, as the deployer's key would.
pub fn sandbox() -> Sandbox {
    let cache = workspace().join("target/berth-test-cache");
    Sandbox::with_cache_key(EngineSettings::default(), Some(&cache), &CacheKey::File(test_cache_key()))
        .unwrap_or_else(|e| panic!("sandbox: {e}"))
}

/// target/berth-test-cache.key: 32 random bytes, made once (whichever test binary is
/// first; a concurrent one that loses the race reads the winner's).
fn test_cache_key() -> PathBuf {
    use std::io::Write as _;
    let path = workspace().join("target/berth-test-cache.key");
    if !path.is_file() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).unwrap_or_else(|e| panic!("{e}"));
        let tmp = path.with_extension(format!("key.{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp).unwrap_or_else(|e| panic!("{e}"));
        file.write_all(&key).unwrap_or_else(|e| panic!("{e}"));
        // A hard link never leaves a half-written key for another binary to read.
        if std::fs::hard_link(&tmp, &path).is_err() && !path.is_file() {
            panic!("could not make {}", path.display());
        }
        let _ = std::fs::remove_file(&tmp);
    }
    path
}

/// One sandbox and bundled catalog per test binary, shared by its tests.
pub fn shared_catalog() -> &'static Catalog {
    &shared().1
}

/// The sandbox behind [`shared_catalog`], to load more plugins into.
pub fn shared_sandbox() -> &'static Sandbox {
    &shared().0
}

fn shared() -> &'static (Sandbox, Catalog) {
    static SHARED: OnceLock<(Sandbox, Catalog)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let sandbox = sandbox();
        let catalog = bundled_catalog(&sandbox);
        (sandbox, catalog)
    })
}

pub fn bundled_catalog(sandbox: &Sandbox) -> Catalog {
    let dir = PluginDir::open(&bundled_plugins()).unwrap_or_else(|e| panic!("{e}"));
    Catalog::load_dir(sandbox, &dir, patient_limits()).unwrap_or_else(|e| panic!("{e}"))
}

/// The default limits with a deadline of a minute: a good render takes a millisecond, so
/// a test whose subject is not time cannot fail on a busy machine because a thread
/// waited for a core.
pub fn patient_limits() -> Limits {
    Limits { deadline: std::time::Duration::from_secs(60), ..Limits::default() }
}

pub fn read_example(name: &str) -> HarborCluster {
    berth::manifest::read_cluster(&workspace().join("examples").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn render(catalog: &Catalog, cluster: &HarborCluster) -> Result<ClusterRender, ClusterRenderError> {
    render_cluster(
        catalog,
        &ClusterRef {
            name: cluster.metadata.name.as_deref().unwrap_or_default(),
            namespace: cluster.metadata.namespace.as_deref().unwrap_or("default"),
            uid: cluster.metadata.uid.as_deref().unwrap_or_default(),
            spec: &cluster.spec,
        },
    )
}

/// target/test-plugins/berth_portal_py.wasm: the portal written in Python from the WIT alone
/// (examples/portal-py; `make test-plugins` builds it with componentize-py).
pub fn portal_py_wasm() -> Vec<u8> {
    let path = workspace().join("target/test-plugins/berth_portal_py.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}: run `make test-plugins` (or `make test`) first", path.display()))
}

/// The bundled catalog with its portal replaced by the plugin `wasm`, which is loaded under
/// exactly the limits the bundled portal has.
pub fn catalog_with_portal(sandbox: &Sandbox, bundled: &Catalog, name: &str, wasm: &[u8]) -> Catalog {
    let limits = bundled.get("portal").unwrap_or_else(|| panic!("no bundled portal")).limits();
    let portal = sandbox.load(name, wasm, None, limits).unwrap_or_else(|e| panic!("loading {name} under the bundled portal's limits: {e}"));
    let mut catalog = Catalog::default();
    for plugin in bundled.plugins().filter(|p| p.description().component != "portal") {
        catalog.insert(plugin.clone()).unwrap_or_else(|e| panic!("{e}"));
    }
    catalog.insert(portal).unwrap_or_else(|e| panic!("{e}"));
    catalog
}

/// The input the host hands every plugin for `cluster` (as `render::render_planned` builds
/// it), to call a plugin directly, past the host's own spec checks.
pub fn plugin_input(cluster: &HarborCluster) -> berth::contract::RenderInput {
    let cluster = berth::render::ClusterRef::of(cluster, "default");
    let topology = berth::topology::resolve(cluster.name, cluster.spec).unwrap_or_else(|e| panic!("{e}"));
    berth::render::plugin_input(&cluster, topology).unwrap_or_else(|e| panic!("{e}"))
}

/// The Harbor chart's portal contract, asserted on `catalog`'s render of minimal.yaml: the
/// bundled Rust portal and the Python one (examples/portal-py) are held to the same.
pub fn assert_portal_chart_contract(catalog: &Catalog) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    let rendered = render(catalog, &read_example("minimal.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let find = |kind: &str| {
        rendered
            .objects()
            .into_iter()
            .find(|o| o.kind() == kind && o.component == "portal")
            .map(|o| serde_json::Value::Object(o.object.clone()))
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let cm: ConfigMap = serde_json::from_value(find("ConfigMap")).unwrap_or_else(|e| panic!("{e}"));
    let conf = cm.data.unwrap_or_default().remove("nginx.conf").unwrap_or_default();
    for line in [
        "listen 8080;",
        "listen [::]:8080;",
        "root   /usr/share/nginx/html;",
        "pid /tmp/nginx.pid;",
        "location /devcenter-api-2.0",
        "try_files $uri $uri/ /index.html;",
        "add_header Cache-Control \"no-store, no-cache, must-revalidate\";",
    ] {
        assert!(conf.contains(line), "nginx.conf lacks {line:?}");
    }
    let deployment: Deployment = serde_json::from_value(find("Deployment")).unwrap_or_else(|e| panic!("{e}"));
    let spec = deployment.spec.unwrap_or_default();
    let pod = spec.template.spec.unwrap_or_default();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("docker.io/goharbor/harbor-portal:v2.15.1"));
    assert_eq!(container.ports.as_ref().map(|p| p[0].container_port), Some(8080));
    let probe = container.readiness_probe.as_ref().and_then(|p| p.http_get.as_ref()).map(|g| g.path.clone());
    assert_eq!(probe, Some(Some("/".to_owned())));
    let mount = &container.volume_mounts.as_ref().unwrap_or_else(|| panic!("no mounts"))[0];
    assert_eq!((mount.mount_path.as_str(), mount.sub_path.as_deref()), ("/etc/nginx/nginx.conf", Some("nginx.conf")));
    let security = container.security_context.clone().unwrap_or_default();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.capabilities.and_then(|c| c.drop), Some(vec!["ALL".to_owned()]));
    assert_eq!(pod.security_context.and_then(|s| s.run_as_user), Some(10000));
    let annotations = spec.template.metadata.and_then(|m| m.annotations).unwrap_or_default();
    assert!(annotations.contains_key("configmap.checksum.berth.dev/demo-harbor-portal"));
    let service: Service = serde_json::from_value(find("Service")).unwrap_or_else(|e| panic!("{e}"));
    let port = &service.spec.unwrap_or_default().ports.unwrap_or_default()[0];
    assert_eq!(port.port, 80);
    assert_eq!(service.metadata.namespace.as_deref(), Some("registry"));
}

/// The YAML `berth render` prints for a cluster, failing on any component error.
pub fn render_yaml(catalog: &Catalog, cluster: &HarborCluster) -> String {
    let rendered = render(catalog, cluster).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = rendered.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "components failed: {errors:?}");
    let objects = rendered.objects();
    berth::manifest::to_yaml(objects.iter().map(|o| &o.object)).unwrap_or_else(|e| panic!("{e}"))
}

/// Plugin digests change with every plugin build, so golden files hold a placeholder.
fn without_digests(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml;
    while let Some(at) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(at + "sha256:".len());
        out.push_str(head);
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 64 {
            out.push_str("<digest>");
            rest = &tail[64..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it instead.
pub fn assert_golden(name: &str, actual: &str) {
    let actual = &without_digests(actual);
    let path = workspace().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if expected != *actual {
        let first_diff = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the render at line {}:\n  golden: {:?}\n  render: {:?}\n(UPDATE_GOLDEN=1 rewrites it after review)",
            path.display(),
            first_diff + 1,
            expected.lines().nth(first_diff),
            actual.lines().nth(first_diff)
        );
    }
}

/// The input the hostile test plugin gets: its misbehaviour is picked by `cluster`.
pub fn hostile_input(cluster: &str) -> berth::contract::RenderInput {
    use berth::contract::{ClusterIdentity, RenderInput};
    let spec_json = r#"{"version":"2.15.1","externalURL":"https://h.example.com"}"#;
    let spec = serde_json::from_str(spec_json).unwrap_or_else(|e| panic!("{e}"));
    RenderInput {
        cluster: ClusterIdentity { name: cluster.to_owned(), namespace: "ns".to_owned(), uid: String::new() },
        harbor_version: "2.15.1".to_owned(),
        spec_json: spec_json.to_owned(),
        topology: berth::topology::resolve("hostile", &spec).unwrap_or_else(|e| panic!("{e}")),
        task: None,
    }
}

/// What a bundled plugin's unit tests render from: `spec` (a HarborCluster `.spec`) and
/// the topology the host really resolves for a cluster `demo` in namespace `registry`,
/// carried across as JSON (host and guest types are generated from the same WIT).
pub fn plugin_request(spec: serde_json::Value) -> berth_sdk::RenderRequest {
    let parsed: berth_api::HarborClusterSpec = serde_json::from_value(spec.clone()).unwrap_or_else(|e| panic!("test spec: {e}"));
    let topology = berth::topology::resolve("demo", &parsed).unwrap_or_else(|e| panic!("topology: {e}"));
    let topology = serde_json::to_value(&topology).and_then(serde_json::from_value).unwrap_or_else(|e| panic!("topology as JSON: {e}"));
    berth_sdk::RenderRequest {
        cluster: berth_sdk::ClusterIdentity { name: "demo".to_owned(), namespace: "registry".to_owned(), uid: String::new() },
        harbor_version: parsed.version.clone(),
        spec: berth_sdk::parse_spec_json(&spec.to_string()).unwrap_or_else(|e| panic!("test spec: {e:?}")),
        topology,
    }
}

/// The field a spec error names, whichever layer refused the spec: the host, before any
/// plugin ran (bounds, `$(`, Secret references), or `component`'s plugin.
pub fn spec_error_field(result: Result<ClusterRender, ClusterRenderError>, component: &str) -> String {
    use berth::render::ComponentError;
    use berth::sandbox::SandboxError;
    match result {
        Err(ClusterRenderError::Spec(e)) => e.field,
        Err(other) => panic!("expected an invalid-spec error, got {other}"),
        Ok(rendered) => match rendered.components.iter().find(|(c, _)| c == component) {
            Some((
                _,
                Err(ComponentError::Plugin {
                    source:
                        SandboxError::Rejected {
                            error: berth::contract::RenderError::InvalidSpec(berth::contract::InvalidSpec { field, .. }),
                            ..
                        },
                    ..
                }),
            )) => field.clone(),
            Some((_, Err(ComponentError::Spec { source, .. }))) => source.field.clone(),
            Some((_, Err(other))) => {
                panic!("expected an invalid-spec error from {component}, got {other}")
            }
            Some((_, Ok(_))) => panic!("{component} rendered the spec"),
            None => panic!("{component} was not rendered"),
        },
    }
}

/// A cluster rendered through the shared bundled catalog, failing the test on a spec error.
pub fn render_bundled(cluster: &HarborCluster) -> ClusterRender {
    render(shared_catalog(), cluster).unwrap_or_else(|e| panic!("{e}"))
}

/// One component's objects as (kind, name, JSON); the panic names its error if it failed.
pub fn component_objects(rendered: &ClusterRender, component: &str) -> Vec<(String, String, serde_json::Value)> {
    let (_, result) = rendered.components.iter().find(|(c, _)| c == component).unwrap_or_else(|| panic!("{component} was not rendered"));
    let render = result.as_ref().unwrap_or_else(|e| panic!("{component} failed: {e}"));
    render.objects.iter().map(|o| (o.kind().to_owned(), o.name().to_owned(), serde_json::Value::Object(o.object.clone()))).collect()
}

/// The object of `kind` named `name`, deserialized into its Kubernetes type.
pub fn find_object<T: serde::de::DeserializeOwned>(objects: &[(String, String, serde_json::Value)], kind: &str, name: &str) -> T {
    let (_, _, value) = objects.iter().find(|(k, n, _)| k == kind && n == name).unwrap_or_else(|| panic!("no {kind} {name}"));
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
}
