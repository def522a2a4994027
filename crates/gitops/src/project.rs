//! AppProjects: what an Application may read and where it may write, checked before any call
//! to a cluster, as ArgoCD checks them.
//!
//! - `sourceRepos`: globs the Application's `repoURL` must match (none: nothing allowed).
//! - `destinations`: `{server|name, namespace}` globs the destination must match, and every
//!   namespaced resource's namespace too (an Application never writes outside them).
//! - `clusterResourceWhitelist` / `clusterResourceBlacklist`: `{group, kind}` globs for
//!   cluster-scoped resources (an empty whitelist allows none).
//! - `namespaceResourceWhitelist` / `namespaceResourceBlacklist`: the same for namespaced
//!   resources (an empty or absent whitelist allows all).
//!
//! An absent `default` project allows everything, as ArgoCD's built-in default project does.

use serde_json::Value;
use strata_core::Resource;
use strata_drift::glob::glob_match;

use crate::app::Application;

/// A group/kind pattern of a resource list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupKind {
    group: String,
    kind: String,
}

impl GroupKind {
    fn matches(&self, group: &str, kind: &str) -> bool {
        glob_match(&self.group, group) && glob_match(&self.kind, kind)
    }
}

/// One permitted destination.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProjectDestination {
    server: Option<String>,
    name: Option<String>,
    namespace: String,
}

/// An AppProject's restrictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `metadata.name`.
    pub name: String,
    source_repos: Vec<String>,
    destinations: Vec<ProjectDestination>,
    cluster_whitelist: Vec<GroupKind>,
    cluster_blacklist: Vec<GroupKind>,
    namespace_whitelist: Option<Vec<GroupKind>>,
    namespace_blacklist: Vec<GroupKind>,
    /// `spec.syncWindows`, as written.
    pub sync_windows: Vec<Value>,
}

/// Something a project does not permit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("project {project}: {message}")]
pub struct Denied {
    /// The project.
    pub project: String,
    /// What is not permitted.
    pub message: String,
}

fn group_kinds(spec: &Value, field: &str) -> Vec<GroupKind> {
    spec.get(field)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| GroupKind {
                    group: e
                        .get("group")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    kind: e
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Project {
    /// The built-in `default` project: everything allowed.
    pub fn allow_all(name: &str) -> Self {
        let all = GroupKind {
            group: "*".into(),
            kind: "*".into(),
        };
        Self {
            name: name.to_owned(),
            source_repos: vec!["*".into()],
            destinations: vec![ProjectDestination {
                server: Some("*".into()),
                name: None,
                namespace: "*".into(),
            }],
            cluster_whitelist: vec![all],
            cluster_blacklist: Vec::new(),
            namespace_whitelist: None,
            namespace_blacklist: Vec::new(),
            sync_windows: Vec::new(),
        }
    }

    /// Reads an AppProject object.
    pub fn from_object(object: &Value) -> Self {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let empty = Value::Null;
        let spec = object.get("spec").unwrap_or(&empty);
        let strings = |field: &str| -> Vec<String> {
            spec.get(field)
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let destinations = spec
            .get("destinations")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .map(|d| ProjectDestination {
                        server: d
                            .get("server")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        name: d
                            .get("name")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        namespace: d
                            .get("namespace")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name,
            source_repos: strings("sourceRepos"),
            destinations,
            cluster_whitelist: group_kinds(spec, "clusterResourceWhitelist"),
            cluster_blacklist: group_kinds(spec, "clusterResourceBlacklist"),
            namespace_whitelist: spec
                .get("namespaceResourceWhitelist")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .map(|_| group_kinds(spec, "namespaceResourceWhitelist")),
            namespace_blacklist: group_kinds(spec, "namespaceResourceBlacklist"),
            sync_windows: spec
                .get("syncWindows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn deny(&self, message: String) -> Denied {
        Denied {
            project: self.name.clone(),
            message,
        }
    }

    /// Checks the Application's source repository and destination.
    pub fn check_application(&self, app: &Application) -> Result<(), Denied> {
        for source in app.all_sources() {
            let repo = &source.repo_url;
            if !self
                .source_repos
                .iter()
                .any(|pattern| pattern == "*" || glob_match(pattern, repo))
            {
                return Err(self.deny(format!(
                    "application repo {repo} is not permitted (sourceRepos)"
                )));
            }
        }
        let namespace = app.destination.namespace.as_deref().unwrap_or("");
        if !self.permits_destination(app, namespace) {
            return Err(self.deny(format!(
                "application destination {} is not permitted (destinations)",
                app.destination
            )));
        }
        Ok(())
    }

    fn permits_destination(&self, app: &Application, namespace: &str) -> bool {
        let server = app
            .destination
            .server
            .clone()
            .or_else(|| {
                app.destination
                    .is_in_cluster()
                    .then(|| crate::app::IN_CLUSTER_SERVER.to_owned())
            })
            .unwrap_or_default();
        let name = app.destination.name.clone().unwrap_or_else(|| {
            if app.destination.is_in_cluster() {
                crate::app::IN_CLUSTER_NAME.to_owned()
            } else {
                String::new()
            }
        });
        self.destinations.iter().any(|d| {
            let cluster = match (&d.server, &d.name) {
                (Some(s), _) => glob_match(s, &server),
                (None, Some(n)) => glob_match(n, &name),
                (None, None) => false,
            };
            cluster && glob_match(&d.namespace, namespace)
        })
    }

    /// Checks every resource of the rendered source: its kind, and for namespaced ones the
    /// namespace against the destinations. `is_cluster_scoped` tells the scope of a kind.
    pub fn check_resources(
        &self,
        app: &Application,
        resources: &[Resource],
        is_cluster_scoped: impl Fn(&str, &str) -> bool,
    ) -> Result<(), Denied> {
        for r in resources {
            let (group, kind) = (r.key.group.as_str(), r.key.kind.as_str());
            let shown = if group.is_empty() {
                kind.to_owned()
            } else {
                format!("{group}/{kind}")
            };
            if is_cluster_scoped(group, kind) {
                if !self
                    .cluster_whitelist
                    .iter()
                    .any(|g| g.matches(group, kind))
                    || self
                        .cluster_blacklist
                        .iter()
                        .any(|g| g.matches(group, kind))
                {
                    return Err(self.deny(format!(
                        "resource {shown}:{} is not permitted (cluster resource)",
                        r.key.name
                    )));
                }
                continue;
            }
            if self
                .namespace_whitelist
                .as_ref()
                .is_some_and(|list| !list.iter().any(|g| g.matches(group, kind)))
                || self
                    .namespace_blacklist
                    .iter()
                    .any(|g| g.matches(group, kind))
            {
                return Err(self.deny(format!(
                    "resource {shown}:{} is not permitted (namespaced resource)",
                    r.key.name
                )));
            }
            let namespace = r.key.namespace.as_deref().unwrap_or("");
            if !self.permits_destination(app, namespace) {
                return Err(self.deny(format!(
                    "resource {shown}:{} in namespace {namespace} is outside the project's destinations",
                    r.key.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn app(repo: &str, namespace: &str) -> Application {
        Application::parse(
            &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                    "metadata": {"name": "shop"},
                    "spec": {"project": "team", "source": {"repoURL": repo, "path": "."},
                             "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace}}}),
            "argocd",
        )
        .unwrap()
    }

    fn project() -> Project {
        Project::from_object(&json!({
            "metadata": {"name": "team"},
            "spec": {
                "sourceRepos": ["git://127.0.0.1/team-*"],
                "destinations": [{"server": "*", "namespace": "team-*"}],
                "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
                "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]
            }
        }))
    }

    fn resource(manifest: Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    #[test]
    fn source_repos_and_destinations_are_enforced() {
        let p = project();
        assert!(
            p.check_application(&app("git://127.0.0.1/team-a.git", "team-a"))
                .is_ok()
        );
        let e = p
            .check_application(&app("git://127.0.0.1/other.git", "team-a"))
            .unwrap_err();
        assert!(e.message.contains("sourceRepos"), "{e}");
        let multi = |second: &str| {
            Application::parse(
                &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                        "metadata": {"name": "a"},
                        "spec": {"sources": [
                            {"repoURL": "git://127.0.0.1/team-a.git", "path": "a"},
                            {"repoURL": second, "ref": "values"}],
                          "destination": {"namespace": "team-a"}}}),
                "argocd",
            )
            .unwrap()
        };
        assert!(
            p.check_application(&multi("git://127.0.0.1/team-b.git"))
                .is_ok()
        );
        let e = p
            .check_application(&multi("git://127.0.0.1/other.git"))
            .unwrap_err();
        assert!(
            e.message.contains("other.git") && e.message.contains("sourceRepos"),
            "{e}"
        );
        let e = p
            .check_application(&app("git://127.0.0.1/team-a.git", "kube-system"))
            .unwrap_err();
        assert!(e.message.contains("destinations"), "{e}");
        assert!(
            Project::allow_all("default")
                .check_application(&app("anything", "anywhere"))
                .is_ok()
        );
    }

    #[test]
    fn resources_outside_the_lists_or_namespaces_are_refused() {
        let p = project();
        let a = app("git://127.0.0.1/team-a.git", "team-a");
        let scope = |_: &str, kind: &str| kind == "Namespace" || kind == "ClusterRole";
        let ok = [
            resource(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
            ),
            resource(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"}}),
            ),
        ];
        assert!(p.check_resources(&a, &ok, scope).is_ok());
        let role = [resource(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
        )];
        assert!(p.check_resources(&a, &role, scope).is_err());
        let quota = [resource(
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "team-a"}}),
        )];
        assert!(p.check_resources(&a, &quota, scope).is_err());
        let elsewhere = [resource(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}),
        )];
        let e = p.check_resources(&a, &elsewhere, scope).unwrap_err();
        assert!(e.message.contains("kube-system"), "{e}");
    }
}
