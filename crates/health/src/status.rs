//! Health status values and their severity order.

use std::fmt;

/// A health state, as ArgoCD names them.
///
/// The derived order is ArgoCD's severity order: `Healthy < Suspended < Progressing < Missing <
/// Degraded < Unknown` (Unknown is the worst).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum HealthStatusCode {
    /// The resource is fine.
    Healthy,
    /// The resource is paused or suspended on purpose.
    Suspended,
    /// The resource is not fine yet but is expected to become so.
    Progressing,
    /// The resource does not exist.
    Missing,
    /// The resource failed or cannot become healthy without intervention.
    Degraded,
    /// The health could not be assessed.
    Unknown,
}

impl HealthStatusCode {
    /// Every status, in severity order (best first).
    pub const ALL: [HealthStatusCode; 6] = [
        HealthStatusCode::Healthy,
        HealthStatusCode::Suspended,
        HealthStatusCode::Progressing,
        HealthStatusCode::Missing,
        HealthStatusCode::Degraded,
        HealthStatusCode::Unknown,
    ];

    /// The status name as ArgoCD spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatusCode::Healthy => "Healthy",
            HealthStatusCode::Suspended => "Suspended",
            HealthStatusCode::Progressing => "Progressing",
            HealthStatusCode::Missing => "Missing",
            HealthStatusCode::Degraded => "Degraded",
            HealthStatusCode::Unknown => "Unknown",
        }
    }

    /// Parses ArgoCD's spelling of a status; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }

    /// True when `other` is worse than `self` in the severity order.
    pub fn is_worse(self, other: HealthStatusCode) -> bool {
        other > self
    }
}

impl fmt::Display for HealthStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The assessed health of one live object: a status and a user-facing message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthStatus {
    /// The status.
    pub status: HealthStatusCode,
    /// A user-facing message in ArgoCD's wording (may be empty).
    pub message: String,
}

impl HealthStatus {
    /// A status with a message.
    pub fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// Healthy with a message.
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Healthy, message)
    }

    /// Progressing with a message.
    pub fn progressing(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Progressing, message)
    }

    /// Degraded with a message.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Degraded, message)
    }

    /// Suspended with a message.
    pub fn suspended(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Suspended, message)
    }

    /// Unknown with a message.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Unknown, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_matches_argocd() {
        assert!(HealthStatusCode::Healthy.is_worse(HealthStatusCode::Suspended));
        assert!(HealthStatusCode::Missing.is_worse(HealthStatusCode::Degraded));
        assert!(HealthStatusCode::Degraded.is_worse(HealthStatusCode::Unknown));
        assert!(!HealthStatusCode::Unknown.is_worse(HealthStatusCode::Degraded));
        assert_eq!(
            HealthStatusCode::parse("Missing"),
            Some(HealthStatusCode::Missing)
        );
        assert_eq!(HealthStatusCode::parse("missing"), None);
    }
}
