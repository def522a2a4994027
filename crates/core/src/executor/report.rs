//! What an apply did, counted the way `terraform apply` reports it, in a form that serialises
//! to the JSON `strata apply -o json` prints.

use serde::Serialize;

use super::Report;
use crate::plan::{Action, Plan};

/// The outcome of an apply: resources added, changed and destroyed, and the changes that
/// failed, were skipped or were cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ApplySummary {
    /// Resources created (a replacement counts as one added and one destroyed).
    pub added: usize,
    /// Resources updated in place.
    pub changed: usize,
    /// Resources deleted.
    pub destroyed: usize,
    /// Changes that failed, with their errors.
    pub failed: Vec<FailedChange>,
    /// Changes not attempted, with the reasons.
    pub skipped: Vec<SkippedChange>,
    /// Whether the apply was cancelled.
    pub cancelled: bool,
}

/// A change that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FailedChange {
    /// The resource's address.
    pub address: String,
    /// The provider's error.
    pub error: String,
}

/// A change that was not attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SkippedChange {
    /// The resource's address.
    pub address: String,
    /// Why it was skipped.
    pub reason: String,
}

impl ApplySummary {
    /// Counts what the apply of `plan` did according to its `report`.
    pub fn of(plan: &Plan, report: &Report) -> Self {
        let by_key = plan.by_key();
        let mut summary = Self {
            failed: report
                .failed
                .iter()
                .map(|(key, error)| FailedChange {
                    address: key.to_string(),
                    error: error.clone(),
                })
                .collect(),
            skipped: report
                .skipped
                .iter()
                .map(|(key, reason)| SkippedChange {
                    address: key.to_string(),
                    reason: reason.clone(),
                })
                .collect(),
            cancelled: report.cancelled,
            ..Self::default()
        };
        for key in &report.succeeded {
            match by_key.get(key).map(|c| c.action) {
                Some(Action::Create) => summary.added += 1,
                Some(Action::Update) => summary.changed += 1,
                Some(Action::Delete) => summary.destroyed += 1,
                Some(Action::DeleteThenCreate | Action::CreateThenDelete) => {
                    summary.added += 1;
                    summary.destroyed += 1;
                }
                _ => {}
            }
        }
        summary
    }

    /// Whether every change succeeded.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}
