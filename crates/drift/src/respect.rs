//! `RespectIgnoreDifferences=true`: before applying, the live values of ignored fields are
//! copied into the desired object, so that an apply (or a self-heal) does not overwrite fields
//! another controller owns (an autoscaler's `replicas`, an injected sidecar's image…).
//!
//! As in the reference, ignoring *one element* of a list cannot be respected: when the ignore
//! rules remove list elements (a jq `select`), the list is left as desired has it.

use serde_json::Value;

use crate::normalize::DriftRules;

/// Desired with every ignored field taken from live (fields live lacks are left out).
pub fn respect_ignore_differences(
    desired: &Value,
    live: Option<&Value>,
    rules: &DriftRules,
) -> Value {
    let Some(live) = live.filter(|l| !l.is_null()) else {
        return desired.clone();
    };
    let mut target = desired.clone();
    rules.apply_ignore_entries(&mut target);
    let mut live_kept = live.clone();
    rules.apply_ignore_entries(&mut live_kept);
    restore(&mut target, live, &live_kept);
    target
}

/// Puts back into `target` what the ignore rules removed from `live` (`live` minus `kept`).
fn restore(target: &mut Value, live: &Value, kept: &Value) {
    match (target, live, kept) {
        (Value::Object(t), Value::Object(l), Value::Object(k)) => {
            for (key, lv) in l {
                match k.get(key) {
                    None => {
                        t.insert(key.clone(), lv.clone());
                    }
                    Some(kv) => {
                        if let Some(tv) = t.get_mut(key) {
                            restore(tv, lv, kv);
                        }
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(l), Value::Array(k))
            if l.len() == k.len() && t.len() == l.len() =>
        {
            for ((tv, lv), kv) in t.iter_mut().zip(l).zip(k) {
                restore(tv, lv, kv);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignore::IgnoreDifference;
    use serde_json::json;

    #[test]
    fn ignored_fields_keep_their_live_values() {
        let rules = DriftRules::from_ignore_differences(vec![IgnoreDifference {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            jq_path_expressions: vec![".spec.template.spec.containers[].image".into()],
            ..IgnoreDifference::default()
        }])
        .expect("valid");
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 2, "paused": false, "template": {"spec": {"containers": [{"name": "a", "image": "git:1"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "uid": "x"},
            "spec": {"replicas": 9, "paused": true, "template": {"spec": {"containers": [{"name": "a", "image": "live:7"}]}}}});
        let out = respect_ignore_differences(&desired, Some(&live), &rules);
        assert_eq!(out["spec"]["replicas"], json!(9));
        assert_eq!(
            out["spec"]["paused"],
            json!(false),
            "not ignored: desired wins"
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            json!("live:7")
        );
        assert!(
            out["metadata"].get("uid").is_none(),
            "only ignored fields come from live"
        );

        let mut no_replicas = live.clone();
        if let Some(spec) = no_replicas["spec"].as_object_mut() {
            spec.shift_remove("replicas");
        }
        let out = respect_ignore_differences(&desired, Some(&no_replicas), &rules);
        assert!(
            out["spec"].get("replicas").is_none(),
            "live lacks it: left out"
        );
        assert_eq!(respect_ignore_differences(&desired, None, &rules), desired);
    }
}
