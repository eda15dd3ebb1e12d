//! The sandbox against purpose-built bad plugins: each misbehaviour yields its own typed
//! error within its budget, and the same runtime then serves the next good render.

use std::time::{Duration, Instant};

use berth::sandbox::{Digest, Limits, LoadedFrom, Plugin, Sandbox, SandboxError};
use berth_sdk::contract::{ClusterIdentity, RenderInput};
use berth_tests::{sandbox, test_plugins};

fn input(cluster: &str) -> RenderInput {
    RenderInput {
        cluster: ClusterIdentity { name: cluster.to_owned(), namespace: "ns".to_owned(), uid: String::new() },
        harbor_version: "2.15.1".to_owned(),
        spec_json: r#"{"version":"2.15.1","externalURL":"https://h.example.com"}"#.to_owned(),
        topology_json: "{}".to_owned(),
    }
}

fn hostile(sandbox: &Sandbox, limits: Limits) -> Plugin {
    let wasm = std::fs::read(test_plugins().join("berth_test_hostile.wasm")).unwrap_or_else(|e| panic!("{e}"));
    sandbox.load("hostile", &wasm, None, limits).unwrap_or_else(|e| panic!("loading the hostile plugin: {e}"))
}

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
    let limits = Limits { memory_bytes: 256 << 20, output_bytes: 4 << 20, ..Limits::default() };
    let plugin = hostile(&sandbox, limits);
    let err = plugin.render(&input("huge")).err();
    assert!(
        matches!(err, Some(SandboxError::OutputTooLarge { limit, actual, .. }) if limit == 4 << 20 && actual > 100 << 20),
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
        Err(SandboxError::InvalidOutput { reason, .. }) => assert!(reason.contains("object 0"), "{reason}"),
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
    assert!(
        matches!(&err, Some(SandboxError::ForbiddenImport { name, .. }) if name == "wasi:filesystem/preopens@0.2.6"),
        "{err:?}"
    );
}

#[test]
fn another_contract_version_is_refused_naming_both() {
    let sandbox = sandbox();
    let wat = std::fs::read(test_plugins().join("wrong-contract.wat")).unwrap_or_else(|e| panic!("{e}"));
    match sandbox.load("wrong-contract.wat", &wat, None, Limits::default()) {
        Err(SandboxError::ContractMismatch { expected, found, .. }) => {
            assert_eq!(expected, "berth:plugin/renderer@0.1.0");
            assert_eq!(found, "berth:plugin/renderer@0.0.1");
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
    let wasm = std::fs::read(test_plugins().join("berth_test_hostile.wasm")).unwrap_or_else(|e| panic!("{e}"));
    let digest = Digest::of(&wasm);
    let first = Sandbox::new(Default::default(), Some(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = first.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);

    // A new process (a new sandbox) finds the artifact.
    let second = Sandbox::new(Default::default(), Some(cache.path())).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Cache);

    // Flip one byte of the artifact: it is not deserialized, it is recompiled.
    let artifact = std::fs::read_dir(cache.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap_or_else(|| panic!("no artifact written"));
    let mut bytes = std::fs::read(&artifact).unwrap_or_else(|e| panic!("{e}"));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);

    // An artifact signed with another host's key is rejected the same way.
    let other_cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let other = Sandbox::new(Default::default(), Some(other_cache.path())).unwrap_or_else(|e| panic!("{e}"));
    other.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    let foreign = std::fs::read(other_cache.path().join(artifact.file_name().unwrap_or_default()))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&artifact, foreign).unwrap_or_else(|e| panic!("{e}"));
    let (_, from) = second.component("hostile", &wasm, &digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, LoadedFrom::Compiled);
}
