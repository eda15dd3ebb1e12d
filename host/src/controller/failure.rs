//! What a reconcile tells people instead of applying: each failure is named in status and
//! in a Warning Event. Its reason is a stable CamelCase word that alerts and
//! `kubectl get events --field-selector reason=…` match on, so it is decided here and
//! nowhere else.

use super::apply::ApplyError;
use crate::error_chain::error_chain;
use crate::render::ComponentError;
use crate::topology::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The host refuses the spec before any plugin runs: nothing is applied or pruned.
    #[error(transparent)]
    InvalidSpec(SpecError),
    /// A component's plugin, or the policy choosing it, failed: none of it is applied.
    /// The text is the whole chain: an Event's reader has no log to find the cause in.
    #[error("{}", error_chain(.source))]
    Render {
        component: String,
        #[source]
        source: ComponentError,
    },
    /// The API server refused one of a component's objects: the rest of it is not applied.
    #[error("{component}: {source}")]
    Apply {
        component: String,
        #[source]
        source: ApplyError,
    },
}

impl Failure {
    /// The Event's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::InvalidSpec(_) => "InvalidSpec",
            Failure::Render { source: ComponentError::Guardrail { .. }, .. } => "GuardrailViolation",
            Failure::Render { .. } => "RenderFailed",
            Failure::Apply { .. } => "ApplyFailed",
        }
    }

    /// The Event's action: what the controller was doing.
    pub fn action(&self) -> &'static str {
        match self {
            Failure::InvalidSpec(_) | Failure::Render { .. } => "Render",
            Failure::Apply { .. } => "Apply",
        }
    }

    /// The text status keeps for it. Status lists it beside its component, so an apply
    /// failure leaves the component's name out.
    pub fn message(&self) -> String {
        match self {
            Failure::Apply { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }

    /// Whether it happened before anything was applied (status tells render failures
    /// from apply failures).
    pub fn during_render(&self) -> bool {
        !matches!(self, Failure::Apply { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apply_failure_names_its_component_in_the_event_only() {
        let failure = Failure::Apply {
            component: "core".to_owned(),
            source: ApplyError::NotCreatedByBerth { kind: "Service", name: "demo-harbor-core".to_owned() },
        };
        assert_eq!((failure.reason(), failure.action()), ("ApplyFailed", "Apply"));
        assert!(failure.to_string().starts_with("core: Service demo-harbor-core already exists"), "{failure}");
        assert!(failure.message().starts_with("Service demo-harbor-core already exists"), "{}", failure.message());
        assert!(!failure.during_render());
    }

    #[test]
    fn a_render_failure_reads_as_its_whole_chain() {
        let source = ComponentError::Selection(crate::policy::SelectionError::NoPlugin { component: "trivy".to_owned() });
        let failure = Failure::Render { component: "trivy".to_owned(), source };
        assert_eq!((failure.reason(), failure.action()), ("RenderFailed", "Render"));
        assert_eq!(failure.message(), "no plugin renders component \"trivy\"");
        assert!(failure.during_render());
    }

    #[test]
    fn a_guardrail_breach_has_a_reason_of_its_own() {
        let violation = crate::policy::Violation {
            rule: crate::policy::Rule::NoSecrets,
            kind: "Secret".to_owned(),
            name: "stolen".to_owned(),
            detail: "plugins may not render Secrets".to_owned(),
        };
        let source =
            ComponentError::Guardrail { component: "portal".to_owned(), plugin: "evil".to_owned(), violation: Box::new(violation) };
        let failure = Failure::Render { component: "portal".to_owned(), source };
        assert_eq!((failure.reason(), failure.action()), ("GuardrailViolation", "Render"));
    }
}
