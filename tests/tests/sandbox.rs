//! The sandbox against purpose-built bad plugins: each misbehaviour yields its own typed
//! error within its budget, and the same runtime then serves the next good render.

use std::time::{Duration, Instant};

use berth::contract::RenderInput;
use berth::sandbox::{CacheKey, Digest, Limits, LoadedFrom, Plugin, Sandbox, SandboxError};
use berth_tests::{sandbox, test_plugins};

fn input(cluster: &str) -> RenderInput {
    berth_tests::hostile_input(cluster)
}

fn hostile(sandbox: &Sandbox, limits: Limits) -> Plugin {
    let wasm = std::fs::read(test_plugins().join("berth_test_hostile.wasm")).unwrap_or_else(|e| panic!("{e}"));
    sandbox.load("hostile", &wasm, None, limits).unwrap_or_else(|e| panic!("loading the hostile plugin: {e}"))
}

/// For renders that do real work (building 100 MiB of output): far above what it takes on
/// a busy machine, so only the limit under test can end them.
const GENEROUS: Duration = Duration::from_secs(120);

/// After any failure, the very same plugin and runtime still render.
fn assert_still_serves(plugin: &Plugin) {
    let out = plugin.render(&input("good")).unwrap_or_else(|e| panic!("good render after a bad one: {e}"));
    assert_eq!(out.objects.len(), 1);
    assert_eq!(out.objects[0]["metadata"]["name"], "good-fine");
}

#[test]
fn an_endless_loop_is_stopped_at_its_deadline() {
    let sandbox = sandbox();
    let budget = Duration::from_millis(100);
    let plugin = hostile(&sandbox, Limits { deadline: budget, ..Limits::default() });
    let started = Instant::now();
    let err = plugin.render(&input("loop")).err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Some(SandboxError::Timeout { budget: b, .. }) if b == budget), "{err:?}");
    // Not a performance claim: a sanity bound 50x the budget, so a deadline that never
    // fires fails this test instead of hanging it.
    assert!(elapsed < budget * 50, "stopped only after {elapsed:?}");
    assert_still_serves(&plugin);
}

#[test]
fn a_gigabyte_allocation_hits_the_memory_cap() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits { memory_bytes: 64 << 20, ..Limits::default() });
    let err = plugin.render(&input("alloc")).err();
    assert!(matches!(err, Some(SandboxError::MemoryExceeded { limit, .. }) if limit == 64 << 20), "{err:?}");
    assert_still_serves(&plugin);
}

#[test]
fn memory_written_a_megabyte_at_a_time_stops_at_the_cap() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits { memory_bytes: 32 << 20, deadline: GENEROUS, ..Limits::default() });
    let err = plugin.render(&input("fill")).err();
    assert!(matches!(err, Some(SandboxError::MemoryExceeded { limit, .. }) if limit == 32 << 20), "{err:?}");
    assert_still_serves(&plugin);
}

#[test]
fn a_panic_is_a_trap_carrying_the_panic_message() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    match plugin.render(&input("panic")) {
        Err(SandboxError::Trap { message, .. }) => {
            assert!(message.contains("hostile plugin panics on purpose"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_still_serves(&plugin);
}

#[test]
fn a_hundred_megabyte_output_is_refused() {
    let sandbox = sandbox();
    // Memory large enough to build the output, so the output cap is what refuses it.
    let limits = Limits { memory_bytes: 256 << 20, output_bytes: 4 << 20, deadline: GENEROUS, ..Limits::default() };
    let plugin = hostile(&sandbox, limits);
    let err = plugin.render(&input("huge")).err();
    assert!(
        matches!(err, Some(SandboxError::CopyBudgetExceeded { limit, .. }) if limit == (4 << 20) + berth::sandbox::COPY_SLACK_BYTES),
        "{err:?}"
    );
    assert_still_serves(&plugin);
}

#[test]
fn the_output_cap_also_holds_when_memory_is_the_tighter_bound() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    let err = plugin.render(&input("huge")).err();
    assert!(matches!(err, Some(SandboxError::MemoryExceeded { .. })), "{err:?}");
}

#[test]
fn too_many_objects_are_refused() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits { objects: 100, ..Limits::default() });
    let err = plugin.render(&input("many")).err();
    assert!(matches!(err, Some(SandboxError::TooManyObjects { limit: 100, actual: 5000, .. })), "{err:?}");
    assert_still_serves(&plugin);
}

#[test]
fn malformed_json_is_invalid_output() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    match plugin.render(&input("badjson")) {
        Err(SandboxError::InvalidOutput { reason, .. }) => {
            assert!(reason.contains("object 0"), "{reason}")
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
    assert_still_serves(&plugin);
}

#[test]
fn an_oversized_input_is_refused_before_the_plugin_runs() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits { input_bytes: 16, ..Limits::default() });
    let err = plugin.render(&input("good")).err();
    assert!(matches!(err, Some(SandboxError::InputTooLarge { limit: 16, .. })), "{err:?}");
}

#[test]
fn a_forbidden_import_is_refused_by_name() {
    let sandbox = sandbox();
    let wat = std::fs::read(test_plugins().join("forbidden-import.wat")).unwrap_or_else(|e| panic!("{e}"));
    let err = sandbox.load("forbidden-import.wat", &wat, None, Limits::default()).err();
    assert!(matches!(&err, Some(SandboxError::ForbiddenImport { name, .. }) if name == "wasi:http/outgoing-handler@0.2.6"), "{err:?}");
}

/// Files, sockets and names, reached for through Rust's std (which then imports
/// wasi:filesystem and wasi:sockets as componentize-py's Python does): every probe fails,
/// and the imports that a stub served are the ones `plugins inspect` marks.
#[test]
fn stubbed_filesystem_and_sockets_hold_nothing() {
    let sandbox = sandbox();
    let wasm = std::fs::read(test_plugins().join("berth_test_wasi_prober.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let plugin = sandbox.load("prober", &wasm, None, Limits::default()).unwrap_or_else(|e| panic!("loading the prober: {e}"));
    let stubbed = plugin.stubbed_imports();
    for interface in
        ["wasi:filesystem/preopens@", "wasi:filesystem/types@", "wasi:sockets/tcp-create-socket@", "wasi:sockets/ip-name-lookup@"]
    {
        assert!(stubbed.iter().any(|i| i.starts_with(interface)), "{interface} is not among the stubbed imports {stubbed:?}");
    }
    assert!(!stubbed.iter().any(|i| i.starts_with("wasi:cli/")), "{stubbed:?}");
    let out = plugin.render(&input("probe")).unwrap_or_else(|e| panic!("render: {e}"));
    let data = out.objects[0]["data"].as_object().cloned().unwrap_or_default();
    for probe in
        ["read-dir-root", "read-dir-cwd", "open-file", "write-file", "tcp-connect", "tcp-listen", "udp-bind", "name-lookup", "environment"]
    {
        let result = data.get(probe).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("no probe {probe} in {data:?}"));
        assert!(result.starts_with("denied: "), "{probe}: {result}");
    }
    // Sockets say why: access denied, not a network that happens to be down.
    for probe in ["tcp-connect", "tcp-listen", "udp-bind"] {
        assert!(data[probe].as_str().is_some_and(|r| r.contains("PermissionDenied")), "{probe}: {}", data[probe]);
    }
}

#[test]
fn another_contract_version_is_refused_naming_both() {
    let sandbox = sandbox();
    let wat = std::fs::read(test_plugins().join("wrong-contract.wat")).unwrap_or_else(|e| panic!("{e}"));
    match sandbox.load("wrong-contract.wat", &wat, None, Limits::default()) {
        Err(SandboxError::ContractMismatch { expected, found, .. }) => {
            assert_eq!(expected, berth::contract::RENDERER_INTERFACE);
            assert_eq!(found, "berth:plugin/renderer@0.1.0");
        }
        Err(other) => panic!("expected a contract mismatch, got {other}"),
        Ok(_) => panic!("a plugin of another contract version was loaded"),
    }
}

#[test]
fn a_digest_mismatch_is_refused_before_compiling() {
    let sandbox = sandbox();
    let wasm = std::fs::read(test_plugins().join("berth_test_hostile.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let wrong = Digest::of(b"something else");
    let err = sandbox.load("hostile", &wasm, Some(&wrong), Limits::default()).err();
    assert!(matches!(err, Some(SandboxError::DigestMismatch { .. })), "{err:?}");
    let right = Digest::of(&wasm);
    assert!(sandbox.load("hostile", &wasm, Some(&right), Limits::default()).is_ok());
}

#[test]
fn every_failure_in_a_row_leaves_the_runtime_serving() {
    let sandbox = sandbox();
    let limits = Limits { deadline: Duration::from_millis(50), memory_bytes: 64 << 20, ..Limits::default() };
    let plugin = hostile(&sandbox, limits);
    for bad in ["loop", "alloc", "panic", "huge", "badjson", "loop"] {
        assert!(plugin.render(&input(bad)).is_err(), "{bad} rendered");
    }
    assert_still_serves(&plugin);
}

#[test]
fn precompiled_artifacts_are_reused_and_tampering_is_caught() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secrets = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key_file = secrets.path().join("key");
    std::fs::write(&key_file, [7u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let key = CacheKey::File(key_file);
    let wasm = std::fs::read(test_plugins().join("berth_test_hostile.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let digest = Digest::of(&wasm);
    let first = Sandbox::with_cache_key(Default::default(), Some(cache.path()), &key).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = first.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);
    // Nothing in the cache directory but artifacts: no key to sign forgeries with.
    for entry in std::fs::read_dir(cache.path()).unwrap_or_else(|e| panic!("{e}")).filter_map(Result::ok) {
        assert!(entry.path().extension().is_some_and(|x| x == "cwasm"), "{} in the cache", entry.path().display());
    }

    // A new process with the deployer's key finds the artifact.
    let second = Sandbox::with_cache_key(Default::default(), Some(cache.path()), &key).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Cache);

    // Flip one byte of the artifact: it is not deserialized, it is recompiled.
    let artifact = artifact_in(cache.path());
    let mut bytes = std::fs::read(&artifact).unwrap_or_else(|e| panic!("{e}"));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);

    // A forgery: another plugin's artifact, validly signed by a host with another key,
    // put under this plugin's digest. It is rejected the same way.
    let other_cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let other = Sandbox::new(Default::default(), Some(other_cache.path())).unwrap_or_else(|e| panic!("{e}"));
    let portal = std::fs::read(test_plugins().join("berth_test_portal_next.wasm")).unwrap_or_else(|e| panic!("{e}"));
    other.component("portal", &portal, &Digest::of(&portal)).unwrap_or_else(|e| panic!("{e}"));
    let forged = std::fs::read(artifact_in(other_cache.path())).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&artifact, forged).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);

    // Without the deployer's key, each process signs with its own: a restart recompiles
    // rather than trust what it cannot verify.
    let ephemeral = Sandbox::new(Default::default(), Some(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = ephemeral.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);
    let (_, from) = ephemeral.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Cache);
}

#[test]
fn a_cache_key_inside_the_cache_or_too_short_is_refused() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let inside = cache.path().join("my.key");
    std::fs::write(&inside, [1u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let err = Sandbox::with_cache_key(Default::default(), Some(cache.path()), &CacheKey::File(inside)).err();
    assert!(matches!(&err, Some(SandboxError::UnsafeCache { reason, .. }) if reason.contains("inside the cache directory")), "{err:?}");
    let secrets = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let short = secrets.path().join("short.key");
    std::fs::write(&short, b"tiny").unwrap_or_else(|e| panic!("{e}"));
    let err = Sandbox::with_cache_key(Default::default(), Some(cache.path()), &CacheKey::File(short)).err();
    assert!(matches!(&err, Some(SandboxError::UnsafeCache { reason, .. }) if reason.contains("at least 32")), "{err:?}");
    // The key file an older version left in the cache is deleted, never used.
    std::fs::write(cache.path().join("cache.key"), [2u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    Sandbox::new(Default::default(), Some(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    assert!(!cache.path().join("cache.key").exists());
}

fn artifact_in(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap_or_else(|| panic!("no artifact written in {}", dir.display()))
}

/// Waiting in every way WASI offers ends at the deadline: the clock is virtual, so a
/// sleep returns at once and a wait loop spins in wasm, where the epoch stops it.
#[test]
fn sleeping_polling_and_spinning_in_host_calls_end_at_the_deadline() {
    let sandbox = sandbox();
    let budget = Duration::from_millis(200);
    // A sleep returns at once: the render completes well inside a deadline of minutes
    // instead of waiting the hour it asked for.
    let patient = hostile(&sandbox, Limits { deadline: GENEROUS, ..Limits::default() });
    let out = patient.render(&input("sleep-hour")).unwrap_or_else(|e| panic!("sleep-hour: {e}"));
    assert_eq!(out.objects[0]["metadata"]["name"], "slept");
    let plugin = hostile(&sandbox, Limits { deadline: budget, ..Limits::default() });
    for case in ["sleep-forever", "sleep-loop", "busy-wait", "spin-stdin", "spin-stderr", "spin-clock"] {
        let started = Instant::now();
        let err = plugin.render(&input(case)).err();
        let elapsed = started.elapsed();
        assert!(matches!(err, Some(SandboxError::Timeout { budget: b, .. }) if b == budget), "{case}: {err:?}");
        // Not a performance claim: a bound 150x the budget, so a wait the deadline cannot
        // interrupt fails this test instead of hanging it (the measured overrun is in the
        // README, from the hostile benchmark).
        assert!(elapsed < budget * 150, "{case} stopped only after {elapsed:?}");
        assert_still_serves(&plugin);
    }
}

#[test]
fn a_describe_that_sleeps_forever_fails_loading_at_its_deadline() {
    let sandbox = sandbox();
    let wasm = std::fs::read(test_plugins().join("berth_test_describe_sleeper.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let budget = Duration::from_millis(200);
    let err = sandbox.load("describe-sleeper", &wasm, None, Limits { deadline: budget, ..Limits::default() }).err();
    assert!(matches!(err, Some(SandboxError::Timeout { budget: b, .. }) if b == budget), "{err:?}");
    // The same runtime loads and runs a good plugin next.
    assert_still_serves(&hostile(&sandbox, Limits::default()));
}

#[test]
fn output_past_the_cap_is_never_copied_out_of_the_plugin() {
    let sandbox = sandbox();
    // Memory enough to build 100 MiB, an output cap of 1 MiB: the copy stops at the cap
    // plus the slack, long before wasmtime's own 128 MiB default.
    let limits = Limits { memory_bytes: 256 << 20, output_bytes: 1 << 20, deadline: GENEROUS, ..Limits::default() };
    let plugin = hostile(&sandbox, limits);
    let err = plugin.render(&input("huge")).err();
    assert!(
        matches!(err, Some(SandboxError::CopyBudgetExceeded { limit, .. }) if limit == (1 << 20) + berth::sandbox::COPY_SLACK_BYTES),
        "{err:?}"
    );
    assert_still_serves(&plugin);
}
