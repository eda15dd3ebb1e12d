//! What can stop a backup or restore reconcile (the controller retries with backoff).
//! A backup or restore that fails for a reason retrying cannot fix is not an error: it
//! is a Failed or Refused phase with the reason in status.

use crate::render::TaskRenderError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("Kubernetes API request failed: {context}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("rendering the Job of {what} failed")]
    Render {
        what: String,
        #[source]
        source: TaskRenderError,
    },
    #[error("the cluster's spec is invalid")]
    Spec(#[source] crate::topology::SpecError),
    #[error("serialising {what} failed")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("a blocking task did not finish")]
    Join(#[source] tokio::task::JoinError),
    #[error("Secret {namespace}/{name} does not exist yet: the HarborCluster has not been reconciled once")]
    SecretMissing { namespace: String, name: String },
    #[error("the record of backup {namespace}/{backup} is missing from the operator's namespace")]
    RecordMissing { namespace: String, backup: String },
    #[error("the {0} has no {1}")]
    MissingMetadata(&'static str, &'static str),
}

impl BackupError {
    pub(crate) fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Kube { context, source }
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
