//! Elastic Cloud on Kubernetes: `elasticsearch.k8s.elastic.co` Elasticsearch,
//! `beat.k8s.elastic.co` Beat and `logstash.k8s.elastic.co` Logstash.
//!
//! ECK reports a `health` colour (green, yellow, red) and, for Elasticsearch, a `phase` and the
//! number of available nodes against the sum of the node sets' counts.

use serde_json::Value;

use super::support::{
    degraded, format_number, get, has_status, healthy, list, num, progressing, text, text_or_empty,
    unknown,
};
use crate::status::HealthStatus;

const FILE_A_BUG: &str = "Ensure your ArgoCD is current and then check for/file a bug report: https://github.com/argoproj/argo-cd/issues";

/// Health of a Beat.
pub fn beat(obj: &Value) -> HealthStatus {
    let reported = get(obj, &["status", "health"]).is_some()
        || get(obj, &["status", "expectedNodes"]).is_some();
    if has_status(obj) && reported {
        match get(obj, &["status", "health"]) {
            Some(Value::String(h)) if h == "red" => return degraded("Elastic Beat status is Red"),
            Some(Value::String(h)) if h == "green" => {
                return healthy("Elastic Beat status is Green");
            }
            Some(Value::String(h)) if h == "yellow" => {
                let available = get(obj, &["status", "availableNodes"]);
                let expected = get(obj, &["status", "expectedNodes"]);
                if available.is_some() && expected.is_some() {
                    return progressing(format!(
                        "Elastic Beat status is deploying, there is {} instance(s) on {} expected",
                        text_or_empty(obj, &["status", "availableNodes"]),
                        text_or_empty(obj, &["status", "expectedNodes"])
                    ));
                }
                return progressing("Elastic Beat phase is progressing");
            }
            None => return progressing("Elastic Beat phase is progressing"),
            _ => {}
        }
    }
    unknown(format!("Elastic Beat status is unknown. {FILE_A_BUG}"))
}

/// Health of an Elasticsearch cluster.
pub fn elasticsearch(obj: &Value) -> HealthStatus {
    if let Some(available) = num(obj, &["status", "availableNodes"]) {
        let desired: f64 = list(obj, &["spec", "nodeSets"])
            .iter()
            .filter_map(|set| num(set, &["count"]))
            .sum();
        if available < desired {
            return progressing(format!(
                "The desired amount of availableNodes is {} but the current amount is {}",
                format_number(desired),
                format_number(available)
            ));
        }
        if available == desired
            && let (Some(phase), Some(health)) = (
                text(obj, &["status", "phase"]),
                text(obj, &["status", "health"]),
            )
        {
            match (phase, health) {
                ("Ready", "green") => return healthy("Elasticsearch Cluster status is Green"),
                ("Ready", "yellow") => {
                    return progressing(
                        "Elasticsearch Cluster status is Yellow. Check the status of indices, replicas and shards",
                    );
                }
                ("Ready", "red") => {
                    return degraded(
                        "Elasticsearch Cluster status is Red. Check the status of indices, replicas and shards",
                    );
                }
                ("ApplyingChanges" | "MigratingData", _) => {
                    return progressing(format!("Elasticsearch phase is {phase}"));
                }
                ("Invalid", _) => return degraded("Elasticsearch phase is Invalid"),
                _ => {}
            }
        }
    }
    unknown(format!(
        "Elasticsearch Cluster status is unknown. {FILE_A_BUG}"
    ))
}

/// Health of a Logstash.
pub fn logstash(obj: &Value) -> HealthStatus {
    match text(obj, &["status", "health"]) {
        Some("green") => healthy("Logstash status is Green"),
        Some("yellow") => progressing("Logstash status is Yellow"),
        Some("red") => degraded("Logstash status is Red"),
        _ => progressing("Waiting for Logstash"),
    }
}

/// The rule for an ECK kind, if there is one.
pub fn rule(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    Some(match (group, kind) {
        ("elasticsearch.k8s.elastic.co", "Elasticsearch") => elasticsearch(obj),
        ("beat.k8s.elastic.co", "Beat") => beat(obj),
        ("logstash.k8s.elastic.co", "Logstash") => logstash(obj),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::HealthStatusCode;
    use serde_json::json;

    #[test]
    fn elasticsearch_counts_node_sets() {
        let obj = json!({"spec": {"nodeSets": [{"count": 2}, {"count": 1}]}, "status": {"availableNodes": 2}});
        assert_eq!(
            elasticsearch(&obj),
            HealthStatus::progressing(
                "The desired amount of availableNodes is 3 but the current amount is 2"
            )
        );
        let beat_ =
            json!({"status": {"health": "yellow", "availableNodes": 1, "expectedNodes": 2}});
        assert_eq!(beat(&beat_).status, HealthStatusCode::Progressing);
    }
}
