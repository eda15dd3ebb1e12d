//! No kubelet and no workload or Job controller run beside the test control plane, so the
//! end-to-end suites play them: a Job's pod and conditions, and workloads' status that
//! follows their spec. What the pods would run is proven elsewhere (against PostgreSQL
//! and Harbor's own binaries); these suites prove the orchestration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::operator::{eventually, fail, or_panic};

/// Waits for the Job to exist.
pub async fn wait_job(client: &Client, namespace: &str, name: &str) -> Job {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    or_panic(eventually(&format!("Job {name}"), || async { jobs.get_opt(name).await.ok()? }).await)
}

/// What the Job controller and kubelet would do for a Job that ran: with a `message`, a
/// pod whose `container` terminated with it (a backup's manifest), and the Job Complete.
pub async fn job_succeeded(client: &Client, namespace: &str, job: &str, container: &str, message: Option<&str>) {
    if let Some(message) = message {
        job_pod(client, namespace, job, container, 0, message).await;
    }
    job_status(
        client,
        namespace,
        job,
        json!({
            "startTime": "2026-11-30T03:00:00Z", "completionTime": "2026-11-30T03:01:00Z", "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2026-11-30T03:01:00Z"},
                {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-30T03:01:00Z"},
            ],
        }),
    )
    .await;
}

/// A Job whose pod failed: with a `message`, its `container` ended with it.
pub async fn job_failed(client: &Client, namespace: &str, job: &str, container: &str, message: Option<&str>) {
    if let Some(message) = message {
        job_pod(client, namespace, job, container, 1, message).await;
    }
    job_status(client, namespace, job, json!({
        "startTime": "2026-11-30T03:00:00Z", "failed": 1,
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2026-11-30T03:01:00Z"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2026-11-30T03:01:00Z"},
        ],
    }))
    .await;
}

async fn job_pod(client: &Client, namespace: &str, job: &str, container: &str, exit_code: i32, message: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let name = format!("{job}-x1");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"batch.kubernetes.io/job-name": job}},
        "spec": {"containers": [{"name": container, "image": "stand-in"}]},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    or_panic(pods.create(&PostParams::default(), &pod).await.map(drop).map_err(fail("pod")));
    let (phase, reason) = if exit_code == 0 { ("Succeeded", "Completed") } else { ("Failed", "Error") };
    let status = json!({"status": {"phase": phase, "containerStatuses": [{
        "name": container, "image": "stand-in", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": exit_code, "reason": reason, "message": message}},
    }]}});
    or_panic(pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.map(drop).map_err(fail("pod status")));
}

pub async fn job_status(client: &Client, namespace: &str, job: &str, status: Value) {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    or_panic(
        jobs.patch_status(job, &PatchParams::default(), &Patch::Merge(&json!({"status": status})))
            .await
            .map(drop)
            .map_err(fail("job status")),
    );
}

/// Sets a Deployment's status as its controller would with `ready` pods ready.
pub async fn set_ready(deployments: &Api<Deployment>, name: &str, ready: i32) {
    let status = json!({"status": {"replicas": ready, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": ready}});
    or_panic(
        deployments.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.map(drop).map_err(fail("deployment status")),
    );
}

/// Plays the Deployment and StatefulSet controllers and the kubelet for one namespace,
/// until dropped: every workload whose status does not yet reflect its spec gets the
/// status of all its replicas updated, ready and available (zero when scaled to zero).
pub struct Workloads {
    running: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Workloads {
    pub fn start(client: &Client, namespace: &str) -> Workloads {
        let running = Arc::new(AtomicBool::new(true));
        let (client, namespace, keep) = (client.clone(), namespace.to_owned(), running.clone());
        let task = tokio::spawn(async move {
            while keep.load(Ordering::SeqCst) {
                converge::<Deployment>(&client, &namespace).await;
                converge::<StatefulSet>(&client, &namespace).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Workloads { running, task: Some(task) }
    }

    /// Stops following: the workloads keep the status they have.
    pub async fn stop(mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Workloads {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

async fn converge<K>(client: &Client, namespace: &str)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else { return };
    for object in list.items {
        let Ok(value) = serde_json::to_value(&object) else { continue };
        let generation = value["metadata"]["generation"].as_i64().unwrap_or(0);
        let replicas = value["spec"]["replicas"].as_i64().unwrap_or(1);
        let status = &value["status"];
        let settled = status["observedGeneration"].as_i64() == Some(generation)
            && status["readyReplicas"].as_i64().unwrap_or(0) == replicas
            && status["replicas"].as_i64().unwrap_or(0) == replicas;
        if settled {
            continue;
        }
        let name = value["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let patch = json!({"status": {
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "updatedReplicas": replicas, "currentReplicas": replicas,
        }});
        let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    }
}
