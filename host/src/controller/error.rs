//! The controller's one error type. Every variant keeps its source so a log line or an
//! Event can show the whole chain; `metric_label` names the variant for a metric.

use crate::render::ClusterRenderError;
use crate::secrets::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {context}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    /// Boxed to break the type cycle (the finalizer error wraps this enum).
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the HarborCluster has no {0}")]
    MissingMetadata(&'static str),
    #[error("rendering failed")]
    Render(#[source] ClusterRenderError),
    #[error("generating Secret values failed")]
    Secret(#[source] SecretError),
    #[error("Secret {name} belongs to HarborCluster {owner} of this namespace; rename one of the two clusters so their fullnames differ")]
    ForeignSecret { name: String, owner: String },
    /// Taking over a Helm release's Secrets (or finding one without `spec.adopt`) failed.
    #[error("taking over the chart's Secrets failed")]
    Adopt(#[source] super::adopt::secrets::AdoptError),
    #[error("serialising {what} failed")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A blocking task (render, key generation) panicked or was cancelled.
    #[error("a blocking task did not finish")]
    Join(#[source] tokio::task::JoinError),
    /// Creating an upgrade's migration Job failed for a reason a retry may fix.
    #[error("creating the upgrade's migration Job failed")]
    Upgrade(#[source] Box<crate::controller::backup::error::BackupError>),
    /// Some components failed (render or apply); status and Events name them. Returned
    /// after status is written so the controller requeues with backoff.
    #[error("{} component(s) failed: {}", .0.len(), .0.join(", "))]
    ComponentsFailed(Vec<String>),
}

impl Error {
    pub(crate) fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let context = context.into();
        move |source| Error::Kube { context, source }
    }

    /// A short, bounded label for a `failures{error=…}` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e.metric_label(),
                _ => "finalizer",
            },
            Error::MissingMetadata(_) => "missing_metadata",
            Error::Render(_) => "render",
            Error::Secret(_) | Error::ForeignSecret { .. } => "secret",
            Error::Adopt(_) => "adopt",
            Error::Serialize { .. } => "serialize",
            Error::Join(_) => "join",
            Error::ComponentsFailed(_) => "components_failed",
            Error::Upgrade(_) => "upgrade",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an API error is a 404 (object, or a resource the server does not serve).
pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

pub(crate) fn is_already_exists(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// An API error as a person reads it: the server's message, without the Debug dump.
pub(crate) fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}
