//! One HarborCluster through every enabled component's plugin, then the host's own
//! stamping: namespace forced, labels and audit annotations added, config checksums on
//! pod templates, and a stable order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_api::spec::HarborClusterSpec;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::catalog::Catalog;
use crate::contract::{ClusterIdentity, Condition, GeneratedSecret, RenderInput, Task, Topology};
use crate::policy::{ClusterFacts, Planned, RenderPlan, Scope, Selection, SelectionError, Snapshot, Violation};
use crate::sandbox::{Digest, SandboxError};
use crate::topology::{self, SpecError};

pub use crate::labels::{CLUSTER_LABEL, COMPONENT_LABEL};
/// Audit annotations naming what rendered an object: plugin name, version and digest.
pub const PLUGIN_ANNOTATION: &str = "berth.dev/plugin";
pub const PLUGIN_VERSION_ANNOTATION: &str = "berth.dev/plugin-version";
pub const PLUGIN_DIGEST_ANNOTATION: &str = "berth.dev/plugin-digest";

/// The HarborCluster being rendered.
#[derive(Debug, Clone)]
pub struct ClusterRef<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// Empty offline.
    pub uid: &'a str,
    pub spec: &'a HarborClusterSpec,
}

impl<'a> ClusterRef<'a> {
    /// The HarborCluster `hc` as a render sees it; offline it may have no namespace.
    pub fn of(hc: &'a berth_api::HarborCluster, default_namespace: &'a str) -> Self {
        ClusterRef {
            name: hc.metadata.name.as_deref().unwrap_or_default(),
            namespace: hc.metadata.namespace.as_deref().unwrap_or(default_namespace),
            uid: hc.metadata.uid.as_deref().unwrap_or_default(),
            spec: &hc.spec,
        }
    }
}

/// One object with the component that rendered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    pub component: String,
    pub object: Map<String, Value>,
}

impl RenderedObject {
    pub fn kind(&self) -> &str {
        self.object.get("kind").and_then(Value::as_str).unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.object.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default()
    }
}

/// What one component's render produced.
#[derive(Debug, Clone)]
pub struct ComponentRender {
    pub component: String,
    pub plugin: String,
    pub plugin_version: String,
    pub digest: Digest,
    /// Why this plugin version renders it for this cluster.
    pub selection: Selection,
    pub objects: Vec<RenderedObject>,
    pub secrets: Vec<GeneratedSecret>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(transparent)]
    Selection(#[from] SelectionError),
    #[error("component {component}: plugin {plugin}: {violation}")]
    Guardrail {
        component: String,
        plugin: String,
        /// Boxed: the error travels in every component's Result.
        #[source]
        violation: Box<Violation>,
    },
    #[error("component {component}: {source}")]
    Plugin {
        component: String,
        #[source]
        source: SandboxError,
    },
    #[error("component {component}: plugin {plugin} declared generated Secrets badly")]
    Secrets {
        component: String,
        plugin: String,
        #[source]
        source: crate::secrets::SecretError,
    },
    #[error("component {component}: invalid spec")]
    Spec {
        component: String,
        #[source]
        source: SpecError,
    },
    #[error("component {component}: the host's render thread panicked")]
    Panicked { component: String },
    #[error("component {component}: plugin {plugin} returned {kind}/{name}, which {others} also returned; neither is applied")]
    Conflict { component: String, plugin: String, kind: String, name: String, others: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterRenderError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("serialising the spec for the plugins failed")]
    Serialize(#[source] serde_json::Error),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretError),
}

/// The whole cluster's render: each component's result on its own, so one failing
/// component never stops the others (and never applies half of itself).
#[derive(Debug)]
pub struct ClusterRender {
    pub topology: Topology,
    pub components: Vec<(String, Result<ComponentRender, ComponentError>)>,
    /// Every Secret to generate once: the host's inventory plus what plugins declared.
    pub secrets: Vec<GeneratedSecret>,
    /// How long each component's plugin took, and how it ended, for metrics.
    pub timings: Vec<RenderTiming>,
}

/// One plugin render: which plugin, how it ended, how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderTiming {
    pub component: String,
    /// Plugin name and version; empty when no plugin renders the component.
    pub plugin: String,
    pub version: String,
    /// "ok", or the failure's stable reason (PluginTimeout, InvalidSpec, ...).
    pub outcome: &'static str,
    pub elapsed: Duration,
}

impl ComponentError {
    /// A short, stable label for metrics and Event reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            ComponentError::Selection(e) => e.reason(),
            ComponentError::Guardrail { .. } => "GuardrailViolation",
            ComponentError::Plugin { source, .. } => source.reason(),
            ComponentError::Panicked { .. } => "RenderPanicked",
            ComponentError::Conflict { .. } => "ObjectConflict",
            ComponentError::Secrets { .. } => "BadSecretDeclaration",
            ComponentError::Spec { .. } => "InvalidSpec",
        }
    }
}

impl ClusterRender {
    /// Every object of every component that rendered, in apply order.
    pub fn objects(&self) -> Vec<&RenderedObject> {
        let mut objects: Vec<&RenderedObject> =
            self.components.iter().filter_map(|(_, r)| r.as_ref().ok()).flat_map(|c| c.objects.iter()).collect();
        objects.sort_by(|a, b| apply_order(a).cmp(&apply_order(b)));
        objects
    }

    pub fn errors(&self) -> impl Iterator<Item = &ComponentError> {
        self.components.iter().filter_map(|(_, r)| r.as_ref().err())
    }
}

/// Renders every enabled component with the bundled plugins alone (no policy, no
/// labels): what `berth render` and the golden tests use.
pub fn render_cluster(catalog: &Catalog, cluster: &ClusterRef<'_>) -> Result<ClusterRender, ClusterRenderError> {
    let labels = BTreeMap::new();
    let plan = Snapshot::bundled(catalog).plan(&ClusterFacts { uid: cluster.uid, labels: &labels, spec: cluster.spec });
    render_planned(&plan, cluster)
}

/// Renders every component of the plan. Spec problems the host can see itself stop
/// everything; a plugin's failure is that component's alone.
pub fn render_planned(plan: &RenderPlan, cluster: &ClusterRef<'_>) -> Result<ClusterRender, ClusterRenderError> {
    let topology = topology::resolve(cluster.name, cluster.spec)?;
    if !crate::names::is_dns_label(cluster.namespace) {
        return Err(SpecError::new(
            "metadata.namespace",
            format!("{:?} is not a namespace name", crate::names::truncate(cluster.namespace, 64)),
        )
        .into());
    }
    let spec_value = serde_json::to_value(cluster.spec).map_err(ClusterRenderError::Serialize)?;
    crate::spec_checks::check(&spec_value, &generated_secret_names(&topology, cluster.spec))?;
    let input = plugin_input(cluster, topology.clone())?;

    let spec_images = spec_images(&spec_value);
    let rendered = render_in_parallel(&plan.components, |(component, planned)| {
        let started = Instant::now();
        let result = match planned {
            Ok(planned) => {
                let scope = guard_scope(component, &topology, cluster.spec, &spec_images);
                render_component(planned, component, &input, cluster, &scope, &spec_value)
            }
            Err(e) => Err(ComponentError::Selection(e.clone())),
        };
        let elapsed = started.elapsed();
        audit(cluster, component, planned.as_ref().ok(), &result, elapsed);
        (result, elapsed)
    });
    let timings = plan
        .components
        .iter()
        .zip(&rendered)
        .map(|((component, planned), (result, elapsed))| {
            let description = planned.as_ref().ok().map(|p| p.plugin.description());
            RenderTiming {
                component: component.clone(),
                plugin: description.map(|d| d.name.clone()).unwrap_or_default(),
                version: description.map(|d| d.version.clone()).unwrap_or_default(),
                outcome: result.as_ref().map_or_else(ComponentError::reason, |_| "ok"),
                elapsed: *elapsed,
            }
        })
        .collect();
    let rendered = rendered.into_iter().map(|(result, _)| result);
    // A name two components return belongs to neither: both fail, each naming the other.
    let rendered: Vec<_> = rendered.collect();
    let mut claims: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for ((component, _), result) in plan.components.iter().zip(&rendered) {
        for object in result.iter().flat_map(|r| &r.objects) {
            let plugin = result.as_ref().map(|r| format!("{}@{}", r.plugin, r.plugin_version)).unwrap_or_default();
            claims.entry((object.kind().to_owned(), object.name().to_owned())).or_default().push((component.clone(), plugin));
        }
    }
    let mut components = Vec::new();
    for ((component, _), result) in plan.components.iter().zip(rendered) {
        let result = result.and_then(|rendered| {
            for object in &rendered.objects {
                let key = (object.kind().to_owned(), object.name().to_owned());
                let others: Vec<String> = claims
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|(other, _)| other != component)
                    .map(|(other, plugin)| format!("{other} ({plugin})"))
                    .collect();
                if !others.is_empty() {
                    return Err(ComponentError::Conflict {
                        component: component.to_owned(),
                        plugin: format!("{}@{}", rendered.plugin, rendered.plugin_version),
                        kind: key.0,
                        name: key.1,
                        others: others.join(", "),
                    });
                }
            }
            Ok(rendered)
        });
        components.push((component.to_owned(), result));
    }
    let declared = components.iter().filter_map(|(_, r)| r.as_ref().ok()).flat_map(|c| c.secrets.iter().cloned());
    let secrets = crate::secrets::merge(crate::secrets::inventory(cluster.spec, &topology).into_iter().chain(declared))?;
    Ok(ClusterRender { topology, components, secrets, timings })
}

/// Why the Job of a backup, restore, deletion or migration could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TaskRenderError {
    #[error(transparent)]
    Cluster(#[from] ClusterRenderError),
    #[error("the cluster sets no spec.backup, so no backup component renders its Jobs")]
    NoBackupComponent,
    #[error("no enabled component {0} renders this task's Job")]
    NoComponent(&'static str),
    /// Boxed: a component error is large, and this travels in every task's Result.
    #[error(transparent)]
    Component(Box<ComponentError>),
    #[error(
        "component {component}: plugin {plugin} returned {found} for the task: a task is the one Job {job_name}, and for a backup at most a VolumeSnapshot beside it"
    )]
    NotTheJob { component: &'static str, plugin: String, job_name: String, found: String },
}

/// What a task renders: its Job, and for a backup the VolumeSnapshot of the registry's
/// claim when the spec asks for one.
#[derive(Debug)]
pub struct TaskObjects {
    pub job: RenderedObject,
    pub snapshot: Option<RenderedObject>,
}

/// The component that renders a task's Job, the Job's name, and whether a VolumeSnapshot
/// may come with it.
fn task_route(task: &Task) -> (&'static str, &str, bool) {
    match task {
        Task::Backup(t) => ("backup", &t.job_name, true),
        Task::Restore(t) => ("backup", &t.job_name, false),
        Task::Delete(t) => ("backup", &t.job_name, false),
        Task::Migrate(t) => ("core", &t.job_name, false),
    }
}

/// The one Job of a day-two task: a backup, a restore or a deletion of expired files
/// (rendered by the `backup` component's plugin of the plan) or an upgrade's schema
/// migration (by `core`'s), through the same sandbox, guardrails and stamp as every
/// other object. For a migration, `cluster.spec.version` is the target version.
pub fn render_task(plan: &RenderPlan, cluster: &ClusterRef<'_>, task: Task) -> Result<TaskObjects, TaskRenderError> {
    let (component, job_name, may_snapshot) = task_route(&task);
    let job_name = job_name.to_owned();
    let topology = topology::resolve(cluster.name, cluster.spec).map_err(ClusterRenderError::from)?;
    let spec_value = serde_json::to_value(cluster.spec).map_err(ClusterRenderError::Serialize)?;
    crate::spec_checks::check(&spec_value, &generated_secret_names(&topology, cluster.spec)).map_err(ClusterRenderError::from)?;
    let Some(planned) = plan.get(component) else {
        return Err(if component == "backup" { TaskRenderError::NoBackupComponent } else { TaskRenderError::NoComponent(component) });
    };
    let planned = planned.as_ref().map_err(|e| TaskRenderError::Component(Box::new(ComponentError::Selection(e.clone()))))?;
    let mut input = plugin_input(cluster, topology.clone())?;
    input.task = Some(task);
    let scope = guard_scope(component, &topology, cluster.spec, &spec_images(&spec_value));
    let started = Instant::now();
    let result = render_component(planned, component, &input, cluster, &scope, &spec_value);
    audit(cluster, component, Some(planned), &result, started.elapsed());
    let rendered = result.map_err(|e| TaskRenderError::Component(Box::new(e)))?;
    let plugin = format!("{}@{}", rendered.plugin, rendered.plugin_version);
    let found = rendered.objects.iter().map(|o| format!("{}/{}", o.kind(), o.name())).collect::<Vec<_>>().join(", ");
    let mut objects = rendered.objects.into_iter();
    let (first, second, rest) = (objects.next(), objects.next(), objects.next());
    match (first, second, rest) {
        (Some(job), snapshot, None)
            if job.kind() == "Job"
                && job.name() == job_name
                && snapshot.as_ref().is_none_or(|s| may_snapshot && s.kind() == "VolumeSnapshot") =>
        {
            Ok(TaskObjects { job, snapshot })
        }
        _ => Err(TaskRenderError::NotTheJob { component, plugin, job_name, found }),
    }
}

/// [`render_task`] with the bundled plugins alone: what the backup tests run.
pub fn render_task_bundled(catalog: &Catalog, cluster: &ClusterRef<'_>, task: Task) -> Result<TaskObjects, TaskRenderError> {
    let labels = BTreeMap::new();
    let plan = Snapshot::bundled(catalog).plan(&ClusterFacts { uid: cluster.uid, labels: &labels, spec: cluster.spec });
    render_task(&plan, cluster, task)
}

/// What every plugin receives for `cluster`: its identity, version, spec and topology.
pub fn plugin_input(cluster: &ClusterRef<'_>, topology: Topology) -> Result<RenderInput, ClusterRenderError> {
    Ok(RenderInput {
        cluster: ClusterIdentity { name: cluster.name.to_owned(), namespace: cluster.namespace.to_owned(), uid: cluster.uid.to_owned() },
        harbor_version: cluster.spec.version.clone(),
        spec_json: serde_json::to_string(cluster.spec).map_err(ClusterRenderError::Serialize)?,
        topology,
        task: None,
    })
}

/// Renders components on up to one thread per core. Each render is an independent
/// fresh instance, so a cluster's latency is its slowest few components, not their sum.
/// Results come back in the order of `components`, keeping the output deterministic.
fn render_in_parallel<T, F>(components: &[T], render: F) -> Vec<(Result<ComponentRender, ComponentError>, Duration)>
where
    T: Sync + ComponentName,
    F: Fn(&T) -> (Result<ComponentRender, ComponentError>, Duration) + Sync,
{
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(components.len());
    if workers <= 1 {
        return components.iter().map(&render).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<(Result<ComponentRender, ComponentError>, Duration)>> = components.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(component) = components.get(i) else {
                            return done;
                        };
                        done.push((i, render(component)));
                    }
                })
            })
            .collect();
        for handle in handles {
            // A render never panics (plugin faults are errors); a panicking worker's
            // components stay None and are reported below.
            if let Ok(done) = handle.join() {
                for (i, result) in done {
                    slots[i] = Some(result);
                }
            }
        }
    });
    slots
        .into_iter()
        .zip(components)
        .map(|(slot, component)| {
            slot.unwrap_or_else(|| (Err(ComponentError::Panicked { component: component.component_name().to_owned() }), Duration::ZERO))
        })
        .collect()
}

/// What the parallel renderer needs of an item: the component it renders.
trait ComponentName {
    fn component_name(&self) -> &str;
}

impl<P> ComponentName for (String, P) {
    fn component_name(&self) -> &str {
        &self.0
    }
}

/// The Secrets Berth generates for a cluster (never the user's own, such as an external
/// database's password).
fn generated_secret_names<'t>(topology: &'t Topology, spec: &HarborClusterSpec) -> Vec<&'t str> {
    let names = &topology.secrets;
    let mut generated = vec![names.core.as_str(), names.jobservice.as_str(), names.registry.as_str(), names.registry_htpasswd.as_str()];
    if spec.database.type_ == berth_api::spec::Placement::Internal {
        generated.push(topology.database.password.name.as_str());
    }
    generated
}

/// What the guardrails need of the cluster for one component: the names its objects may
/// take (the chart's, derived from the fullname), and the images it may pull.
fn guard_scope(component: &str, topology: &Topology, spec: &HarborClusterSpec, spec_images: &std::collections::BTreeSet<String>) -> Scope {
    let fullname = &topology.fullname;
    let mut names = vec![format!("{fullname}-{component}")];
    if let Some(bundled) = crate::components::bundled(component) {
        names.extend(bundled.name_suffixes.iter().map(|suffix| format!("{fullname}-{suffix}")));
        names.extend((bundled.named_by_spec)(spec).map(str::to_owned));
    }
    let mut host_secrets: Vec<String> = generated_secret_names(topology, spec).into_iter().map(str::to_owned).collect();
    host_secrets.push(topology.database.password.name.clone());
    host_secrets.push(topology.secrets.admin_password.name.clone());
    Scope {
        names,
        host_secrets,
        registries: vec![crate::policy::guardrails::source_prefix(&spec.image_source.registry, &spec.image_source.repository)],
        images: spec_images.clone(),
    }
}

/// Every image the spec names itself (a component's `image` override).
fn spec_images(spec: &Value) -> std::collections::BTreeSet<String> {
    fn walk(value: &Value, found: &mut std::collections::BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        Value::String(image) if key == "image" => {
                            found.insert(image.clone());
                        }
                        other => walk(other, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = std::collections::BTreeSet::new();
    walk(spec, &mut found);
    found
}

fn render_component(
    planned: &Planned,
    component: &str,
    input: &RenderInput,
    cluster: &ClusterRef<'_>,
    scope: &Scope,
    spec_value: &Value,
) -> Result<ComponentRender, ComponentError> {
    let plugin = &planned.plugin;
    let mut output = plugin.render(input).map_err(|source| ComponentError::Plugin { component: component.to_owned(), source })?;
    output.objects.iter_mut().for_each(strip_server_metadata);
    let description = plugin.description();
    // Before stamping: the namespace a plugin asked for is forced either way, but what
    // it returned is what the guardrails judge.
    planned.guardrails.check(&output.objects, scope).map_err(|violation| ComponentError::Guardrail {
        component: component.to_owned(),
        plugin: format!("{}@{}", description.name, description.version),
        violation: Box::new(violation),
    })?;
    let plugin_label = || format!("{}@{}", description.name, description.version);
    crate::spec_checks::check_env_overrides(&output.objects, spec_value)
        .map_err(|source| ComponentError::Spec { component: component.to_owned(), source })?;
    crate::secrets::validate_declarations(&output.secrets, |name| scope.may_declare(name)).map_err(|source| ComponentError::Secrets {
        component: component.to_owned(),
        plugin: plugin_label(),
        source,
    })?;
    crate::secrets::merge(output.secrets.iter().cloned()).map_err(|source| ComponentError::Secrets {
        component: component.to_owned(),
        plugin: plugin_label(),
        source,
    })?;
    let stamp = Stamp {
        cluster: cluster.name,
        namespace: cluster.namespace,
        component,
        plugin: &description.name,
        version: &description.version,
        digest: plugin.digest().to_string(),
    };
    let mut objects: Vec<RenderedObject> = output
        .objects
        .into_iter()
        .map(|mut object| {
            stamp.apply(&mut object);
            RenderedObject { component: component.to_owned(), object }
        })
        .collect();
    stamp_config_checksums(&mut objects);
    Ok(ComponentRender {
        component: component.to_owned(),
        plugin: description.name.clone(),
        plugin_version: description.version.clone(),
        digest: plugin.digest(),
        selection: planned.selection.clone(),
        objects,
        secrets: output.secrets,
        conditions: output.conditions,
    })
}

/// The audit line: one per component render, whatever its outcome.
fn audit(
    cluster: &ClusterRef<'_>,
    component: &str,
    planned: Option<&Planned>,
    result: &Result<ComponentRender, ComponentError>,
    elapsed: Duration,
) {
    let plugin = planned.map(|p| p.plugin.description());
    let name = plugin.map(|d| d.name.as_str()).unwrap_or_default();
    let version = plugin.map(|d| d.version.as_str()).unwrap_or_default();
    let digest = planned.map(|p| p.plugin.digest().to_string()).unwrap_or_default();
    let selection = planned.map(|p| p.selection.to_string()).unwrap_or_default();
    let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    match result {
        Ok(r) => tracing::info!(
            target: "berth::audit", cluster = cluster.name, namespace = cluster.namespace, component,
            plugin = name, version, digest, selection, elapsed_us, outcome = "ok", objects = r.objects.len(), "render"
        ),
        Err(e) => tracing::warn!(
            target: "berth::audit", cluster = cluster.name, namespace = cluster.namespace, component,
            plugin = name, version, digest, selection, elapsed_us, outcome = e.reason(), objects = 0usize,
            error = %crate::error_chain::error_chain(e), "render"
        ),
    }
}

/// Metadata only the API server or the host may set. A plugin's owner reference could
/// hand a data volume to the garbage collector (defeating `deletionPolicy: Retain`), a
/// finalizer could wedge deletion, and the rest is server state with no business in an
/// apply. Removed from every object a plugin returns, before anything looks at it.
const SERVER_METADATA: &[&str] = &[
    "ownerReferences",
    "finalizers",
    "managedFields",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
];

fn strip_server_metadata(object: &mut Map<String, Value>) {
    object.remove("status");
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in SERVER_METADATA {
            metadata.remove(*field);
        }
    }
}

/// What the host writes onto every object, whatever the plugin said.
struct Stamp<'a> {
    cluster: &'a str,
    namespace: &'a str,
    component: &'a str,
    plugin: &'a str,
    version: &'a str,
    digest: String,
}

impl Stamp<'_> {
    fn apply(&self, object: &mut Map<String, Value>) {
        let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(metadata) = metadata else {
            return;
        };
        metadata.insert("namespace".to_owned(), Value::String(self.namespace.to_owned()));
        let labels = object_map(metadata, "labels");
        for (key, value) in crate::labels::stamped(self.cluster, self.component) {
            labels.insert(key.to_owned(), Value::String(value.to_owned()));
        }
        let annotations = object_map(metadata, "annotations");
        annotations.insert(PLUGIN_ANNOTATION.to_owned(), Value::String(self.plugin.to_owned()));
        annotations.insert(PLUGIN_VERSION_ANNOTATION.to_owned(), Value::String(self.version.to_owned()));
        annotations.insert(PLUGIN_DIGEST_ANNOTATION.to_owned(), Value::String(self.digest.clone()));
    }
}

/// The map under `key`, created (or replaced, if it was not a map) as needed.
fn object_map<'m>(parent: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = parent.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Annotates each workload's pod template with a checksum of every ConfigMap and Secret
/// of this render that it consumes, so a change rolls exactly the pods that use it.
fn stamp_config_checksums(objects: &mut [RenderedObject]) {
    let mut checksums: BTreeMap<(String, String), String> = BTreeMap::new();
    for o in objects.iter() {
        let kind = o.kind();
        if kind == "ConfigMap" || kind == "Secret" {
            let mut hasher = Sha256::new();
            for field in ["data", "stringData", "binaryData"] {
                if let Some(value) = o.object.get(field) {
                    hasher.update(field.as_bytes());
                    hasher.update(value.to_string().as_bytes());
                }
            }
            checksums.insert((kind.to_owned(), o.name().to_owned()), hex::encode(hasher.finalize()));
        }
    }
    for o in objects.iter_mut() {
        if !matches!(o.kind(), "Deployment" | "StatefulSet" | "DaemonSet") {
            continue;
        }
        let Some(Value::Object(template)) = o.object.get_mut("spec").and_then(|s| s.get_mut("template")) else {
            continue;
        };
        let consumed = template.get("spec").map(consumed_configs).unwrap_or_default();
        let mut wanted = BTreeMap::new();
        for (kind, name) in consumed {
            if let Some(sum) = checksums.get(&(kind.clone(), name.clone())) {
                let prefix = if kind == "ConfigMap" { "configmap" } else { "secret" };
                wanted.insert(format!("{prefix}.checksum.berth.dev/{name}"), Value::String(sum.clone()));
            }
        }
        if wanted.is_empty() {
            continue;
        }
        let metadata = object_map(template, "metadata");
        object_map(metadata, "annotations").extend(wanted);
    }
}

/// (kind, name) of every ConfigMap and Secret a pod spec references.
fn consumed_configs(pod: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut push = |kind: &str, name: Option<&Value>| {
        if let Some(Value::String(name)) = name {
            found.push((kind.to_owned(), name.clone()));
        }
    };
    for volume in pod.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        push("ConfigMap", volume.get("configMap").and_then(|c| c.get("name")));
        push("Secret", volume.get("secret").and_then(|s| s.get("secretName")));
        for source in volume.pointer("/projected/sources").and_then(Value::as_array).into_iter().flatten() {
            push("ConfigMap", source.get("configMap").and_then(|c| c.get("name")));
            push("Secret", source.get("secret").and_then(|s| s.get("name")));
        }
    }
    for list in ["containers", "initContainers"] {
        for container in pod.get(list).and_then(Value::as_array).into_iter().flatten() {
            for from in container.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
                push("ConfigMap", from.get("configMapRef").and_then(|c| c.get("name")));
                push("Secret", from.get("secretRef").and_then(|s| s.get("name")));
            }
            for env in container.get("env").and_then(Value::as_array).into_iter().flatten() {
                push("ConfigMap", env.pointer("/valueFrom/configMapKeyRef/name"));
                push("Secret", env.pointer("/valueFrom/secretKeyRef/name"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The apply order of [`crate::components::KINDS`] (what others use first), then by
/// kind and name so the output is stable.
fn apply_order(o: &RenderedObject) -> (usize, &str, &str) {
    (crate::components::apply_rank(o.kind()), o.kind(), o.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_server_state_never_survive_from_a_plugin() {
        let Value::Object(mut object) = serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"},
            "metadata": {"name": "data", "labels": {"a": "b"}, "finalizers": ["x/y"], "uid": "u", "resourceVersion": "1",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "bait", "uid": "u2", "controller": true}],
                "managedFields": [], "generation": 3, "creationTimestamp": "2020-01-01T00:00:00Z",
                "deletionTimestamp": "2020-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0, "generateName": "g-"},
        }) else {
            unreachable!()
        };
        strip_server_metadata(&mut object);
        assert_eq!(
            Value::Object(object),
            serde_json::json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "labels": {"a": "b"}},
            })
        );
    }

    fn object(kind: &str, name: &str, extra: Value) -> RenderedObject {
        let mut map = Map::new();
        map.insert("kind".to_owned(), Value::String(kind.to_owned()));
        map.insert("metadata".to_owned(), serde_json::json!({"name": name}));
        if let Value::Object(extra) = extra {
            map.extend(extra);
        }
        RenderedObject { component: "c".to_owned(), object: map }
    }

    #[test]
    fn workloads_get_checksums_of_the_configs_they_consume_only() {
        let mut objects = vec![
            object("ConfigMap", "used", serde_json::json!({"data": {"a": "1"}})),
            object("ConfigMap", "unused", serde_json::json!({"data": {"b": "2"}})),
            object(
                "Deployment",
                "d",
                serde_json::json!({"spec": {"template": {"spec": {
                    "volumes": [{"name": "v", "configMap": {"name": "used"}}],
                    "containers": [{"name": "c"}]
                }}}}),
            ),
        ];
        stamp_config_checksums(&mut objects);
        let annotations = Value::Object(objects[2].object.clone()).pointer("/spec/template/metadata/annotations").cloned();
        let annotations = annotations.and_then(|a| a.as_object().cloned()).unwrap_or_default();
        assert_eq!(annotations.len(), 1);
        assert!(annotations.contains_key("configmap.checksum.berth.dev/used"));

        // A changed ConfigMap changes the checksum.
        let before = annotations["configmap.checksum.berth.dev/used"].clone();
        objects[0].object.insert("data".to_owned(), serde_json::json!({"a": "2"}));
        if let Some(Value::Object(t)) = objects[2].object.get_mut("spec").and_then(|s| s.pointer_mut("/template/metadata")) {
            t.remove("annotations");
        }
        stamp_config_checksums(&mut objects);
        let after = Value::Object(objects[2].object.clone())
            .pointer("/spec/template/metadata/annotations/configmap.checksum.berth.dev~1used")
            .cloned();
        assert_ne!(Some(before), after);
    }

    #[test]
    fn stamp_forces_namespace_and_labels() {
        let mut o = object("ConfigMap", "x", serde_json::json!({"metadata": {"name": "x", "namespace": "elsewhere", "labels": "bogus"}}));
        let stamp =
            Stamp { cluster: "demo", namespace: "ns", component: "portal", plugin: "p", version: "1", digest: "sha256:00".to_owned() };
        stamp.apply(&mut o.object);
        let o = Value::Object(o.object);
        assert_eq!(o.pointer("/metadata/namespace"), Some(&Value::String("ns".to_owned())));
        assert_eq!(o.pointer("/metadata/labels/berth.dev~1cluster"), Some(&Value::String("demo".to_owned())));
    }
}
