//! `berth backup list` and `berth backup describe`: what a backup holds, from its status
//! and the manifest its Job wrote, for a person deciding what to restore.

use std::fmt::Write as _;

use berth_api::backup::HarborBackup;
use kube::ResourceExt as _;

/// One line per backup, newest first: name, cluster, phase, size, completion, location.
pub fn list(backups: &[HarborBackup]) -> String {
    let mut backups: Vec<&HarborBackup> = backups.iter().collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    let rows: Vec<[String; 6]> = backups
        .iter()
        .map(|b| {
            let status = b.status.clone().unwrap_or_default();
            [
                b.name_any(),
                b.spec.cluster.clone(),
                status.phase.as_str().to_owned(),
                status.size.unwrap_or_else(|| "-".to_owned()),
                status.completion_time.unwrap_or_else(|| "-".to_owned()),
                status.location.unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let header = ["NAME", "CLUSTER", "PHASE", "SIZE", "COMPLETED", "LOCATION"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:width$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// Everything the backup's status and manifest say, as a person reads it.
pub fn describe(backup: &HarborBackup) -> String {
    let status = backup.status.clone().unwrap_or_default();
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: Option<String>| {
        let _ = writeln!(out, "{:<16}{}", format!("{name}:"), value.unwrap_or_else(|| "-".to_owned()));
    };
    field(&mut out, "Name", Some(backup.name_any()));
    field(&mut out, "Namespace", backup.namespace());
    field(&mut out, "Cluster", Some(backup.spec.cluster.clone()));
    field(&mut out, "Phase", Some(status.phase.as_str().to_owned()));
    field(&mut out, "Started", status.start_time.clone());
    field(&mut out, "Completed", status.completion_time.clone());
    field(&mut out, "Location", status.location.clone());
    field(&mut out, "Job", status.job.clone());
    field(&mut out, "Size", status.size.clone());
    field(&mut out, "Blobs", status.blobs.clone());
    for condition in &status.conditions {
        field(&mut out, "Condition", Some(format!("{}={} {}: {}", condition.type_, condition.status, condition.reason, condition.message)));
    }
    match &status.manifest {
        None => {
            let _ = writeln!(out, "Manifest:       none yet (written when the backup completes)");
        }
        Some(manifest) => {
            field(&mut out, "Harbor", Some(manifest.harbor_version.clone()));
            field(&mut out, "Database", Some(format!("{} (PostgreSQL {})", manifest.database, manifest.server_version)));
            field(
                &mut out,
                "Verified",
                Some(if manifest.verified { "yes: pg_restore --list read the dump back" } else { "no" }.to_owned()),
            );
            let _ = writeln!(out, "Files:");
            for file in &manifest.files {
                let _ = writeln!(out, "  {:<48} {:>12}  sha256:{}", file.name, file.size, file.sha256);
            }
            let _ = writeln!(
                out,
                "Restore with:   a HarborRestore naming backup {} (see the README, \"Backups and disaster recovery\")",
                backup.name_any()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::backup::{BackupFile, BackupManifest, BackupPhase, HarborBackupSpec, HarborBackupStatus};

    fn backup() -> HarborBackup {
        let mut b = HarborBackup::new("nightly", HarborBackupSpec { cluster: "demo".to_owned() });
        b.status = Some(HarborBackupStatus {
            phase: BackupPhase::Complete,
            size: Some("1.2 MiB".to_owned()),
            location: Some("pvc/demo-harbor-backup/registry/demo/nightly".to_owned()),
            manifest: Some(BackupManifest {
                format: 1,
                harbor_version: "2.15.1".to_owned(),
                database: "registry".to_owned(),
                server_version: "15.18".to_owned(),
                verified: true,
                files: vec![BackupFile { name: "database.dump".to_owned(), size: 1234, sha256: "ab".repeat(32) }],
            }),
            ..HarborBackupStatus::default()
        });
        b
    }

    #[test]
    fn list_and_describe_show_what_a_backup_holds() {
        let listed = list(&[backup()]);
        assert!(listed.starts_with("NAME"), "{listed}");
        assert!(listed.contains("nightly") && listed.contains("Complete") && listed.contains("1.2 MiB"), "{listed}");
        let described = describe(&backup());
        for expected in ["Phase:          Complete", "database.dump", "1234", "sha256:abab", "PostgreSQL 15.18", "Verified:       yes"] {
            assert!(described.contains(expected), "{expected} missing from:\n{described}");
        }
    }
}
