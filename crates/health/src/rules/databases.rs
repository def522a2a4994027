//! Database operators: Zalando Postgres (`acid.zalan.do` postgresql), CloudNativePG
//! (`postgresql.cnpg.io` Cluster), MariaDB operator (`k8s.mariadb.com`, `mariadb.mmontes.io`),
//! Percona (`psmdb.percona.com`, `pxc.percona.com`), Altinity ClickHouse
//! (`clickhouse.altinity.com`, `clickhouse-keeper.altinity.com`), Atlas (`db.atlasgo.io`),
//! Solr (`solr.apache.org`) and the Pravega ZooKeeper operator (`zookeeper.pravega.io`).

use serde_json::Value;

use super::support::{
    HealthStatusCodeExt as _, annotation_of, degraded, get, has_conditions, has_status, healthy,
    list, lua_eq, lua_text, progressing, status_conds, suspended, text, text_or_empty, truthy,
    unknown,
};
use crate::status::{HealthStatus, HealthStatusCode};

/// Health of a Zalando `postgresql`, from `status.PostgresClusterStatus`.
pub fn zalando_postgresql(obj: &Value) -> HealthStatus {
    let Some(state) = get(obj, &["status", "PostgresClusterStatus"]) else {
        return progressing("Waiting for postgres cluster status...");
    };
    let message = lua_text(Some(state)).unwrap_or_default();
    match state.as_str() {
        Some("Running") => healthy(message),
        Some("Creating" | "Updating") => progressing(message),
        _ => degraded(message),
    }
}

/// Health of a CloudNativePG Cluster: suspended reconciliation or hibernation first, then the
/// phase as CloudNativePG documents it.
pub fn cnpg_cluster(obj: &Value) -> HealthStatus {
    if annotation_of(obj, "cnpg.io/reconciliationLoop") == Some("disabled") {
        return suspended("Cluster reconciliation is suspended");
    }
    let reason = text_or_empty(obj, &["status", "phaseReason"]);
    if !has_conditions(obj) {
        return progressing(reason);
    }
    if let Some(hibernation) = status_conds(obj).find(|c| c.is_type("cnpg.io/hibernation")) {
        return if hibernation.status == Some("True") {
            suspended(hibernation.msg())
        } else {
            degraded(hibernation.msg())
        };
    }
    let code = match text(obj, &["status", "phase"]).unwrap_or("") {
        "Cluster in healthy state" => HealthStatusCode::Healthy,
        "Setting up primary"
        | "Creating a new replica"
        | "Upgrading cluster"
        | "Waiting for the instances to become active"
        | "Promoting to primary cluster" => HealthStatusCode::Progressing,
        "Switchover in progress"
        | "Failing over"
        | "Upgrading Postgres major version"
        | "Cluster upgrade delayed"
        | "Waiting for user action"
        | "Primary instance is being restarted in-place"
        | "Primary instance is being restarted without a switchover"
        | "Cluster cannot execute instance online upgrade due to missing architecture binary"
        | "Online upgrade in progress"
        | "Applying configuration" => HealthStatusCode::Degraded,
        "Unable to create required cluster objects"
        | "Cluster cannot proceed to reconciliation due to an unknown plugin being required"
        | "Cluster has incomplete or invalid image catalog"
        | "Cluster is unrecoverable and needs manual intervention" => HealthStatusCode::Suspended,
        _ => HealthStatusCode::Unknown,
    };
    code.with(reason)
}

/// Health of a MariaDB operator kind with a `Ready` condition (Database, User, Grant): the
/// message is that of the last condition read.
pub fn mariadb_ready(obj: &Value) -> HealthStatus {
    let mut message = "No status info available";
    for c in status_conds(obj) {
        message = c.msg();
        if c.is_type("Ready") {
            return if c.status == Some("True") {
                healthy(message)
            } else {
                degraded(message)
            };
        }
    }
    progressing(message)
}

/// Health of a MariaDB: the first False condition decides (reason `Failed` is Degraded).
pub fn mariadb(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("No status info available");
    }
    let mut message = "";
    for c in status_conds(obj) {
        message = c.msg();
        if c.status == Some("False") {
            return if c.reason == Some("Failed") {
                degraded(message)
            } else {
                progressing(message)
            };
        }
    }
    healthy(message)
}

fn reason_and_message(c: &super::support::Cond<'_>) -> String {
    format!("{} {}", c.reason(), c.msg())
}

/// Health of a MariaDB Backup.
pub fn mariadb_backup(obj: &Value) -> HealthStatus {
    if !has_conditions(obj) {
        return progressing("No status info available");
    }
    let mut message = String::new();
    for c in status_conds(obj) {
        message = reason_and_message(&c);
        if c.status == Some("False") {
            if c.reason == Some("CronJobScheduled") && c.message == Some("Failed") {
                return degraded(message);
            }
            return progressing(message);
        }
    }
    healthy(message)
}

/// Health of a MariaDB SqlJob.
pub fn mariadb_sql_job(obj: &Value) -> HealthStatus {
    let mut message = "No status info available".to_string();
    for c in status_conds(obj) {
        message = reason_and_message(&c);
        if c.reason == Some("JobComplete") && c.status == Some("True") {
            return healthy(message);
        }
        if c.reason == Some("JobFailed") && c.status == Some("True") {
            return degraded(message);
        }
    }
    progressing(message)
}

fn ready_of_size(obj: &Value) -> String {
    format!(
        "{}/{} node(s) are ready",
        text_or_empty(obj, &["status", "ready"]),
        text_or_empty(obj, &["status", "size"])
    )
}

/// Health of a PerconaServerMongoDB, from `status.state`.
pub fn percona_mongodb(obj: &Value) -> HealthStatus {
    if !has_status(obj) {
        return unknown("Cluster status is unknown");
    }
    let code = match text(obj, &["status", "state"]) {
        Some("initializing" | "stopping") => HealthStatusCode::Progressing,
        Some("ready") => HealthStatusCode::Healthy,
        Some("error") => HealthStatusCode::Degraded,
        Some("paused") => HealthStatusCode::Suspended,
        _ => HealthStatusCode::Unknown,
    };
    code.with(ready_of_size(obj))
}

/// Health of a PerconaXtraDBCluster, from `status.state`.
pub fn percona_xtradb(obj: &Value) -> HealthStatus {
    if has_status(obj) {
        match text(obj, &["status", "state"]) {
            Some("initializing") => return progressing(ready_of_size(obj)),
            Some("ready") => return healthy(ready_of_size(obj)),
            Some("paused") => return unknown("Cluster is paused"),
            Some("stopping") => {
                return degraded(format!("Cluster is stopping ({})", ready_of_size(obj)));
            }
            Some("error") => {
                let messages: Vec<String> = list(obj, &["status", "message"])
                    .iter()
                    .filter_map(|m| lua_text(Some(m)))
                    .collect();
                return degraded(format!("Cluster is on error: {}", messages.join(", ")));
            }
            _ => {}
        }
    }
    unknown(
        "Cluster status is unknown. Ensure your ArgoCD is current and then check for/file a bug report: https://github.com/argoproj/argo-cd/issues",
    )
}

/// Health of a ClickHouseInstallation or ClickHouseKeeperInstallation, from `status.status`.
pub fn clickhouse(obj: &Value, keeper: bool) -> HealthStatus {
    let name = if keeper {
        "ClickHouseKeeper"
    } else {
        "ClickHouse"
    };
    match get(obj, &["status", "status"]) {
        None => progressing(format!("{name} status not yet available")),
        Some(Value::String(s)) if s == "Completed" => {
            healthy(format!("{name} installation completed successfully"))
        }
        Some(Value::String(s)) if s == "InProgress" => {
            progressing(format!("{name} installation in progress"))
        }
        Some(other) => degraded(format!(
            "{name} status: {}",
            lua_text(Some(other)).unwrap_or_default()
        )),
    }
}

/// Health of an AtlasMigration or AtlasSchema, from its `Ready` condition.
pub fn atlas(obj: &Value, kind: &str) -> HealthStatus {
    let Some(ready) = status_conds(obj).find(|c| c.is_type("Ready")) else {
        return progressing("Waiting for Atlas Operator");
    };
    if ready.status == Some("True") {
        return healthy(ready.reason());
    }
    let working = if kind == "AtlasSchema" {
        matches!(ready.message, Some("Reconciling" | "GettingDevDB"))
    } else {
        ready.reason == Some("Reconciling")
    };
    if working {
        progressing(ready.reason())
    } else {
        degraded(ready.reason())
    }
}

/// Health of a SolrCloud: Healthy once every Solr node is ready.
pub fn solr_cloud(obj: &Value) -> HealthStatus {
    if get(obj, &["status", "solrNodes"]).is_none() {
        return progressing("Waiting for solr to exist");
    }
    if list(obj, &["status", "solrNodes"])
        .iter()
        .any(|node| !truthy(get(node, &["ready"])))
    {
        return progressing("Not all replicas are ready");
    }
    healthy("Solr is ready")
}

/// Health of a ZookeeperCluster: every replica has joined the ensemble.
pub fn zookeeper_cluster(obj: &Value) -> HealthStatus {
    let ready = get(obj, &["status", "readyReplicas"]);
    let zero = serde_json::json!(0);
    if has_status(obj)
        && !lua_eq(ready, Some(&zero))
        && lua_eq(ready, get(obj, &["status", "replicas"]))
    {
        return healthy("All ZK Nodes have joined the ensemble");
    }
    progressing("Waiting for ZK Nodes to join the ensemble")
}

/// The rule for a database operator kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("acid.zalan.do", "postgresql") => zalando_postgresql(obj),
        ("postgresql.cnpg.io", "Cluster") => cnpg_cluster(obj),
        ("k8s.mariadb.com", "Database" | "User" | "Grant") => mariadb_ready(obj),
        ("k8s.mariadb.com" | "mariadb.mmontes.io", "MariaDB") => mariadb(obj),
        ("k8s.mariadb.com", "Backup") => mariadb_backup(obj),
        ("k8s.mariadb.com", "SqlJob") => mariadb_sql_job(obj),
        ("psmdb.percona.com", "PerconaServerMongoDB") => percona_mongodb(obj),
        ("pxc.percona.com", "PerconaXtraDBCluster") => percona_xtradb(obj),
        ("clickhouse.altinity.com", "ClickHouseInstallation") => clickhouse(obj, false),
        ("clickhouse-keeper.altinity.com", "ClickHouseKeeperInstallation") => clickhouse(obj, true),
        ("db.atlasgo.io", "AtlasMigration" | "AtlasSchema") => atlas(obj, kind),
        ("solr.apache.org", "SolrCloud") => solr_cloud(obj),
        ("zookeeper.pravega.io", "ZookeeperCluster") => zookeeper_cluster(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cnpg_phases_and_hibernation() {
        let obj = json!({"status": {"phase": "Failing over", "phaseReason": "primary lost", "conditions": []}});
        assert_eq!(cnpg_cluster(&obj), HealthStatus::degraded("primary lost"));
        let hibernated = json!({"status": {"conditions": [{"type": "cnpg.io/hibernation", "status": "True", "message": "hibernated"}]}});
        assert_eq!(
            cnpg_cluster(&hibernated),
            HealthStatus::suspended("hibernated")
        );
        let pxc = json!({"status": {"state": "error", "message": ["a", "b"]}});
        assert_eq!(
            percona_xtradb(&pxc),
            HealthStatus::degraded("Cluster is on error: a, b")
        );
    }
}
