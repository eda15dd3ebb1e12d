//! Where a backup's files go: the claim mounted at /backup, or a bucket reached through
//! an emptyDir at /backup and the `aws` client.

use std::collections::BTreeMap;

use berth_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Volume};
use berth_sdk::spec::{BackupBucket, BackupSpec, VolumeSpec};
use berth_sdk::volume::DataVolume;
use berth_sdk::{RenderError, Topology};

/// Where backups of one cluster are written.
pub enum Destination<'s> {
    /// A claim: `<fullname>-backup`, or the spec's existing one.
    Volume {
        claim: String,
        existing: bool,
    },
    Bucket(&'s BackupBucket),
}

impl<'s> Destination<'s> {
    pub fn of(spec: &'s BackupSpec, topology: &Topology) -> Result<Self, RenderError> {
        match (&spec.destination.volume, &spec.destination.s3) {
            (Some(_), Some(_)) => Err(RenderError::invalid("spec.backup.destination", "sets both volume and s3; choose one")),
            (None, None) => Err(RenderError::invalid("spec.backup.destination", "sets neither volume nor s3; choose one")),
            (Some(volume), None) => match &volume.existing_claim {
                Some(claim) if claim.trim().is_empty() => Err(RenderError::invalid(
                    "spec.backup.destination.volume.existingClaim",
                    "must name a PersistentVolumeClaim, or be left out to create one",
                )),
                Some(claim) => Ok(Destination::Volume { claim: claim.clone(), existing: true }),
                None => Ok(Destination::Volume { claim: claim_name(topology), existing: false }),
            },
            (None, Some(bucket)) => {
                if bucket.bucket.trim().is_empty() {
                    return Err(RenderError::invalid("spec.backup.destination.s3.bucket", "must name a bucket"));
                }
                if !(bucket.prefix.is_empty() || bucket.prefix.ends_with('/')) {
                    return Err(RenderError::invalid("spec.backup.destination.s3.prefix", "must end with \"/\" (or be empty)"));
                }
                Ok(Destination::Bucket(bucket))
            }
        }
    }

    /// The claim the ordinary render creates, if Berth makes it: a data volume as every
    /// component's (the SDK checks the size), single-node.
    pub fn claim_to_create(
        &self,
        spec: &BackupSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<Option<PersistentVolumeClaim>, RenderError> {
        let (Destination::Volume { claim, existing: false }, Some(volume)) = (self, &spec.destination.volume) else {
            return Ok(None);
        };
        let mut wanted = VolumeSpec::sized(&volume.size);
        wanted.storage_class = volume.storage_class.clone();
        match berth_sdk::volume::data_volume(claim, labels, &wanted, "spec.backup.destination.volume")? {
            DataVolume::Template(claim) => Ok(Some(*claim)),
            DataVolume::Existing(_) => Ok(None),
        }
    }

    /// The pod volume mounted at /backup.
    pub fn volume(&self, name: &str) -> Volume {
        match self {
            Destination::Volume { claim, .. } => Volume {
                name: name.to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.clone(), read_only: None }),
                ..Volume::default()
            },
            Destination::Bucket(_) => Volume { name: name.to_owned(), empty_dir: Some(Default::default()), ..Volume::default() },
        }
    }
}

/// `<fullname>-backup`: the claim Berth creates for backups.
pub fn claim_name(topology: &Topology) -> String {
    format!("{}-backup", topology.fullname)
}
