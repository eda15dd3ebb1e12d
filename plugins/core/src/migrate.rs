//! The Job that migrates Harbor's database schema before an upgrade: the target version's
//! core image run as `harbor_core -mode=migrate`, which migrates and exits (the chart's
//! `core-pre-upgrade-job.yaml`). The host runs it while core and jobservice are stopped
//! and before any object of the target version is applied.

use berth_sdk::k8s::{self, HARBOR_UID};
use berth_sdk::k8s_openapi::api::batch::v1::{Job, JobSpec};
use berth_sdk::k8s_openapi::api::core::v1::{EnvVar, PodSpec, PodTemplateSpec};
use berth_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use berth_sdk::{MigrateTask, RenderError, RenderRequest};

use crate::config::{self, APP_CONF_KEY};
use crate::{COMPONENT, core_container, volumes};

const BINARY: &str = "/harbor/harbor_core";
/// A migration that has not finished in this long has hung (the chart lets core's
/// startup probe wait an hour for the migrations it runs at start; a Job gets twice that).
const DEADLINE_SECONDS: i64 = 2 * 3600;

pub fn job(req: &RenderRequest, task: &MigrateTask) -> Result<Job, RenderError> {
    if task.job_name.is_empty() {
        return Err(RenderError::Internal("the migrate task names no Job".to_owned()));
    }
    let topology = &req.topology;
    let core = topology.component(COMPONENT)?;
    let mut container = core_container(req, "migrate")?;
    container.command = Some(vec![BINARY.to_owned(), "-mode=migrate".to_owned()]);
    container.termination_message_policy = Some("FallbackToLogsOnError".to_owned());
    // The live core ConfigMap is still the old version's while this runs, so the target
    // version's non-secret settings go in as values rather than through envFrom; only
    // app.conf (the same for every version) is mounted from it.
    container.env_from = None;
    let settings = config::config_data(&req.spec, topology)?
        .into_iter()
        .filter(|(key, _)| key != APP_CONF_KEY)
        .map(|(name, value)| EnvVar { name, value: Some(value), ..EnvVar::default() });
    // Settings first: the Secret env after them may expand nothing from them, but core's
    // own Redis URLs expand $(REDIS_PASSWORD), defined in that later block.
    container.env = Some(settings.chain(container.env.take().unwrap_or_default()).collect());

    let mut pod = PodSpec {
        containers: vec![container],
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        security_context: Some(k8s::pod_security(HARBOR_UID)),
        volumes: Some(volumes(req)?),
        ..PodSpec::default()
    };
    k8s::apply_pod_settings(&mut pod, &req.spec.core, topology);
    // Not core's selector: no Service may send traffic to the migration's pod.
    let selector = core.selector();
    let mut pod_labels = core.labels();
    pod_labels.retain(|key, _| !selector.contains_key(key));
    pod_labels.insert("berth.dev/task".to_owned(), "migrate".to_owned());
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert("berth.dev/migrate-from".to_owned(), task.from_version.clone());
    annotations.insert("berth.dev/migrate-to".to_owned(), req.harbor_version.clone());
    let mut metadata = k8s::meta(&task.job_name, &core.labels());
    metadata.annotations = Some(annotations);
    Ok(Job {
        metadata,
        spec: Some(JobSpec {
            // A failed migration stops the upgrade; running it again is the operator's call.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(DEADLINE_SECONDS),
            template: PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(pod_labels), ..ObjectMeta::default() }), spec: Some(pod) },
            ..JobSpec::default()
        }),
        ..Job::default()
    })
}
