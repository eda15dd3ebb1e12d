//! `berth upgrade plan` and `berth upgrade job`: an upgrade looked at offline, with the
//! same plan and the same migration Job the operator would make.

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::contract::{MigrateTask, Task};
use crate::controller::HarborCluster;
use crate::controller::backup::jobs;
use crate::policy::{ClusterFacts, Snapshot};
use crate::render::{ClusterRef, TaskRenderError, render_task_bundled};
use crate::upgrade_plan;

/// The plan's text, and whether the upgrade may go ahead. `to` defaults to the manifest's
/// spec.version, `running` to its status.version, else its spec.version.
pub fn plan(snapshot: &Snapshot, cluster: &HarborCluster, to: Option<&str>, running: Option<&str>) -> (String, bool) {
    let running = running.map(str::to_owned).unwrap_or_else(|| crate::controller::upgrade::running_version(cluster));
    let mut target = cluster.clone();
    if let Some(to) = to {
        target.spec.version = to.to_owned();
    }
    if target.spec.version == running {
        return (format!("{running} runs already: nothing to upgrade\n"), true);
    }
    let uid = cluster.metadata.uid.as_deref().unwrap_or_default();
    let no_labels = BTreeMap::new();
    let labels = cluster.metadata.labels.as_ref().unwrap_or(&no_labels);
    let target_plan = snapshot.plan(&ClusterFacts { uid, labels, spec: &target.spec });
    match upgrade_plan::plan(&running, &target.spec, snapshot, &target_plan) {
        Ok(plan) => {
            let plugins: Vec<String> = target_plan
                .components
                .iter()
                .filter_map(|(component, planned)| planned.as_ref().ok().map(|p| (component, p)))
                .map(|(component, p)| {
                    format!("  {component:<10} {} {} ({})", p.plugin.description().name, p.plugin.description().version, p.selection)
                })
                .collect();
            (format!("{plan}\nrendered at {} by:\n{}\n", plan.to, plugins.join("\n")), true)
        }
        Err(refusal) => (format!("{running} -> {}: refused ({}): {refusal}\n", target.spec.version, refusal.reason()), false),
    }
}

/// The migration Job to `to` as YAML, rendered by the bundled core plugin.
pub fn migration_job(
    catalog: &Catalog,
    cluster: &HarborCluster,
    default_namespace: &str,
    to: &str,
    from: Option<&str>,
) -> Result<String, MigrationJobError> {
    let name = cluster.metadata.name.as_deref().unwrap_or_default();
    let namespace = cluster.metadata.namespace.as_deref().unwrap_or(default_namespace);
    let from = from.unwrap_or(&cluster.spec.version).to_owned();
    let mut spec = cluster.spec.clone();
    spec.version = to.to_owned();
    let fullname =
        crate::topology::resolve(name, &spec).map_err(|e| MigrationJobError::Render(TaskRenderError::Cluster(e.into())))?.fullname;
    let job_name = jobs::job_name(&format!("{fullname}-core"), "migrate", &to.replace('.', "-"));
    let task = Task::Migrate(MigrateTask { from_version: from, job_name });
    let objects =
        render_task_bundled(catalog, &ClusterRef { name, namespace, uid: "", spec: &spec }, task).map_err(MigrationJobError::Render)?;
    serde_yaml::to_string(&objects.job.object).map_err(MigrationJobError::Yaml)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationJobError {
    #[error("rendering the migration Job failed")]
    Render(#[source] TaskRenderError),
    #[error("writing the Job as YAML failed")]
    Yaml(#[source] serde_yaml::Error),
}
