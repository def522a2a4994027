//! `-o human|json|yaml|markdown`: every data command prints each form it lists, YAML holds
//! the same data as JSON, and a form a command does not print is a usage error (exit 1)
//! naming the forms it has.

use super::{quickstart, s, strata, text};
use std::path::Path;

/// Runs `args` expecting success; its standard output.
fn ok(args: &[&str]) -> String {
    let out = strata(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {:?}", text(&out));
    text(&out).0
}

/// The data of `-o json` and of `-o yaml` for the same command line, which must agree.
fn json_and_yaml_agree(args: &[&str]) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&ok(&[args, &["-o", "json"]].concat())).unwrap();
    let yaml_text = ok(&[args, &["-o", "yaml"]].concat());
    assert!(yaml_text.starts_with("---\n"), "{yaml_text}");
    let yaml: serde_json::Value = serde_saphyr::from_str(&yaml_text).unwrap();
    assert_eq!(
        json, yaml,
        "{args:?}: the YAML holds other data than the JSON"
    );
    json
}

/// `args` is refused as a usage error (exit 1) naming `named`.
fn refused(args: &[&str], named: &[&str]) {
    let out = strata(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {:?}", text(&out));
    let (stdout, err) = text(&out);
    assert!(stdout.is_empty(), "{args:?} printed {stdout}");
    for n in named {
        assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
    }
}

#[test]
fn plan_show_drift_and_state_print_every_form() {
    let (_tmp, stack) = quickstart();
    let dir = s(&stack);
    let plan = json_and_yaml_agree(&["plan", dir]);
    assert_eq!(plan["resource_changes"].as_array().unwrap().len(), 7);
    assert!(ok(&["plan", dir, "-o", "markdown"]).contains("7 to add"));
    assert!(ok(&["plan", dir]).contains("Plan: 7 to add"));

    let saved = stack.join("plan.bin");
    ok(&["plan", dir, "--out", s(&saved)]);
    let show = json_and_yaml_agree(&["show", s(&saved)]);
    assert_eq!(show["saved_plan"]["stack"], "quickstart");
    assert!(ok(&["show", s(&saved), "-o", "markdown"]).starts_with("_Saved plan for stack"));

    ok(&["apply", dir, "--auto-approve"]);
    let drift = json_and_yaml_agree(&["drift", dir]);
    assert!(drift.is_object(), "{drift}");
    ok(&["drift", dir, "-o", "markdown"]);

    let list = json_and_yaml_agree(&["state", "list", dir]);
    assert_eq!(list.as_array().unwrap().len(), 7);
    let table = ok(&["state", "list", dir, "-o", "markdown"]);
    assert!(table.contains("| address | provider | status |"), "{table}");
    assert!(
        table.contains("| `rds.aws.upbound.io/Instance/payments-db` | sandbox | applied |"),
        "{table}"
    );

    let address = "rds.aws.upbound.io/Instance/payments-db";
    let record = json_and_yaml_agree(&["state", "show", dir, address]);
    assert_eq!(record["provider"], "sandbox");
    let human = ok(&["state", "show", dir, address]);
    assert!(
        human.starts_with(&format!("{address}\n  provider:   sandbox\n")),
        "{human}"
    );
    assert!(
        human.contains("  last applied:\n    apiVersion: "),
        "{human}"
    );
    assert!(
        !human.contains('{'),
        "the readable form is no JSON: {human}"
    );
    let markdown = ok(&["state", "show", dir, address, "-o", "markdown"]);
    assert!(
        markdown.starts_with(&format!("#### `{address}`")),
        "{markdown}"
    );
    assert!(markdown.contains("```yaml\napiVersion: "), "{markdown}");

    let history = json_and_yaml_agree(&["state", "history", dir]);
    assert!(!history.as_array().unwrap().is_empty());
    assert!(ok(&["state", "history", dir, "-o", "markdown"]).contains("| version | serial |"));
}

#[test]
fn health_prints_a_markdown_table_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("pods.yaml");
    std::fs::write(
        &live,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: web}\nstatus: {phase: Failed, message: \"crashed | twice\"}\n",
    )
    .unwrap();
    let json = json_and_yaml_agree(&["health", s(&live)]);
    assert_eq!(json["aggregate"]["status"], "Degraded");
    let markdown = ok(&["health", s(&live), "-o", "markdown"]);
    assert!(markdown.starts_with("#### Health: Degraded"), "{markdown}");
    assert!(
        markdown.contains("| Degraded | `Pod` | `web/b` | crashed \\| twice |"),
        "{markdown}"
    );
    assert!(ok(&["health", s(&live)]).contains("Aggregate: Degraded"));
}

#[test]
fn graph_prints_json_yaml_and_a_mermaid_block() {
    let (_tmp, stack) = quickstart();
    let dir = s(&stack);
    let graph = json_and_yaml_agree(&["graph", dir]);
    let resources = graph["resources"].as_array().unwrap();
    let position = |key: &str| resources.iter().position(|r| r == key).unwrap();
    let (subnets, db) = (
        "rds.aws.upbound.io/SubnetGroup/payments-db-subnets",
        "rds.aws.upbound.io/Instance/payments-db",
    );
    assert!(position(subnets) < position(db), "{graph}");
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"dependency": subnets, "dependent": db})),
        "{graph}"
    );
    let markdown = ok(&["graph", dir, "-o", "markdown"]);
    assert!(
        markdown.starts_with("```mermaid\nflowchart LR\n"),
        "{markdown}"
    );
    assert!(markdown.ends_with("```\n"), "{markdown}");
    assert!(ok(&["graph", dir, "--format", "dot"]).starts_with("digraph"));
}

#[test]
fn render_and_generate_print_markdown_and_refuse_human() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/postgresql");
    let markdown = ok(&["render", s(&example), "-o", "markdown"]);
    assert!(markdown.starts_with("#### "), "{markdown}");
    assert_eq!(markdown.matches("```yaml\n").count(), 4, "{markdown}");
    refused(
        &["render", s(&example), "-o", "human"],
        &["'human'", "yaml, json, markdown"],
    );
    refused(
        &["generate", s(&example), "-o", "human"],
        &["'human'", "yaml, json, markdown"],
    );
}

#[test]
fn version_prints_text_json_and_yaml() {
    assert_eq!(
        ok(&["--version"]),
        format!("strata {}\n", env!("CARGO_PKG_VERSION"))
    );
    for args in [&["--version"][..], &["version"][..]] {
        let json = json_and_yaml_agree(args);
        assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(json["name"], "strata");
    }
    refused(
        &["version", "-o", "markdown"],
        &["'markdown'", "human, json, yaml"],
    );
    refused(&["-o", "json"], &["--version"]);
}

#[test]
fn a_form_a_command_does_not_print_is_a_usage_error() {
    let (_tmp, stack) = quickstart();
    let dir = s(&stack);
    refused(
        &["validate", dir, "-o", "markdown"],
        &["'markdown'", "human, json, yaml"],
    );
    refused(
        &["state", "lock", dir, "-o", "markdown"],
        &["'markdown'", "human, json, yaml"],
    );
    refused(
        &["state", "recover", dir, "-o", "markdown"],
        &["'markdown'", "human, json, yaml"],
    );
    refused(&["app", "list", "-o", "markdown"], &["'markdown'"]);
    refused(
        &["plan", dir, "-o", "xml"],
        &["'xml'", "human, json, yaml, markdown"],
    );
    refused(
        &["graph", dir, "-o", "human"],
        &["'human'", "dot, mermaid, json"],
    );
    // Known only once the flags are read together: refused, not printed as another form.
    refused(
        &["plan", dir, "--refresh-only", "-o", "markdown"],
        &[
            "-o markdown is not available for strata plan --refresh-only; it prints human, json, yaml",
        ],
    );
    assert!(!stack.join(".strata/state.json").exists());
}
