//! A workload's data volume, as the chart persists it: a volumeClaimTemplate, or the
//! user's existing claim mounted as a plain volume.

use std::collections::BTreeMap;

use crate::RenderError;
use crate::api::spec::VolumeSpec;
use crate::k8s;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The label that carries the Harbor version (the host's cluster labels).
const VERSION_LABEL: &str = "app.kubernetes.io/version";

/// Where the pod's data volume comes from.
pub enum DataVolume {
    /// A claim per pod, created by the StatefulSet.
    Template(Box<PersistentVolumeClaim>),
    /// The user's claim, mounted as a pod volume.
    Existing(Box<Volume>),
}

/// The data volume `name` for `volume`, refusing a size Kubernetes would reject.
pub fn data_volume(name: &str, labels: &BTreeMap<String, String>, volume: &VolumeSpec, field: &str) -> Result<DataVolume, RenderError> {
    if let Some(claim) = &volume.existing_claim {
        if claim.trim().is_empty() {
            return Err(RenderError::invalid(
                format!("{field}.existingClaim"),
                "must name a PersistentVolumeClaim, or be left out to create one",
            ));
        }
        return Ok(DataVolume::Existing(Box::new(Volume {
            name: name.to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.clone(), read_only: None }),
            ..Volume::default()
        })));
    }
    check_quantity(&volume.size, &format!("{field}.size"))?;
    // A StatefulSet's claim templates never change once created, so their labels leave
    // out what changes with an upgrade (the Harbor version).
    let mut labels = labels.clone();
    labels.remove(VERSION_LABEL);
    Ok(DataVolume::Template(Box::new(PersistentVolumeClaim {
        metadata: k8s::meta(name, &labels),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![volume.access_mode.as_str().to_owned()]),
            // The chart's convention: "-" asks for no StorageClass at all, not the default.
            storage_class_name: volume.storage_class.as_ref().map(|class| if class == "-" { String::new() } else { class.clone() }),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(volume.size.clone()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })))
}

/// Refuses what is plainly not a Kubernetes quantity ("5Gi", "512Mi", "1e9"), so the
/// user hears about it here rather than from a rejected apply.
pub fn check_quantity(value: &str, field: &str) -> Result<(), RenderError> {
    let number_end = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_end);
    let exponent = suffix.strip_prefix(['e', 'E']).is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    let unit = matches!(suffix, "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E");
    let has_digit = number.chars().any(|c| c.is_ascii_digit());
    if has_digit && number.matches('.').count() <= 1 && (unit || exponent) {
        Ok(())
    } else {
        Err(RenderError::invalid(field, format!("{value:?} is not a size; use a Kubernetes quantity such as \"5Gi\"")))
    }
}
