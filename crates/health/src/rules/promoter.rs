//! GitOps Promoter (`promoter.argoproj.io`): every kind reports a `Ready` condition with its own
//! `observedGeneration`; the commit-status kinds add per-environment phases and the promotion
//! kinds compare the active and proposed dry commits.

use serde_json::Value;

use super::support::{
    degraded, get, healthy, list, lua_eq, progressing, status_conds, text, truthy,
};
use crate::status::HealthStatus;

/// What one kind says at each step of the shared `Ready`-condition gate.
struct Gate<'a> {
    initializing: &'a str,
    deleting: &'a str,
    /// Finalizers the kind documents: name, what the controller waits for, the risk of removal.
    finalizers: &'a [(&'a str, &'a str, &'a str)],
    stale: &'a str,
    /// Prefix for a `ReconciliationError`.
    failed: &'a str,
    /// Prefix for any other reason (followed by ` (<reason>)`).
    not_ready: &'a str,
    /// Prefix for a `Ready=Unknown` condition; `None` when Unknown is not reported.
    unknown: Option<&'a str>,
    missing: &'a str,
    /// The condition types that count as the ready condition.
    types: &'a [&'a str],
}

const READY: &[&str] = &["Ready"];

impl Gate<'_> {
    /// `Err(health)` when the gate decides; `Ok(())` when the object is reconciled and ready.
    fn check(&self, obj: &Value) -> Result<(), HealthStatus> {
        if truthy(get(obj, &["metadata", "deletionTimestamp"])) {
            return Err(progressing(self.deleting_message(obj)));
        }
        if !truthy(get(obj, &["status"])) {
            return Err(progressing(self.initializing));
        }
        let generation = get(obj, &["metadata", "generation"]);
        let mut has_ready = false;
        for c in status_conds(obj) {
            if !c.kind.is_some_and(|k| self.types.contains(&k)) {
                continue;
            }
            has_ready = true;
            let observed = c.field("observedGeneration");
            if truthy(observed) && truthy(generation) && !lua_eq(observed, generation) {
                return Err(progressing(self.stale));
            }
            if c.status == Some("False") {
                let message = c.msg_or("Unknown error");
                let reason = c.reason.unwrap_or("Unknown");
                return Err(degraded(if reason == "ReconciliationError" {
                    format!("{}: {message}", self.failed)
                } else {
                    format!("{} ({reason}): {message}", self.not_ready)
                }));
            }
            if let Some(prefix) = self.unknown
                && c.status == Some("Unknown")
            {
                let message = c.msg_or("Unknown");
                let reason = c.reason.unwrap_or("Unknown");
                return Err(progressing(format!("{prefix} ({reason}): {message}")));
            }
        }
        if !has_ready {
            return Err(progressing(self.missing));
        }
        Ok(())
    }

    fn deleting_message(&self, obj: &Value) -> String {
        if get(obj, &["metadata", "finalizers"]).is_none() {
            return self.deleting.to_string();
        }
        let mut parts = vec![self.deleting.to_string()];
        for finalizer in list(obj, &["metadata", "finalizers"])
            .iter()
            .filter_map(Value::as_str)
        {
            if let Some((name, wait, risk)) = self.finalizers.iter().find(|f| f.0 == finalizer) {
                parts.push(format!("{name}: {wait} Risk if removed manually: {risk}"));
            }
        }
        parts.join(" ")
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Counts of commit statuses by phase, with the keys of the pending and failed ones.
#[derive(Default)]
struct Tally {
    pending: Vec<String>,
    failed: Vec<String>,
    success: usize,
}

impl Tally {
    fn of(statuses: &[Value]) -> Self {
        let mut tally = Tally::default();
        for status in statuses {
            let key = || text(status, &["key"]).unwrap_or("").to_string();
            match text(status, &["phase"]) {
                Some("pending") => tally.pending.push(key()),
                Some("success") => tally.success += 1,
                Some("failure") => tally.failed.push(key()),
                _ => {}
            }
        }
        tally
    }

    fn counts(&self) -> String {
        format!(
            "{} pending, {} successful, {} failed. ",
            self.pending.len(),
            self.success,
            self.failed.len()
        )
    }

    fn keys(&self) -> String {
        let mut out = String::new();
        if !self.pending.is_empty() {
            out.push_str(&format!(
                "Pending commit statuses: {}. ",
                self.pending.join(", ")
            ));
        }
        if !self.failed.is_empty() {
            out.push_str(&format!(
                "Failed commit statuses: {}. ",
                self.failed.join(", ")
            ));
        }
        out
    }
}

fn nonempty<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    text(value, path).filter(|s| !s.is_empty())
}

/// Health of a ChangeTransferPolicy: promotion in progress while the proposed dry commit differs
/// from the active one.
pub fn change_transfer_policy(obj: &Value) -> HealthStatus {
    let gate = Gate {
        initializing: "Initializing change transfer policy",
        deleting: "Change transfer policy is being deleted.",
        finalizers: &[(
            "changetransferpolicy.promoter.argoproj.io/finalizer",
            "Waiting to clear related PullRequest finalizers and finish cleanup before this policy is removed.",
            "The 'changetransferpolicy.promoter.argoproj.io/pullrequest-finalizer' finalizer may not be cleaned up from PullRequests owned by this ChangeTransferPolicy.",
        )],
        stale: "Waiting for change transfer policy spec update to be observed",
        failed: "Change transfer policy reconciliation failed",
        not_ready: "Change transfer policy reconciliation failed",
        unknown: None,
        missing: "Change transfer policy is not ready yet",
        types: READY,
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    let Some(active) = nonempty(obj, &["status", "active", "dry", "sha"]) else {
        return progressing("The active commit DRY SHA is missing or empty.");
    };
    let Some(proposed) = nonempty(obj, &["status", "proposed", "dry", "sha"]) else {
        return progressing("The proposed commit DRY SHA is missing or empty.");
    };
    if proposed != active {
        let tally = Tally::of(list(obj, &["status", "proposed", "commitStatuses"]));
        return progressing(format!(
            "Promotion in progress from '{}' to '{}': {}{}",
            short_sha(active),
            short_sha(proposed),
            tally.counts(),
            tally.keys()
        ));
    }
    let tally = Tally::of(list(obj, &["status", "active", "commitStatuses"]));
    if !tally.pending.is_empty() || !tally.failed.is_empty() {
        return healthy(format!(
            "Environment is up-to-date, but there are non-successful active commit statuses: {}{}",
            tally.counts(),
            tally.keys()
        ));
    }
    healthy(format!(
        "Environment is up-to-date on commit {}.",
        short_sha(active)
    ))
}

/// Health of a CommitStatus.
pub fn commit_status(obj: &Value) -> HealthStatus {
    let gate = Gate {
        initializing: "Initializing commit status",
        deleting: "Commit status is being deleted",
        finalizers: &[],
        stale: "Waiting for commit status spec update to be observed",
        failed: "Commit status reconciliation failed",
        not_ready: "Commit status reconciliation failed",
        unknown: None,
        missing: "Commit status is not ready yet",
        types: READY,
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    match (
        super::support::lua_text(get(obj, &["status", "sha"])),
        super::support::lua_text(get(obj, &["status", "phase"])),
    ) {
        (Some(sha), Some(phase)) => {
            healthy(format!("Commit status for commit {sha} reports {phase}"))
        }
        _ => healthy("Commit status is healthy"),
    }
}

/// Health of an ArgoCDCommitStatus: it must select at least one application.
pub fn argocd_commit_status(obj: &Value) -> HealthStatus {
    let gate = Gate {
        initializing: "Initializing Argo CD commit status",
        deleting: "Argo CD commit status is being deleted",
        finalizers: &[],
        stale: "Waiting for Argo CD commit status spec update to be observed",
        failed: "Argo CD commit status reconciliation failed",
        not_ready: "Argo CD commit status reconciliation failed",
        unknown: None,
        missing: "Argo CD commit status is not ready yet",
        types: READY,
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    let selected = list(obj, &["status", "applicationsSelected"]).len();
    if selected == 0 {
        return degraded("Argo CD commit status has no applications configured");
    }
    healthy(format!(
        "Argo CD commit status is healthy and is tracking {selected} applications"
    ))
}

/// Health of a GitRepository, ScmProvider or ClusterScmProvider: the `Ready` condition alone.
pub fn repository_or_provider(obj: &Value, kind: &str) -> HealthStatus {
    let (gate, ready) = match kind {
        "GitRepository" => (
            Gate {
                initializing: "Initializing Git repository",
                deleting: "GitRepository is being deleted.",
                finalizers: &[(
                    "gitrepository.promoter.argoproj.io/finalizer",
                    "Waiting until no non-deleting PullRequests still reference this repository.",
                    "repository metadata may be removed while promotions still depend on it.",
                )],
                stale: "Waiting for GitRepository spec update to be observed",
                failed: "Git repository validation failed",
                not_ready: "Git repository not ready",
                unknown: Some("Git repository readiness unknown"),
                missing: "GitRepository Ready condition is missing",
                types: READY,
            },
            "Git repository is ready",
        ),
        "ScmProvider" => (
            Gate {
                initializing: "Initializing SCM provider",
                deleting: "ScmProvider is being deleted.",
                finalizers: &[(
                    "scmprovider.promoter.argoproj.io/finalizer",
                    "Waiting until no GitRepository in this namespace still references this provider.",
                    "GitRepository objects can reference a provider that no longer exists.",
                )],
                stale: "Waiting for ScmProvider spec update to be observed",
                failed: "SCM provider validation failed",
                not_ready: "SCM provider not ready",
                unknown: Some("SCM provider readiness unknown"),
                missing: "ScmProvider Ready condition is missing",
                types: READY,
            },
            "SCM provider is ready",
        ),
        _ => (
            Gate {
                initializing: "Initializing cluster SCM provider",
                deleting: "ClusterScmProvider is being deleted.",
                finalizers: &[(
                    "clusterscmprovider.promoter.argoproj.io/finalizer",
                    "Waiting until no GitRepository still references this cluster-wide SCM provider.",
                    "GitRepository objects can reference a provider that no longer exists.",
                )],
                stale: "Waiting for ClusterScmProvider spec update to be observed",
                failed: "Cluster SCM provider validation failed",
                not_ready: "Cluster SCM provider not ready",
                unknown: Some("Cluster SCM provider readiness unknown"),
                missing: "ClusterScmProvider Ready condition is missing",
                types: READY,
            },
            "Cluster SCM provider is ready",
        ),
    };
    match gate.check(obj) {
        Err(health) => health,
        Ok(()) => healthy(ready),
    }
}

/// Health of a PullRequest (`Reconciled` or `Ready` condition).
pub fn pull_request(obj: &Value) -> HealthStatus {
    let gate = Gate {
        initializing: "Initializing pull request",
        deleting: "Pull request is being deleted.",
        finalizers: &[
            (
                "pullrequest.promoter.argoproj.io/finalizer",
                "Waiting for SCM closure or reconciliation of the pull request.",
                "the real PR can stay open after the CR is gone.",
            ),
            (
                "changetransferpolicy.promoter.argoproj.io/pullrequest-finalizer",
                "Waiting for the ChangeTransferPolicy to observe PR identity and state.",
                "promotion status or history can be wrong or racy.",
            ),
        ],
        stale: "Waiting for pull request spec update to be observed",
        failed: "Pull request reconciliation failed",
        not_ready: "Pull request reconciliation failed",
        unknown: None,
        missing: "Pull request is not ready yet",
        types: &["Reconciled", "Ready"],
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    match (
        super::support::lua_text(get(obj, &["status", "id"])),
        super::support::lua_text(get(obj, &["status", "state"])),
    ) {
        (Some(id), Some(state)) => healthy(format!("Pull request is {state} as PR {id}")),
        _ => healthy("Pull request is healthy"),
    }
}

/// Health of the per-environment gates (TimedCommitStatus, GitCommitStatus,
/// WebRequestCommitStatus): a failed branch degrades, a pending one progresses.
pub fn environment_gate(obj: &Value, kind: &str) -> HealthStatus {
    let (gate, reconciled, failed, pending, passed) = match kind {
        "TimedCommitStatus" => (
            Gate {
                initializing: "Initializing timed commit gate",
                deleting: "TimedCommitStatus is being deleted",
                finalizers: &[],
                stale: "Waiting for TimedCommitStatus spec update to be observed",
                failed: "Timed commit gate failed",
                not_ready: "Timed commit gate not ready",
                unknown: Some("Timed commit gate status unknown"),
                missing: "TimedCommitStatus Ready condition is missing",
                types: READY,
            },
            "Timed commit gate reconciled",
            "Timed commit gate failed for branch(es): ",
            "Timed commit gate pending for branch(es): ",
            "Timed commit gate satisfied for ",
        ),
        "GitCommitStatus" => (
            Gate {
                initializing: "Initializing git commit validation",
                deleting: "GitCommitStatus is being deleted",
                finalizers: &[],
                stale: "Waiting for GitCommitStatus spec update to be observed",
                failed: "Git commit validation failed",
                not_ready: "Git commit validation not ready",
                unknown: Some("Git commit validation status unknown"),
                missing: "GitCommitStatus Ready condition is missing",
                types: READY,
            },
            "Git commit validation reconciled",
            "Git commit validation failed for branch(es): ",
            "Git commit validation pending for branch(es): ",
            "Git commit validation passed for ",
        ),
        _ => (
            Gate {
                initializing: "Initializing web request commit validation",
                deleting: "WebRequestCommitStatus is being deleted",
                finalizers: &[],
                stale: "Waiting for WebRequestCommitStatus spec update to be observed",
                failed: "Web request commit validation failed",
                not_ready: "Web request commit validation not ready",
                unknown: Some("Web request commit validation unknown"),
                missing: "WebRequestCommitStatus Ready condition is missing",
                types: READY,
            },
            "Web request commit validation reconciled",
            "Web request validation failed for branch(es): ",
            "Web request validation pending for branch(es): ",
            "Web request validation passed for ",
        ),
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    let environments = list(obj, &["status", "environments"]);
    if environments.is_empty() {
        return healthy(reconciled);
    }
    let (mut failures, mut pendings, mut successes) = (Vec::new(), Vec::new(), 0);
    for env in environments {
        let branch = text(env, &["branch"]).unwrap_or("?");
        match text(env, &["phase"]).unwrap_or("pending") {
            "failure" => failures.push(branch),
            "success" => successes += 1,
            _ => pendings.push(branch),
        }
    }
    if !failures.is_empty() {
        return degraded(format!("{failed}{}", failures.join(", ")));
    }
    if !pendings.is_empty() {
        return progressing(format!("{pending}{}", pendings.join(", ")));
    }
    healthy(format!("{passed}{successes} environment(s)"))
}

fn proposed_dry_sha(env: &Value) -> Option<&str> {
    nonempty(env, &["proposed", "note", "drySha"])
        .or_else(|| nonempty(env, &["proposed", "dry", "sha"]))
}

/// Health of a PromotionStrategy: every environment must have active and proposed dry commits;
/// an environment whose proposed commit differs from its active one is being promoted.
pub fn promotion_strategy(obj: &Value) -> HealthStatus {
    let gate = Gate {
        initializing: "Initializing promotion strategy",
        deleting: "Promotion strategy is being deleted",
        finalizers: &[],
        stale: "Waiting for promotion strategy spec update to be observed",
        failed: "Promotion strategy reconciliation failed",
        not_ready: "Promotion strategy reconciliation failed",
        unknown: None,
        missing: "Promotion strategy is not ready yet",
        types: READY,
    };
    if let Err(health) = gate.check(obj) {
        return health;
    }
    let environments = list(obj, &["status", "environments"]);
    if environments.is_empty() {
        return degraded("Promotion strategy has no environments configured");
    }
    let branch = |env: &Value| text(env, &["branch"]).unwrap_or("").to_string();
    for env in environments {
        if nonempty(env, &["active", "dry", "sha"]).is_none() {
            return progressing(format!(
                "The active commit DRY SHA is missing or empty in environment '{}'.",
                branch(env)
            ));
        }
        if proposed_dry_sha(env).is_none() {
            return progressing(format!(
                "The proposed commit DRY SHA is missing or empty in environment '{}'.",
                branch(env)
            ));
        }
    }
    let first = proposed_dry_sha(&environments[0]);
    if environments
        .iter()
        .any(|env| proposed_dry_sha(env) != first)
    {
        return progressing(
            "Not all environments have the same proposed commit SHA. This likely means the hydrator has not run for all environments yet.",
        );
    }
    for env in environments {
        let active = text(env, &["active", "dry", "sha"]).unwrap_or("");
        let proposed = get(env, &["proposed", "dry", "sha"]);
        if !lua_eq(proposed, get(env, &["active", "dry", "sha"])) {
            let proposed = proposed.and_then(Value::as_str).unwrap_or("");
            let tally = Tally::of(list(env, &["proposed", "commitStatuses"]));
            return progressing(format!(
                "Promotion in progress for environment '{}' from '{}' to '{}': {}{}Hydrator has processed dry commit '{}'. ",
                branch(env),
                short_sha(active),
                short_sha(proposed),
                tally.counts(),
                tally.keys(),
                short_sha(proposed_dry_sha(env).unwrap_or(""))
            ));
        }
    }
    // Environments with non-successful active commit statuses, by branch in first-seen order.
    let mut summary: Vec<(String, usize, usize)> = Vec::new();
    for env in environments {
        let tally = Tally::of(list(env, &["active", "commitStatuses"]));
        if tally.pending.is_empty() && tally.failed.is_empty() {
            continue;
        }
        let entry = (branch(env), tally.failed.len(), tally.pending.len());
        match summary.iter_mut().find(|e| e.0 == entry.0) {
            Some(existing) => *existing = entry,
            None => summary.push(entry),
        }
    }
    if !summary.is_empty() {
        let parts: Vec<String> = summary
            .iter()
            .map(|(branch, failed, pending)| {
                format!("{branch} ({failed} failed, {pending} pending)")
            })
            .collect();
        return healthy(format!(
            "Environments are up-to-date, but some environments have non-successful commit statuses: {}.",
            parts.join(", ")
        ));
    }
    let first = &environments[0];
    healthy(format!(
        "All environments are up-to-date on commit '{}'. Hydrator has processed dry commit '{}'.",
        short_sha(text(first, &["active", "dry", "sha"]).unwrap_or("")),
        short_sha(proposed_dry_sha(first).unwrap_or(""))
    ))
}

/// The rule for a promoter kind, if there is one.
pub fn rule(kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match kind {
        "ChangeTransferPolicy" => change_transfer_policy(obj),
        "CommitStatus" => commit_status(obj),
        "ArgoCDCommitStatus" => argocd_commit_status(obj),
        "GitRepository" | "ScmProvider" | "ClusterScmProvider" => repository_or_provider(obj, kind),
        "PullRequest" => pull_request(obj),
        "TimedCommitStatus" | "GitCommitStatus" | "WebRequestCommitStatus" => {
            environment_gate(obj, kind)
        }
        "PromotionStrategy" => promotion_strategy(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn stale_ready_condition_is_progressing() {
        let obj = json!({"metadata": {"generation": 3}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 2}]}});
        assert_eq!(
            commit_status(&obj),
            HealthStatus::progressing("Waiting for commit status spec update to be observed")
        );
    }

    #[test]
    fn failed_branch_degrades_a_gate() {
        let obj = json!({"metadata": {"generation": 1}, "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "environments": [{"branch": "env/dev", "phase": "success"}, {"branch": "env/prod", "phase": "failure"}]}});
        assert_eq!(
            environment_gate(&obj, "TimedCommitStatus"),
            HealthStatus::degraded("Timed commit gate failed for branch(es): env/prod")
        );
        assert_eq!(
            environment_gate(
                &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                "GitCommitStatus"
            )
            .status,
            HealthStatusCode::Healthy
        );
    }
}
