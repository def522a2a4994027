//! One path notation (readable for people, JSON pointers for programs) in plan and drift, and
//! list and text changes shown per element, field and line.

use super::{s, strata, text};

const BEFORE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/na~me: a
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports: [{containerPort: 80, protocol: TCP}]
        - name: old
          image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
  namespace: shop
data:
  app.conf: "one\ntwo\nthree\n"
"#;

fn after() -> String {
    BEFORE
        .replace("na~me: a", "na~me: b")
        .replace("nginx:1.25", "nginx:1.27")
        .replace("protocol: TCP", "protocol: UDP")
        .replace(
            "        - name: old\n          image: busybox\n",
            "        - name: sidecar\n          image: envoy\n",
        )
        .replace("two\\n", "TWO\\n")
}

#[test]
fn plan_and_drift_share_one_notation_and_show_lists_per_element() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("shop");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(stack.join("app.yaml"), BEFORE).unwrap();
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    std::fs::write(stack.join("app.yaml"), after()).unwrap();

    let plan = strata(&["plan", s(&stack)]);
    let (human, _) = text(&plan);
    for expected in [
        r#"~ metadata.labels["app.kubernetes.io/na~me"] = "a" -> "b""#,
        r#"~ spec.template.spec.containers[name="web"].image = "nginx:1.25" -> "nginx:1.27""#,
        r#"~ spec.template.spec.containers[name="web"].ports[containerPort=80].protocol = "TCP" -> "UDP""#,
        r#"+ spec.template.spec.containers[name="sidecar"] = {"name":"sidecar","image":"envoy"}"#,
        r#"- spec.template.spec.containers[name="old"] = {"name":"old","image":"busybox"}"#,
        "~ data[\"app.conf\"]: (text)\n            one\n          - two\n          + TWO\n            three\n",
    ] {
        assert!(human.contains(expected), "{expected}\nnot in\n{human}");
    }
    assert!(!human.contains("one\\ntwo"), "no escaped text: {human}");

    let json = strata(&["plan", s(&stack), "-o", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let paths: Vec<&str> = value["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["change"]["fields"].as_array().unwrap())
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for expected in [
        "/metadata/labels/app.kubernetes.io~1na~0me",
        "/spec/template/spec/containers",
        "/data/app.conf",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    // JSON keeps whole values: the list as it will be.
    let containers = value["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["change"]["fields"].as_array().unwrap())
        .find(|f| f["path"] == "/spec/template/spec/containers")
        .unwrap();
    assert_eq!(containers["after"].as_array().unwrap().len(), 2);

    let drift = strata(&["drift", s(&stack)]);
    let (human, _) = text(&drift);
    assert!(
        human.contains(r#"~ metadata.labels["app.kubernetes.io/na~me"]: "a" -> "b""#),
        "{human}"
    );
    assert!(!human.contains("/metadata/labels"), "{human}");
    let drift = strata(&["drift", s(&stack), "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    let pointers: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["changes"].as_array().unwrap())
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        pointers.contains(&"/metadata/labels/app.kubernetes.io~1na~0me"),
        "{pointers:?}"
    );
}

/// An element dropped from a list in Git is a change (it was once planned as none at all).
#[test]
fn a_list_element_git_dropped_is_planned_as_its_removal() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("shop");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(stack.join("app.yaml"), BEFORE).unwrap();
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    let dropped = BEFORE.replace("        - name: old\n          image: busybox\n", "");
    assert_ne!(dropped, BEFORE);
    std::fs::write(stack.join("app.yaml"), dropped).unwrap();
    let plan = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    let (human, _) = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{human}");
    assert!(
        human.contains(
            r#"- spec.template.spec.containers[name="old"] = {"name":"old","image":"busybox"}"#
        ),
        "{human}"
    );
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    let again = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{:?}", text(&again));
}

/// A map key of digits never reads as a list index, in plan or drift.
#[test]
fn a_map_key_of_digits_reads_as_a_key_in_plan_and_drift() {
    let config = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ports\n  namespace: shop\ndata:\n  \"80\": {value}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("shop");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(stack.join("ports.yaml"), config("http")).unwrap();
    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    std::fs::write(stack.join("ports.yaml"), config("gopher")).unwrap();

    let (plan, _) = text(&strata(&["plan", s(&stack)]));
    assert!(
        plan.contains(r#"~ data["80"] = "http" -> "gopher""#),
        "{plan}"
    );
    let (drift, _) = text(&strata(&["drift", s(&stack)]));
    assert!(
        drift.contains(r#"~ data["80"]: "http" -> "gopher""#),
        "{drift}"
    );
    assert!(!drift.contains("data[80]"), "{drift}");
    let json = strata(&["drift", s(&stack), "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["resources"][0]["changes"][0]["path"], "/data/80");
}
