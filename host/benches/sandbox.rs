//! What the sandbox costs: a cold Cranelift compile, a load from the precompiled cache,
//! the bare per-render instantiation, one full portal render, and a whole production
//! HarborCluster through every bundled plugin. The portal is measured twice: the bundled
//! Rust one, and the same portal in Python (examples/portal-py, componentize-py), loaded
//! under the same limits.
//!
//! Needs the bundled plugins and the Python portal; `make bench` builds them first.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use berth::contract::RenderInput;
use berth::sandbox::{Digest, EngineSettings, Limits, LoadedFrom, Plugin, Sandbox};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/minimal.yaml");

/// One portal plugin under measurement.
struct Subject {
    /// In the benchmark names: `compile_{label}_uncached`, ...
    label: &'static str,
    file: &'static str,
    path: &'static str,
}

const PORTALS: [Subject; 2] = [
    Subject {
        label: "portal",
        file: "berth_plugin_portal.wasm",
        path: concat!(env!("CARGO_MANIFEST_DIR"), "/../target/plugins/berth_plugin_portal.wasm"),
    },
    Subject {
        label: "portal_py",
        file: "berth_portal_py.wasm",
        path: concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-plugins/berth_portal_py.wasm"),
    },
];

impl Subject {
    fn wasm(&self) -> Vec<u8> {
        std::fs::read(self.path).unwrap_or_else(|e| panic!("{}: {e}: run `make plugins test-plugins` first", self.path))
    }

    /// Under the bundled portal's limits (the defaults, as `berth render` loads it).
    fn load(&self, sandbox: &Sandbox) -> Plugin {
        sandbox.load(self.file, &self.wasm(), None, Limits::default()).unwrap_or_else(|e| panic!("loading {}: {e}", self.file))
    }
}

fn sandbox(cache_dir: Option<&Path>) -> Sandbox {
    Sandbox::new(EngineSettings::default(), cache_dir).unwrap_or_else(|e| panic!("sandbox: {e}"))
}

/// The input `berth render -f examples/minimal.yaml` hands the portal plugin.
fn minimal_input() -> RenderInput {
    let hc = berth::manifest::read_cluster(Path::new(EXAMPLE)).unwrap_or_else(|e| panic!("{e}"));
    let cluster = berth::render::ClusterRef::of(&hc, "default");
    let topology = berth::topology::resolve(cluster.name, cluster.spec).unwrap_or_else(|e| panic!("topology: {e}"));
    berth::render::plugin_input(&cluster, topology).unwrap_or_else(|e| panic!("input: {e}"))
}

fn compile(c: &mut Criterion) {
    let sandbox = sandbox(None);
    let mut group = c.benchmark_group("sandbox");
    // One Rust portal compile takes 0.5-0.7 s, the Python one about 15 s: flat sampling
    // keeps it to ten compiles, where linear sampling would run 55.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    for subject in &PORTALS {
        let wasm = subject.wasm();
        let digest = Digest::of(&wasm);
        group.bench_function(format!("compile_{}_uncached", subject.label), |b| {
            b.iter_with_large_drop(|| sandbox.component(subject.file, black_box(&wasm), &digest).unwrap_or_else(|e| panic!("compile: {e}")))
        });
    }
    group.finish();
}

fn cached_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox");
    for subject in &PORTALS {
        let wasm = subject.wasm();
        let digest = Digest::of(&wasm);
        let dir = tempfile::TempDir::new().unwrap_or_else(|e| panic!("temporary cache dir: {e}"));
        let sandbox = sandbox(Some(dir.path()));
        let load = || sandbox.component(subject.file, &wasm, &digest).unwrap_or_else(|e| panic!("load: {e}"));
        // The first load compiles and stores the artifact; only the ones after it are timed.
        assert_eq!(load().1, LoadedFrom::Compiled, "the cache dir was fresh");
        assert_eq!(load().1, LoadedFrom::Cache, "the primed cache was not used");
        // Dropping a Component unmaps its code; that is not part of loading it.
        group.bench_function(format!("cached_load_{}", subject.label), |b| b.iter_with_large_drop(load));
    }
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let sandbox = sandbox(None);
    let mut group = c.benchmark_group("sandbox");
    for subject in &PORTALS {
        let plugin = subject.load(&sandbox);
        plugin.instantiate_only().unwrap_or_else(|e| panic!("instantiate: {e}"));
        group.bench_function(format!("instantiate_{}", subject.label), |b| {
            b.iter(|| plugin.instantiate_only().unwrap_or_else(|e| panic!("instantiate: {e}")))
        });
    }
    group.finish();
}

fn portal_render(c: &mut Criterion) {
    let sandbox = sandbox(None);
    let input = minimal_input();
    let mut group = c.benchmark_group("sandbox");
    let mut outputs = Vec::new();
    for subject in &PORTALS {
        let plugin = subject.load(&sandbox);
        let output = plugin.render(&input).unwrap_or_else(|e| panic!("render: {e}"));
        assert_eq!(output.objects.len(), 3, "the portal renders a Deployment, a Service and a ConfigMap");
        outputs.push(output);
        group.bench_function(format!("render_{}_minimal", subject.label), |b| {
            b.iter(|| plugin.render(black_box(&input)).unwrap_or_else(|e| panic!("render: {e}")))
        });
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the two portals render the same objects");
    group.finish();
}

/// `berth render -f examples/production.yaml` minus I/O: topology, nine plugin renders
/// in fresh instances, host stamping and ordering.
fn production_render(c: &mut Criterion) {
    let sandbox = sandbox(None);
    let plugins = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/plugins"));
    let dir = berth::plugin_dir::PluginDir::open(plugins).unwrap_or_else(|e| panic!("{e}: run `make plugins` first"));
    let catalog = berth::catalog::Catalog::load_dir(&sandbox, &dir, Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/production.yaml");
    let cluster = berth::manifest::read_cluster(Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    let reference = berth::render::ClusterRef {
        name: cluster.metadata.name.as_deref().unwrap_or_default(),
        namespace: cluster.metadata.namespace.as_deref().unwrap_or("default"),
        uid: "",
        spec: &cluster.spec,
    };
    let render = || berth::render::render_cluster(&catalog, &reference).unwrap_or_else(|e| panic!("render: {e}"));
    let first = render();
    assert_eq!(first.errors().count(), 0, "every component renders");
    assert!(first.components.len() >= 7, "all of production's components render");
    let mut group = c.benchmark_group("cluster");
    group.bench_function("render_production_all_components", |b| b.iter(render));
    group.finish();
}

criterion_group!(benches, compile, cached_load, instantiate, portal_render, production_render);
criterion_main!(benches);
