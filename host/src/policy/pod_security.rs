//! The Kubernetes *Restricted* Pod Security Standard, checked on every pod a plugin
//! returns (workload templates, CronJob job templates, bare Pods), plus what Restricted
//! leaves open and a Harbor pod never needs: a fixed `nodeName`, tolerating every taint,
//! and a service-account token. Each control has a name a PluginPolicy can relax for one
//! component (`relaxPodSecurity`); nothing is relaxed by default.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// One control, named as the Pod Security Standards name it (Berth's own three last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    HostNamespaces,
    Privileged,
    Capabilities,
    HostPathVolumes,
    VolumeTypes,
    HostPorts,
    AppArmor,
    SeLinux,
    ProcMount,
    Seccomp,
    Sysctls,
    PrivilegeEscalation,
    RunAsNonRoot,
    RunAsUser,
    NodeName,
    Tolerations,
    ServiceAccountToken,
}

impl Control {
    pub const ALL: [Control; 17] = [
        Control::HostNamespaces,
        Control::Privileged,
        Control::Capabilities,
        Control::HostPathVolumes,
        Control::VolumeTypes,
        Control::HostPorts,
        Control::AppArmor,
        Control::SeLinux,
        Control::ProcMount,
        Control::Seccomp,
        Control::Sysctls,
        Control::PrivilegeEscalation,
        Control::RunAsNonRoot,
        Control::RunAsUser,
        Control::NodeName,
        Control::Tolerations,
        Control::ServiceAccountToken,
    ];

    /// The name a policy uses to relax it.
    pub fn name(self) -> &'static str {
        match self {
            Control::HostNamespaces => "hostNamespaces",
            Control::Privileged => "privileged",
            Control::Capabilities => "capabilities",
            Control::HostPathVolumes => "hostPathVolumes",
            Control::VolumeTypes => "volumeTypes",
            Control::HostPorts => "hostPorts",
            Control::AppArmor => "appArmor",
            Control::SeLinux => "seLinux",
            Control::ProcMount => "procMount",
            Control::Seccomp => "seccomp",
            Control::Sysctls => "sysctls",
            Control::PrivilegeEscalation => "privilegeEscalation",
            Control::RunAsNonRoot => "runAsNonRoot",
            Control::RunAsUser => "runAsUser",
            Control::NodeName => "nodeName",
            Control::Tolerations => "tolerations",
            Control::ServiceAccountToken => "serviceAccountToken",
        }
    }

    pub fn from_name(name: &str) -> Option<Control> {
        Control::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A control a pod breaks, with the field that breaks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub control: Control,
    pub detail: String,
}

/// Volume sources Restricted allows (plus `image`, whose reference the image rule checks).
const ALLOWED_VOLUME_SOURCES: &[&str] =
    &["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret", "image"];
const ALLOWED_PROJECTED_SOURCES: &[&str] = &["configMap", "secret", "downwardAPI", "clusterTrustBundle"];
const ALLOWED_SELINUX_TYPES: &[&str] = &["container_t", "container_init_t", "container_kvm_t", "container_engine_t"];
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every pod spec in an object, with where it sits: `spec.template.spec` of workloads,
/// `spec.jobTemplate.spec.template.spec` of a CronJob, `spec` of a Pod.
pub fn pod_specs(object: &Map<String, Value>) -> Vec<(&'static str, &Value)> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let spec = object.get("spec");
    let found = match kind {
        "Pod" => spec.map(|s| ("spec", s)),
        "CronJob" => spec.and_then(|s| s.pointer("/jobTemplate/spec/template/spec")).map(|s| ("spec.jobTemplate.spec.template.spec", s)),
        _ => spec.and_then(|s| s.pointer("/template/spec")).map(|s| ("spec.template.spec", s)),
    };
    found.into_iter().collect()
}

/// Checks one pod spec; the first breach of a control not in `relaxed` is returned.
pub fn check_pod(pod: &Value, relaxed: &BTreeSet<Control>) -> Result<(), Breach> {
    let mut breaches = Vec::new();
    inspect(pod, &mut |control, detail| breaches.push(Breach { control, detail }));
    match breaches.into_iter().find(|b| !relaxed.contains(&b.control)) {
        Some(breach) => Err(breach),
        None => Ok(()),
    }
}

fn inspect(pod: &Value, breach: &mut dyn FnMut(Control, String)) {
    let truthy = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(true);
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if truthy(pod.get(field)) {
            breach(Control::HostNamespaces, format!("{field} is true"));
        }
    }
    if pod.get("nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
        breach(Control::NodeName, "nodeName pins the pod to a node, past the scheduler".to_owned());
    }
    for (i, toleration) in array(pod, "tolerations").enumerate() {
        let key = toleration.get("key").and_then(Value::as_str).unwrap_or_default();
        if key.is_empty() && toleration.get("operator").and_then(Value::as_str) == Some("Exists") {
            breach(Control::Tolerations, format!("tolerations[{i}] tolerates every taint"));
        }
    }
    if pod.get("automountServiceAccountToken").and_then(Value::as_bool) != Some(false) {
        breach(Control::ServiceAccountToken, "automountServiceAccountToken is not false".to_owned());
    }
    for (i, volume) in array(pod, "volumes").enumerate() {
        check_volume(i, volume, breach);
    }
    let pod_context = pod.get("securityContext").cloned().unwrap_or(Value::Null);
    for (i, sysctl) in array(&pod_context, "sysctls").enumerate() {
        let name = sysctl.get("name").and_then(Value::as_str).unwrap_or_default();
        breach(Control::Sysctls, format!("securityContext.sysctls[{i}] sets {name}"));
    }
    check_context("securityContext", &pod_context, breach);
    let pod_non_root = truthy(pod_context.get("runAsNonRoot"));
    let pod_seccomp = seccomp_ok(&pod_context);
    for list in CONTAINER_LISTS {
        for (i, container) in array(pod, list).enumerate() {
            let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
            let at = format!("{list}[{i}] ({name})");
            check_container(&at, container, pod_non_root, pod_seccomp, breach);
        }
    }
}

fn check_volume(i: usize, volume: &Value, breach: &mut dyn FnMut(Control, String)) {
    let Some(volume) = volume.as_object() else {
        return;
    };
    for source in volume.keys().filter(|k| *k != "name") {
        if source == "hostPath" {
            breach(Control::HostPathVolumes, format!("volumes[{i}] is a hostPath"));
        } else if !ALLOWED_VOLUME_SOURCES.contains(&source.as_str()) {
            breach(Control::VolumeTypes, format!("volumes[{i}] is of type {source}"));
        }
    }
    let projected = volume.get("projected").map(|p| array(p, "sources")).into_iter().flatten();
    for (j, source) in projected.enumerate() {
        for kind in source.as_object().into_iter().flat_map(|s| s.keys()) {
            if kind == "serviceAccountToken" {
                breach(Control::ServiceAccountToken, format!("volumes[{i}].projected.sources[{j}] mounts a service-account token"));
            } else if !ALLOWED_PROJECTED_SOURCES.contains(&kind.as_str()) {
                breach(Control::VolumeTypes, format!("volumes[{i}].projected.sources[{j}] is of type {kind}"));
            }
        }
    }
}

/// What the pod and each container's securityContext may never say.
fn check_context(at: &str, context: &Value, breach: &mut dyn FnMut(Control, String)) {
    if context.get("runAsUser").and_then(Value::as_i64) == Some(0) {
        breach(Control::RunAsUser, format!("{at}.runAsUser is 0 (root)"));
    }
    if context.get("runAsNonRoot").and_then(Value::as_bool) == Some(false) {
        breach(Control::RunAsNonRoot, format!("{at}.runAsNonRoot is false"));
    }
    if let Some(kind) = context.pointer("/seccompProfile/type").and_then(Value::as_str)
        && !matches!(kind, "RuntimeDefault" | "Localhost")
    {
        breach(Control::Seccomp, format!("{at}.seccompProfile.type is {kind}"));
    }
    if let Some(kind) = context.pointer("/appArmorProfile/type").and_then(Value::as_str)
        && !matches!(kind, "RuntimeDefault" | "Localhost")
    {
        breach(Control::AppArmor, format!("{at}.appArmorProfile.type is {kind}"));
    }
    if let Some(selinux) = context.get("seLinuxOptions") {
        let field = |f: &str| selinux.get(f).and_then(Value::as_str).unwrap_or_default();
        if !field("user").is_empty() || !field("role").is_empty() {
            breach(Control::SeLinux, format!("{at}.seLinuxOptions sets a user or role"));
        }
        if !field("type").is_empty() && !ALLOWED_SELINUX_TYPES.contains(&field("type")) {
            breach(Control::SeLinux, format!("{at}.seLinuxOptions.type is {}", field("type")));
        }
    }
}

fn check_container(at: &str, container: &Value, pod_non_root: bool, pod_seccomp: bool, breach: &mut dyn FnMut(Control, String)) {
    let context = container.get("securityContext").cloned().unwrap_or(Value::Null);
    let security = format!("{at}.securityContext");
    check_context(&security, &context, breach);
    if context.get("privileged").and_then(Value::as_bool) == Some(true) {
        breach(Control::Privileged, format!("{security}.privileged is true"));
    }
    if context.get("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false) {
        breach(Control::PrivilegeEscalation, format!("{security}.allowPrivilegeEscalation is not false"));
    }
    if !pod_non_root && context.get("runAsNonRoot").and_then(Value::as_bool) != Some(true) {
        breach(Control::RunAsNonRoot, format!("neither the pod nor {security} sets runAsNonRoot: true"));
    }
    if !pod_seccomp && !seccomp_ok(&context) {
        breach(Control::Seccomp, format!("neither the pod nor {security} sets seccompProfile RuntimeDefault or Localhost"));
    }
    if context.get("procMount").and_then(Value::as_str).is_some_and(|m| m != "Default") {
        breach(Control::ProcMount, format!("{security}.procMount is not Default"));
    }
    let capabilities = context.get("capabilities").cloned().unwrap_or(Value::Null);
    if !array(&capabilities, "drop").any(|c| c.as_str() == Some("ALL")) {
        breach(Control::Capabilities, format!("{security}.capabilities.drop does not include ALL"));
    }
    for added in array(&capabilities, "add").filter_map(Value::as_str) {
        if added != "NET_BIND_SERVICE" {
            breach(Control::Capabilities, format!("{security}.capabilities.add includes {added}"));
        }
    }
    for (j, port) in array(container, "ports").enumerate() {
        if port.get("hostPort").and_then(Value::as_i64).is_some_and(|p| p != 0) {
            breach(Control::HostPorts, format!("{at}.ports[{j}] sets a hostPort"));
        }
    }
}

fn seccomp_ok(context: &Value) -> bool {
    matches!(context.pointer("/seccompProfile/type").and_then(Value::as_str), Some("RuntimeDefault" | "Localhost"))
}

fn array<'v>(value: &'v Value, field: &str) -> impl Iterator<Item = &'v Value> {
    value.get(field).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod that meets every control, as the bundled plugins render them.
    fn restricted() -> Value {
        json!({
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10000, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "c", "configMap": {"name": "x"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "p"}}],
            "containers": [{"name": "app", "image": "i", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
        })
    }

    fn breach_of(pointer: &str, value: Value) -> Option<Control> {
        let mut pod = restricted();
        if let Some(slot) = pod.pointer_mut(pointer) {
            *slot = value;
        } else {
            let (parent, field) = pointer.rsplit_once('/').unwrap_or_default();
            if let Some(Value::Object(map)) = pod.pointer_mut(parent) {
                map.insert(field.to_owned(), value);
            }
        }
        check_pod(&pod, &BTreeSet::new()).err().map(|b| b.control)
    }

    #[test]
    fn a_restricted_pod_passes() {
        assert_eq!(check_pod(&restricted(), &BTreeSet::new()), Ok(()));
    }

    #[test]
    fn each_control_refuses_what_restricted_forbids() {
        let cases = [
            ("/hostNetwork", json!(true), Control::HostNamespaces),
            ("/hostPID", json!(true), Control::HostNamespaces),
            ("/hostIPC", json!(true), Control::HostNamespaces),
            ("/containers/0/securityContext/privileged", json!(true), Control::Privileged),
            ("/containers/0/securityContext/capabilities/add", json!(["SYS_ADMIN"]), Control::Capabilities),
            ("/containers/0/securityContext/capabilities/drop", json!(["NET_RAW"]), Control::Capabilities),
            ("/volumes/0", json!({"name": "root", "hostPath": {"path": "/"}}), Control::HostPathVolumes),
            ("/volumes/0", json!({"name": "n", "nfs": {"server": "s", "path": "/"}}), Control::VolumeTypes),
            ("/containers/0/ports", json!([{"containerPort": 80, "hostPort": 80}]), Control::HostPorts),
            ("/securityContext/appArmorProfile", json!({"type": "Unconfined"}), Control::AppArmor),
            ("/securityContext/seLinuxOptions", json!({"type": "spc_t"}), Control::SeLinux),
            ("/containers/0/securityContext/procMount", json!("Unmasked"), Control::ProcMount),
            ("/securityContext/seccompProfile", json!({"type": "Unconfined"}), Control::Seccomp),
            ("/securityContext/sysctls", json!([{"name": "kernel.msgmax", "value": "1"}]), Control::Sysctls),
            ("/containers/0/securityContext/allowPrivilegeEscalation", json!(true), Control::PrivilegeEscalation),
            ("/securityContext/runAsNonRoot", json!(false), Control::RunAsNonRoot),
            ("/securityContext/runAsUser", json!(0), Control::RunAsUser),
            ("/nodeName", json!("node-1"), Control::NodeName),
            ("/tolerations", json!([{"operator": "Exists"}]), Control::Tolerations),
            ("/automountServiceAccountToken", json!(true), Control::ServiceAccountToken),
            (
                "/volumes/0",
                json!({"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}),
                Control::ServiceAccountToken,
            ),
        ];
        for (pointer, value, control) in cases {
            assert_eq!(breach_of(pointer, value.clone()), Some(control), "{pointer} = {value}");
        }
    }

    #[test]
    fn init_and_ephemeral_containers_are_held_to_the_same_rules() {
        for list in ["initContainers", "ephemeralContainers"] {
            let mut pod = restricted();
            pod[list] = json!([{"name": "x", "image": "i", "securityContext": {"privileged": true,
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]);
            assert_eq!(check_pod(&pod, &BTreeSet::new()).err().map(|b| b.control), Some(Control::Privileged), "{list}");
        }
    }

    #[test]
    fn a_missing_setting_is_a_breach_and_a_relaxed_control_is_skipped() {
        let mut pod = restricted();
        pod["securityContext"] = json!({});
        let breach = check_pod(&pod, &BTreeSet::new()).err();
        assert_eq!(breach.as_ref().map(|b| b.control), Some(Control::RunAsNonRoot), "{breach:?}");
        let relaxed = BTreeSet::from([Control::RunAsNonRoot]);
        assert_eq!(check_pod(&pod, &relaxed).err().map(|b| b.control), Some(Control::Seccomp));
        let relaxed = BTreeSet::from([Control::RunAsNonRoot, Control::Seccomp]);
        assert_eq!(check_pod(&pod, &relaxed), Ok(()));
    }

    #[test]
    fn every_control_has_a_name_that_reads_back() {
        for control in Control::ALL {
            assert_eq!(Control::from_name(control.name()), Some(control));
        }
        assert_eq!(Control::from_name("everything"), None);
    }
}
