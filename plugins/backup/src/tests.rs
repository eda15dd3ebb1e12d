use berth_sdk::{BackupTask, RenderError, Renderer as _, RestoreTask, Task};
use serde_json::{Value, json};

use super::Backup;

fn spec(backup: Value) -> Value {
    json!({"version": "2.15.1", "externalURL": "https://harbor.example.com", "backup": backup})
}

fn objects(result: Result<berth_sdk::Rendered, RenderError>) -> Vec<Value> {
    let output = result.unwrap_or_else(|e| panic!("{e:?}")).into_output();
    output.objects.iter().map(|o| serde_json::from_str(o).unwrap()).collect()
}

fn backup_task() -> Task {
    Task::Backup(BackupTask { name: "nightly".into(), job_name: "demo-harbor-backup-nightly".into(), path: "registry/demo/nightly".into() })
}

fn restore_task() -> Task {
    Task::Restore(RestoreTask {
        name: "back".into(),
        job_name: "demo-harbor-restore-back".into(),
        path: "registry/demo/nightly".into(),
        dump_sha256: "a".repeat(64),
    })
}

fn env(container: &Value) -> Vec<(String, Value)> {
    container["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap().to_owned(), e.clone())).collect()
}

#[test]
fn without_spec_backup_nothing_is_rendered() {
    let request = berth_tests::plugin_request(json!({"version": "2.15.1", "externalURL": "https://h.example.com"}));
    assert!(objects(Backup::render(&request)).is_empty());
}

#[test]
fn a_volume_destination_gets_its_claim_and_an_existing_one_does_not() {
    let created = objects(Backup::render(&berth_tests::plugin_request(spec(json!({"destination": {"volume": {"size": "20Gi"}}})))));
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["kind"], "PersistentVolumeClaim");
    assert_eq!(created[0]["metadata"]["name"], "demo-harbor-backup");
    assert_eq!(created[0]["spec"]["resources"]["requests"]["storage"], "20Gi");
    let existing = berth_tests::plugin_request(spec(json!({"destination": {"volume": {"existingClaim": "kept"}}})));
    assert!(objects(Backup::render(&existing)).is_empty());
    let bucket = berth_tests::plugin_request(spec(json!({"destination": {"s3": {"bucket": "b"}}})));
    assert!(objects(Backup::render(&bucket)).is_empty());
}

#[test]
fn a_destination_must_be_exactly_one_and_a_schedule_five_fields() {
    let field = |backup: Value| match Backup::render(&berth_tests::plugin_request(spec(backup))) {
        Err(RenderError::InvalidSpec(e)) => e.field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(json!({})), "spec.backup.destination");
    assert_eq!(field(json!({"destination": {"volume": {}, "s3": {"bucket": "b"}}})), "spec.backup.destination");
    assert_eq!(field(json!({"schedule": "daily", "destination": {"volume": {}}})), "spec.backup.schedule");
    assert_eq!(field(json!({"destination": {"s3": {"bucket": "b", "prefix": "no-slash"}}})), "spec.backup.destination.s3.prefix");
}

#[test]
fn the_backup_job_dumps_with_the_rendered_connection_and_mounts_every_generated_secret() {
    let request = berth_tests::plugin_request(spec(json!({"destination": {"volume": {}}})));
    let jobs = objects(Backup::render_task(&request, &backup_task()));
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!((job["kind"].as_str(), job["metadata"]["name"].as_str()), (Some("Job"), Some("demo-harbor-backup-nightly")));
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "backup");
    assert_eq!(container["image"], "docker.io/goharbor/harbor-db:v2.15.1");
    assert_eq!(container["command"][2], crate::BACKUP_SCRIPT);
    let env = env(container);
    let value = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, e)| e["value"].clone()).unwrap_or(Value::Null);
    assert_eq!(value("PGHOST"), "demo-harbor-database");
    assert_eq!(value("PGDATABASE"), "registry");
    assert_eq!(value("BACKUP_PATH"), "registry/demo/nightly");
    assert_eq!(value("MANIFEST_MESSAGE_PATH"), "/dev/termination-log");
    let password = env.iter().find(|(n, _)| n == "PGPASSWORD").map(|(_, e)| e["valueFrom"]["secretKeyRef"].clone()).unwrap();
    assert_eq!(password, json!({"name": "demo-harbor-database", "key": "POSTGRES_PASSWORD"}));
    let secrets: Vec<&str> = pod["volumes"].as_array().unwrap().iter().filter_map(|v| v["secret"]["secretName"].as_str()).collect();
    assert_eq!(
        secrets,
        ["demo-harbor-core", "demo-harbor-jobservice", "demo-harbor-registry", "demo-harbor-registry-htpasswd", "demo-harbor-database"]
    );
    let claim = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "backup").unwrap();
    assert_eq!(claim["persistentVolumeClaim"]["claimName"], "demo-harbor-backup");
}

#[test]
fn a_bucket_backup_dumps_first_then_uploads_with_the_named_credentials() {
    let request = berth_tests::plugin_request(spec(json!({"destination": {"s3": {
        "bucket": "backups", "prefix": "harbor/", "endpoint": "https://minio.example.com", "existingSecret": "s3-creds"}}})));
    let job = &objects(Backup::render_task(&request, &backup_task()))[0];
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"][0]["name"], "backup");
    let upload = &pod["containers"][0];
    assert_eq!(upload["name"], "upload");
    assert_eq!(upload["image"], "docker.io/amazon/aws-cli:2.27.50");
    let env = env(upload);
    assert!(env.iter().any(|(n, e)| n == "S3_ENDPOINT" && e["value"] == "https://minio.example.com"));
    assert!(env.iter().any(|(n, e)| n == "AWS_SECRET_ACCESS_KEY" && e["valueFrom"]["secretKeyRef"]["name"] == "s3-creds"));
    let backup = pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "backup").unwrap();
    assert!(backup.get("emptyDir").is_some(), "{backup}");
}

#[test]
fn the_restore_job_checks_the_dump_it_was_given() {
    let request = berth_tests::plugin_request(spec(json!({"destination": {"volume": {}}})));
    let job = &objects(Backup::render_task(&request, &restore_task()))[0];
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "restore");
    assert_eq!(container["command"][2], crate::RESTORE_SCRIPT);
    assert!(env(container).iter().any(|(n, e)| n == "DUMP_SHA256" && e["value"] == "a".repeat(64)));
    let bad = Task::Restore(RestoreTask {
        name: "back".into(),
        job_name: "demo-harbor-restore-back".into(),
        path: "registry/demo/nightly".into(),
        dump_sha256: "x; rm -rf /".into(),
    });
    assert!(matches!(Backup::render_task(&request, &bad), Err(RenderError::Internal(_))));
}

#[test]
fn a_deletion_job_removes_one_backup_path_and_mounts_no_secret() {
    let request = berth_tests::plugin_request(spec(json!({"destination": {"volume": {}}})));
    let task = Task::Delete(berth_sdk::DeleteTask {
        name: "old".into(),
        job_name: "demo-harbor-backup-delete-old".into(),
        path: "registry/demo/old".into(),
    });
    let job = &objects(Backup::render_task(&request, &task))[0];
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][2], crate::DELETE_SCRIPT);
    let mounts: Vec<&str> = container["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    assert_eq!(mounts, ["/backup", "/tmp"]);
    let volumes = job["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    assert!(volumes.iter().all(|v| v.get("secret").is_none()), "{volumes:?}");
}

#[test]
fn a_snapshot_class_adds_a_volume_snapshot_of_the_registry_claim_to_a_backup() {
    let request = berth_tests::plugin_request(spec(json!({"destination": {"volume": {}}, "volumeSnapshotClass": "csi-snapshots"})));
    let objects = objects(Backup::render_task(&request, &backup_task()));
    assert_eq!(objects.len(), 2);
    let snapshot = &objects[1];
    assert_eq!(snapshot["kind"], "VolumeSnapshot");
    assert_eq!(snapshot["metadata"]["name"], "demo-harbor-backup-nightly-registry");
    assert_eq!(
        snapshot["spec"],
        json!({"volumeSnapshotClassName": "csi-snapshots", "source": {"persistentVolumeClaimName": "demo-harbor-registry"}})
    );
    // Only beside a backup, and only for blobs on a claim.
    assert_eq!(objects_of_restore(&request), 1);
    let s3 = berth_tests::plugin_request(json!({"version": "2.15.1", "externalURL": "https://h.example.com",
        "storage": {"type": "s3", "s3": {"bucket": "blobs", "region": "eu-west-1"}},
        "backup": {"destination": {"volume": {}}, "volumeSnapshotClass": "csi-snapshots"}}));
    match Backup::render_task(&s3, &backup_task()) {
        Err(RenderError::InvalidSpec(e)) => assert_eq!(e.field, "spec.backup.volumeSnapshotClass"),
        other => panic!("{other:?}"),
    }
}

fn objects_of_restore(request: &berth_sdk::RenderRequest) -> usize {
    objects(Backup::render_task(request, &restore_task())).len()
}

#[test]
fn a_task_for_a_cluster_without_backups_names_the_field() {
    let request = berth_tests::plugin_request(json!({"version": "2.15.1", "externalURL": "https://h.example.com"}));
    match Backup::render_task(&request, &backup_task()) {
        Err(RenderError::InvalidSpec(e)) => assert_eq!(e.field, "spec.backup"),
        other => panic!("{other:?}"),
    }
}
