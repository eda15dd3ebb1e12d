//! Runs the containers of a rendered Job as local processes, the way the kubelet would run
//! them, from the rendered object and nothing re-typed: the tests of the backup and
//! restore Jobs run their real scripts against a real PostgreSQL (see `postgres.rs`).
//!
//! What is taken from the rendered Pod, as the kubelet takes it:
//! - the container's `command` + `args`, after the kubelet's `$(VAR)` expansion (`$$` is a
//!   literal `$`; an undefined `$(name)` stays as it is);
//! - its environment: cleared, then the image's `PATH` (the PostgreSQL binaries' directory,
//!   then `/usr/bin:/bin`: the harbor-db image has the client tools on its PATH), then each
//!   rendered variable in order: `value` (with `$(VAR)` expanded against the variables
//!   before it) or `valueFrom.secretKeyRef`, read from the Secrets the test hands in. A
//!   reference to a missing Secret or key that is not `optional` is an error, as is any
//!   other kind of `valueFrom` or an `envFrom` (nothing renders them today);
//! - its volume mounts: each volume is a directory on this machine that the caller names
//!   per volume (see [`pod_volume_dirs`]). `persistentVolumeClaim` and `emptyDir` volumes
//!   are used as they are; a `secret` volume's directory (which must be empty) is filled
//!   by the runner as the kubelet's atomic writer fills it: one entry per key of the
//!   Secret, a symlink through `..data` to a file of the volume's `defaultMode` (0644
//!   without one; the backup Jobs render 0440);
//! - the exit status, stdout and stderr (one stream, interleaved, as `kubectl logs` shows
//!   them) and the termination message: the first 4096 bytes of the file at
//!   `terminationMessagePath` (with `FallbackToLogsOnError`, the log's tail when a failed
//!   container left it empty).
//!
//! What stands in for the cluster: three substitutions, each recorded in
//! [`ContainerRun::substitutions`], all on environment values (scripts never re-type a
//! path or a host name; they read them from the environment), never on a value read from
//! a Secret (nor is one recorded):
//! 1. Paths. Processes here have no mount namespace, so an env value equal to a
//!    `mountPath`, or beginning with `mountPath + "/"`, is rewritten to the volume's
//!    directory (the longest `mountPath` wins). A value naming a directory that only holds
//!    mounts, such as `SECRETS_DIR=/berth/secrets` above the mounts
//!    `/berth/secrets/<secret>`, is rewritten to the runner's view of the container's
//!    filesystem: a directory where each `mountPath` is a symlink to its volume's directory.
//!    The process starts in that view's root (the image's working directory is not known).
//! 2. The database: `PGHOST` and `PGPORT` point to the throwaway server (127.0.0.1 and its
//!    port) instead of the rendered Service name (a stand-in for the cluster's DNS).
//! 3. The termination-message file: an env value equal to the container's
//!    `terminationMessagePath` (`/dev/termination-log`, which the backup Job renders as
//!    `MANIFEST_MESSAGE_PATH`) is rewritten to a temporary file, created empty as the
//!    kubelet creates it, whose content is returned as the termination message.
//!
//! Not emulated: the pod's user (processes run as the test's own user, not `runAsUser`
//! and `fsGroup`), `readOnly` mounts, resource limits, the Service environment variables
//! of `enableServiceLinks`, and the image's other environment (`HOME`, `PGDATA`, ...).
//! A process still running after [`Kubelet::deadline`] is killed with its process group
//! (the Job's `activeDeadlineSeconds`, in minutes rather than hours).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, Volume};
use serde_json::{Map, Value};

/// Secret name -> key -> value: the Secrets of the namespace the Pod runs in.
pub type Secrets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Where the kubelet reads a termination message from when the container names no path.
const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// The kubelet keeps at most this much of a container's termination message.
const MAX_TERMINATION_MESSAGE: usize = 4096;
/// With `FallbackToLogsOnError`: at most this many of the log's last lines and bytes.
const FALLBACK_LINES: usize = 80;
const FALLBACK_BYTES: usize = 2048;
/// The directory the runner makes for a secret volume's files, as the atomic writer's
/// timestamped one.
const SECRET_PAYLOAD_DIR: &str = "..berth_job_runner";

/// What stands in for the node and the cluster around one Pod.
pub struct Kubelet {
    /// The PostgreSQL binaries' directory: first on the image's PATH.
    pub pg_bin: PathBuf,
    /// Where `PGHOST` and `PGPORT` point instead of the rendered Service.
    pub database_host: String,
    pub database_port: u16,
    /// What `secretKeyRef` and `secret` volumes read.
    pub secrets: Secrets,
    /// Volume name -> the directory on this machine that is that volume.
    pub volumes: BTreeMap<String, PathBuf>,
    /// A container still running after this long is killed (with its process group).
    pub deadline: Duration,
}

/// One environment value the runner rewrote: the variable, its rendered value and the value
/// the process got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    pub variable: String,
    pub rendered: String,
    pub local: String,
}

/// How one container ran.
#[derive(Debug)]
pub struct ContainerRun {
    pub container: String,
    pub status: ExitStatus,
    /// stdout and stderr, interleaved as they were written.
    pub output: String,
    pub termination_message: String,
    pub substitutions: Vec<Substitution>,
    /// Killed at the deadline.
    pub timed_out: bool,
}

impl ContainerRun {
    pub fn succeeded(&self) -> bool {
        self.status.success() && !self.timed_out
    }
}

/// A directory per volume of `job`'s Pod: a `persistentVolumeClaim` volume is the claim's
/// directory in `claims` (claim name -> directory: the claim must be there, as a Pod waits
/// for its claim), an `emptyDir` or `secret` volume is `scratch/<volume name>`.
pub fn pod_volume_dirs(
    job: &Map<String, Value>,
    claims: &BTreeMap<String, PathBuf>,
    scratch: &Path,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let pod = pod_spec(job)?;
    let mut dirs = BTreeMap::new();
    for volume in pod.volumes.iter().flatten() {
        let dir = if let Some(claim) = &volume.persistent_volume_claim {
            claims
                .get(&claim.claim_name)
                .cloned()
                .ok_or_else(|| format!("volume {}: no directory for claim {}", volume.name, claim.claim_name))?
        } else if volume.empty_dir.is_some() || volume.secret.is_some() {
            scratch.join(&volume.name)
        } else {
            return Err(format!("volume {}: only persistentVolumeClaim, emptyDir and secret volumes are supported", volume.name));
        };
        dirs.insert(volume.name.clone(), dir);
    }
    Ok(dirs)
}

impl Kubelet {
    /// Runs the Pod of `job`: its init containers, then its containers, in order, stopping
    /// at the first that fails. The last run is the one that failed, if any did.
    pub fn run_pod(&self, job: &Map<String, Value>) -> Result<Vec<ContainerRun>, String> {
        let pod = pod_spec(job)?;
        self.prepare_volumes(&pod)?;
        let mut runs = Vec::new();
        for container in pod.init_containers.iter().flatten().chain(&pod.containers) {
            let run = self.exec(&pod, container)?;
            let failed = !run.succeeded();
            runs.push(run);
            if failed {
                break;
            }
        }
        Ok(runs)
    }

    /// Runs the one container (or init container) of `job` named `name`.
    pub fn run_container(&self, job: &Map<String, Value>, name: &str) -> Result<ContainerRun, String> {
        let pod = pod_spec(job)?;
        let container = pod
            .init_containers
            .iter()
            .flatten()
            .chain(&pod.containers)
            .find(|c| c.name == name)
            .ok_or_else(|| format!("the Job has no container {name}"))?;
        self.prepare_volumes(&pod)?;
        self.exec(&pod, container)
    }

    /// Makes every volume's directory, and fills each secret volume's.
    fn prepare_volumes(&self, pod: &PodSpec) -> Result<(), String> {
        for volume in pod.volumes.iter().flatten() {
            let dir = self.volume_dir(volume)?;
            std::fs::create_dir_all(dir).map_err(|e| format!("volume {}: {}: {e}", volume.name, dir.display()))?;
            if let Some(source) = &volume.secret {
                let name = source.secret_name.as_deref().ok_or_else(|| format!("volume {}: no secretName", volume.name))?;
                if source.items.is_some() {
                    return Err(format!("volume {}: secret items are not supported", volume.name));
                }
                let mode =
                    u32::try_from(source.default_mode.unwrap_or(0o644)).map_err(|e| format!("volume {}: defaultMode: {e}", volume.name))?;
                match self.secrets.get(name) {
                    Some(data) => {
                        fill_secret_volume(dir, data, mode).map_err(|e| format!("volume {} (Secret {name}): {e}", volume.name))?
                    }
                    None if source.optional == Some(true) => {}
                    None => return Err(format!("volume {}: Secret {name} does not exist", volume.name)),
                }
            }
        }
        Ok(())
    }

    fn volume_dir(&self, volume: &Volume) -> Result<&Path, String> {
        self.volumes.get(&volume.name).map(PathBuf::as_path).ok_or_else(|| format!("no directory was given for volume {}", volume.name))
    }

    fn exec(&self, pod: &PodSpec, container: &Container) -> Result<ContainerRun, String> {
        let what = format!("container {}", container.name);
        if container.env_from.is_some() {
            return Err(format!("{what}: envFrom is not supported"));
        }
        // The container's filesystem as far as its mounts go: <view>/<mountPath> -> volume.
        let scratch =
            tempfile::Builder::new().prefix("berth-job-runner-").tempdir().map_err(|e| format!("{what}: temporary directory: {e}"))?;
        let view = scratch.path().join("root");
        let mut mounts = Vec::new();
        for mount in container.volume_mounts.iter().flatten() {
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)
                .ok_or_else(|| format!("{what}: mount {} names no volume of the Pod", mount.mount_path))?;
            let mut dir = self.volume_dir(volume)?.to_path_buf();
            if let Some(sub) = mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                dir.push(sub);
            }
            let path = mount.mount_path.trim_end_matches('/');
            if !path.starts_with('/') || path.is_empty() || path.split('/').any(|part| part == "..") {
                return Err(format!("{what}: mountPath {:?} is not an absolute path below /", mount.mount_path));
            }
            let link = view.join(&path[1..]);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{what}: {}: {e}", parent.display()))?;
            }
            std::os::unix::fs::symlink(&dir, &link).map_err(|e| format!("{what}: {}: {e}", link.display()))?;
            mounts.push((path.to_owned(), dir));
        }
        let termination_path = container.termination_message_path.as_deref().unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
        let termination_file = scratch.path().join("termination-log");
        std::fs::write(&termination_file, b"").map_err(|e| format!("{what}: {}: {e}", termination_file.display()))?;

        // The environment, as the kubelet makes it, then the substitutions.
        let mut env: Vec<(String, OsString)> = Vec::new();
        let mut from_secrets = std::collections::BTreeSet::new();
        for var in container.env.iter().flatten() {
            if let Some(value) = self.env_value(var, &env).map_err(|e| format!("{what}: env {}: {e}", var.name))? {
                env.retain(|(name, _)| *name != var.name);
                env.push((var.name.clone(), value));
                if var.value_from.is_some() {
                    from_secrets.insert(var.name.clone());
                } else {
                    from_secrets.remove(&var.name);
                }
            }
        }
        let mut substitutions = Vec::new();
        for (name, value) in &mut env {
            let from_secret = from_secrets.contains(name);
            let text = match value.to_str() {
                Some(text) => text.to_owned(),
                None if from_secret => String::new(),
                None => continue,
            };
            let local = match name.as_str() {
                "PGHOST" => Some(self.database_host.clone()),
                "PGPORT" => Some(self.database_port.to_string()),
                // A Secret's value is no path of the container's, and is never recorded.
                _ if from_secret => None,
                _ if text == termination_path => Some(path_string(&termination_file)?),
                _ => translate_path(&text, &mounts, &view).map(|p| path_string(&p)).transpose()?,
            };
            if let Some(local) = local.filter(|local| *local != text) {
                let rendered = if from_secret { "(from a Secret)".to_owned() } else { text };
                substitutions.push(Substitution { variable: name.clone(), rendered, local: local.clone() });
                *value = OsString::from(local);
            }
        }

        let lookup = |name: &str| env.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_str().map(str::to_owned));
        let mut argv: Vec<String> =
            container.command.iter().flatten().chain(container.args.iter().flatten()).map(|a| expand(a, &lookup)).collect();
        if argv.is_empty() {
            return Err(format!("{what}: no command (the image's entrypoint is not known here)"));
        }
        let program = argv.remove(0);
        let cwd = match container.working_dir.as_deref() {
            Some(dir) => translate_path(dir, &mounts, &view).unwrap_or_else(|| PathBuf::from(dir)),
            None => view.clone(),
        };
        std::fs::create_dir_all(&view).map_err(|e| format!("{what}: {}: {e}", view.display()))?;

        // The image's environment, under the container's.
        let mut image_path = OsString::from(self.pg_bin.as_os_str());
        image_path.push(":/usr/bin:/bin");
        let image_env = [("PATH".to_owned(), image_path)].into_iter().filter(|(name, _)| env.iter().all(|(n, _)| n != name));
        let process_env: Vec<(String, OsString)> = image_env.chain(env.iter().cloned()).collect();

        let (mut reader, writer) = std::io::pipe().map_err(|e| format!("{what}: pipe: {e}"))?;
        let stderr = writer.try_clone().map_err(|e| format!("{what}: pipe: {e}"))?;
        let mut command = Command::new(&program);
        command.args(&argv).env_clear().envs(process_env).current_dir(&cwd).stdin(Stdio::null()).stdout(writer).stderr(stderr);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| format!("{what}: {program}: {e}"))?;
        // The Command holds the pipe's writing ends: dropped, the child's are the last.
        drop(command);

        let (done, stopped) = std::sync::mpsc::channel::<()>();
        let pid = child.id();
        let deadline = self.deadline;
        let watchdog = std::thread::spawn(move || {
            if stopped.recv_timeout(deadline) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                kill_group(pid);
                return true;
            }
            false
        });
        let mut bytes = Vec::new();
        // The output ends when the process group has closed it: at its end, or when the
        // watchdog killed it. The watchdog is stopped before the child is reaped, so it can
        // only ever signal the child's own group.
        let read = reader.read_to_end(&mut bytes);
        drop(done);
        let timed_out = watchdog.join().map_err(|_| format!("{what}: the watchdog thread panicked"))?;
        let status = child.wait().map_err(|e| format!("{what}: waiting for it: {e}"))?;
        read.map_err(|e| format!("{what}: reading its output: {e}"))?;
        let output = String::from_utf8_lossy(&bytes).into_owned();

        let mut message = std::fs::read(&termination_file).map_err(|e| format!("{what}: {}: {e}", termination_file.display()))?;
        message.truncate(MAX_TERMINATION_MESSAGE);
        let mut termination_message = String::from_utf8_lossy(&message).into_owned();
        if termination_message.is_empty()
            && container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError")
            && !status.success()
        {
            termination_message = log_tail(&output);
        }
        Ok(ContainerRun { container: container.name.clone(), status, output, termination_message, substitutions, timed_out })
    }

    /// One rendered variable's value, or None for a missing optional reference.
    fn env_value(&self, var: &EnvVar, before: &[(String, OsString)]) -> Result<Option<OsString>, String> {
        let Some(from) = &var.value_from else {
            let lookup = |name: &str| before.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_str().map(str::to_owned));
            return Ok(Some(OsString::from(expand(var.value.as_deref().unwrap_or_default(), &lookup))));
        };
        let Some(reference) = &from.secret_key_ref else {
            return Err("only valueFrom.secretKeyRef is supported".to_owned());
        };
        match self.secrets.get(&reference.name).map(|data| data.get(&reference.key)) {
            Some(Some(value)) => Ok(Some(OsString::from_vec(value.clone()))),
            _ if reference.optional == Some(true) => Ok(None),
            Some(None) => Err(format!("Secret {} has no key {}", reference.name, reference.key)),
            None => Err(format!("Secret {} does not exist", reference.name)),
        }
    }
}

fn pod_spec(job: &Map<String, Value>) -> Result<PodSpec, String> {
    let job: Job = serde_json::from_value(Value::Object(job.clone())).map_err(|e| format!("the rendered object is not a Job: {e}"))?;
    job.spec.and_then(|spec| spec.template.spec).ok_or_else(|| "the Job has no Pod template".to_owned())
}

/// The atomic writer's layout: `<key> -> ..data/<key>`, `..data -> <payload dir>`.
fn fill_secret_volume(dir: &Path, data: &BTreeMap<String, Vec<u8>>, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if entries.count() > 0 {
        return Err(format!("{} is not empty: give each run a fresh directory for a secret volume", dir.display()));
    }
    let payload = dir.join(SECRET_PAYLOAD_DIR);
    std::fs::create_dir(&payload).map_err(|e| format!("{}: {e}", payload.display()))?;
    for (key, value) in data {
        if key.is_empty() || key.starts_with("..") || key.contains('/') {
            return Err(format!("{key:?} is not a key the kubelet would project"));
        }
        let file = payload.join(key);
        std::fs::write(&file, value).map_err(|e| format!("{}: {e}", file.display()))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).map_err(|e| format!("{}: {e}", file.display()))?;
        std::os::unix::fs::symlink(Path::new("..data").join(key), dir.join(key))
            .map_err(|e| format!("{}: {e}", dir.join(key).display()))?;
    }
    std::os::unix::fs::symlink(SECRET_PAYLOAD_DIR, dir.join("..data")).map_err(|e| format!("{}: {e}", dir.join("..data").display()))
}

/// Substitution 1: a path of the container's filesystem as a path on this machine.
fn translate_path(value: &str, mounts: &[(String, PathBuf)], view: &Path) -> Option<PathBuf> {
    let under = |value: &str, dir: &str| value == dir || value.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
    if let Some((mount, dir)) = mounts.iter().filter(|(mount, _)| under(value, mount)).max_by_key(|(mount, _)| mount.len()) {
        let mut local = dir.clone().into_os_string();
        local.push(&value[mount.len()..]);
        return Some(PathBuf::from(local));
    }
    let holds_mounts = |dir: &str| dir.len() > 1 && mounts.iter().any(|(mount, _)| under(mount, dir));
    if value.starts_with('/') && holds_mounts(value.trim_end_matches('/')) {
        return Some(view.join(&value[1..]));
    }
    None
}

fn path_string(path: &Path) -> Result<String, String> {
    path.to_str().map(str::to_owned).ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// The kubelet's `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
/// `$$` is `$`, `$(name)` is the variable's value if it is defined and stays as it is if
/// not, and any other `$` is itself.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match (bytes[at], bytes.get(at + 1)) {
            (b'$', Some(b'$')) => {
                out.push(b'$');
                at += 2;
            }
            (b'$', Some(b'(')) => match bytes[at + 2..].iter().position(|b| *b == b')') {
                Some(length) => {
                    let name = &input[at + 2..at + 2 + length];
                    match lookup(name) {
                        Some(value) => out.extend_from_slice(value.as_bytes()),
                        None => out.extend_from_slice(&bytes[at..at + 3 + length]),
                    }
                    at += 3 + length;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    at += 2;
                }
            },
            (b'$', Some(next)) => {
                out.extend_from_slice(&[b'$', *next]);
                at += 2;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the kubelet keeps of a log as a fallback termination message.
fn log_tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let tail = lines[lines.len().saturating_sub(FALLBACK_LINES)..].join("\n");
    let mut start = tail.len().saturating_sub(FALLBACK_BYTES);
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    tail[start..].to_owned()
}

fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory preconditions. The group is the child's own (spawned
        // as the leader of a new process group), not reaped yet, so its id is not reused.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_is_the_kubelets() {
        let lookup = |name: &str| (name == "A").then(|| "x".to_owned());
        assert_eq!(expand("$(A)/$(B)/$$(A)/$x/$(/$", &lookup), "x/$(B)/$(A)/$x/$(/$");
        assert_eq!(expand("n=$(basename \"$f\")", &lookup), "n=$(basename \"$f\")");
    }

    #[test]
    fn paths_are_translated_below_a_mount_and_above_mounts() {
        let mounts =
            vec![("/backup".to_owned(), PathBuf::from("/local/b")), ("/berth/secrets/core".to_owned(), PathBuf::from("/local/s0"))];
        let view = Path::new("/view");
        assert_eq!(translate_path("/backup", &mounts, view), Some(PathBuf::from("/local/b")));
        assert_eq!(translate_path("/backup/x/y", &mounts, view), Some(PathBuf::from("/local/b/x/y")));
        assert_eq!(translate_path("/backups", &mounts, view), None);
        assert_eq!(translate_path("/berth/secrets", &mounts, view), Some(PathBuf::from("/view/berth/secrets")));
        assert_eq!(translate_path("/berth/secrets/core/k", &mounts, view), Some(PathBuf::from("/local/s0/k")));
        assert_eq!(translate_path("/", &mounts, view), None);
        assert_eq!(translate_path("registry/demo/b1", &mounts, view), None);
    }
}
