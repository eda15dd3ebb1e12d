use berth_api::spec::HarborClusterSpec;
use berth_api::status::UpgradeStep;

use super::*;
use crate::controller::fixtures;
use crate::policy::{ClusterFacts, RenderPlan};

fn spec(version: &str, extra: serde_json::Value) -> HarborClusterSpec {
    let mut spec = serde_json::json!({"version": version, "externalURL": "https://harbor.example.com", "backup": {}});
    if let (Some(spec), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}"))
}

fn target_plan(spec: &HarborClusterSpec) -> RenderPlan {
    let labels = Default::default();
    fixtures::plugins().current().plan(&ClusterFacts { uid: fixtures::UID, labels: &labels, spec })
}

fn plan_for(running: &str, spec: &HarborClusterSpec) -> Result<Plan, Refusal> {
    plan(running, spec, &fixtures::plugins().current(), &target_plan(spec))
}

fn v(text: &str) -> Version {
    Version::parse(text).unwrap_or_else(|| panic!("{text}"))
}

#[test]
fn versions_parse_only_as_three_numbers() {
    assert_eq!(Version::parse("2.15.1"), Some(Version { major: 2, minor: 15, patch: 1 }));
    for bad in ["2.15", "v2.15.1", "2.15.1.0", "2..1", "2.15.x", ""] {
        assert_eq!(Version::parse(bad), None, "{bad}");
    }
    assert!(v("2.15.0") > v("2.14.9") && v("2.10.0") > v("2.9.3"), "numeric, not lexical");
}

#[test]
fn every_supported_pair_one_minor_or_a_patch_apart_has_the_full_plan() {
    let minors = berth_api::version::HARBOR_MINORS;
    for (i, from_minor) in minors.iter().enumerate() {
        for to_minor in &minors[i..(i + 2).min(minors.len())] {
            for (from, to) in [(format!("{from_minor}.0"), format!("{to_minor}.1")), (format!("{from_minor}.1"), format!("{to_minor}.2"))] {
                let planned = plan_for(&from, &spec(&to, serde_json::json!({}))).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                let steps: Vec<UpgradeStep> = planned.steps.iter().map(|s| s.step).collect();
                assert_eq!(
                    steps,
                    [
                        UpgradeStep::Preflight,
                        UpgradeStep::Backup,
                        UpgradeStep::Quiesce,
                        UpgradeStep::Migrate,
                        UpgradeStep::Roll,
                        UpgradeStep::HealthGate
                    ],
                    "{from} -> {to}"
                );
                assert!(planned.steps.iter().all(|s| !s.skipped));
                assert_eq!((planned.from, planned.to, planned.timeout_seconds), (v(&from), v(&to), 1800));
            }
        }
    }
}

#[test]
fn a_downgrade_is_refused_and_points_at_the_backup() {
    let refusal = plan_for("2.15.1", &spec("2.14.2", serde_json::json!({}))).err();
    assert!(matches!(refusal, Some(Refusal::Downgrade { .. })), "{refusal:?}");
    let refusal = plan_for("2.15.1", &spec("2.15.0", serde_json::json!({}))).err().map(|r| r.to_string()).unwrap_or_default();
    assert!(refusal.contains("forward-only") && refusal.contains("restore the backup taken before the upgrade"), "{refusal}");
}

#[test]
fn skipping_a_minor_is_refused_unless_allowed() {
    let refusal = plan_for("2.13.4", &spec("2.15.1", serde_json::json!({}))).err();
    assert_eq!(refusal.as_ref().map(Refusal::reason), Some("MinorVersionSkipped"));
    assert!(refusal.map(|r| r.to_string()).unwrap_or_default().contains("upgrade to 2.14 first"));
    let allowed = plan_for("2.13.4", &spec("2.15.1", serde_json::json!({"upgrade": {"allowSkippingMinors": true}})));
    assert!(allowed.is_ok(), "{allowed:?}");
    assert_eq!(check_versions(v("2.15.1"), v("3.0.0"), &Default::default()).err().map(|r| r.reason()), Some("MinorVersionSkipped"));
}

#[test]
fn a_target_no_plugin_renders_is_refused_naming_each_component_and_what_it_renders() {
    let spec = spec("2.16.0", serde_json::json!({}));
    let refusal = plan_for("2.15.1", &spec).err();
    let Some(Refusal::NoPlugin { missing, .. }) = &refusal else { panic!("{refusal:?}") };
    let components: Vec<&str> = missing.iter().map(|m| m.component.as_str()).collect();
    assert!(components.contains(&"core") && components.contains(&"registry"), "{components:?}");
    let core = missing.iter().find(|m| m.component == "core").map(|m| m.detail.clone()).unwrap_or_default();
    assert!(core.contains("berth-core") && core.contains("2.13, 2.14, 2.15") && core.contains("bundled"), "{core}");
}

#[test]
fn a_backup_needs_a_destination_unless_turned_off() {
    let mut no_backup = spec("2.15.1", serde_json::json!({}));
    no_backup.backup = None;
    assert_eq!(plan_for("2.14.2", &no_backup).err(), Some(Refusal::NoBackupDestination));
    no_backup.upgrade = Some(berth_api::spec::UpgradeSpec { backup: false, ..Default::default() });
    let planned = plan_for("2.14.2", &no_backup).unwrap_or_else(|e| panic!("{e}"));
    assert!(planned.steps.iter().any(|s| s.step == UpgradeStep::Backup && s.skipped));
    assert!(planned.to_string().contains("skipped (spec.upgrade.backup: false)"), "{planned}");
}

#[test]
fn a_bad_window_or_timeout_is_refused_naming_the_field() {
    let window = plan_for("2.14.2", &spec("2.15.1", serde_json::json!({"upgrade": {"window": "* 25 * * *"}}))).err();
    assert_eq!(window.as_ref().map(Refusal::reason), Some("InvalidSpec"));
    assert!(window.map(|r| r.to_string()).unwrap_or_default().starts_with("spec.upgrade.window"));
    let timeout = plan_for("2.14.2", &spec("2.15.1", serde_json::json!({"upgrade": {"timeout": "soon"}}))).err();
    assert!(timeout.map(|r| r.to_string()).unwrap_or_default().starts_with("spec.upgrade.timeout"));
    let running = plan_for("latest", &spec("2.15.1", serde_json::json!({}))).err();
    assert!(matches!(running, Some(Refusal::InvalidVersion { field: "status.version", .. })), "{running:?}");
}
