//! End-to-end tests of the `strata` binary on the embedded defaults.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[path = "cli/json_schemas.rs"]
mod json_schemas;
#[path = "cli/output_forms.rs"]
mod output_forms;
#[path = "cli/paths_and_lists.rs"]
mod paths_and_lists;

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A copy of the quickstart example in a temporary directory.
fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("quickstart");
    std::fs::create_dir(&stack).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), stack.join(entry.file_name())).unwrap();
        }
    }
    (dir, stack)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plan_apply_replan_and_drift() {
    let (_tmp, stack) = quickstart();
    let plan = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{:?}", text(&plan));
    let (out, _) = text(&plan);
    assert!(
        out.contains("Plan: 7 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    assert!(out.contains("(sandbox) will be created"), "{out}");
    assert!(
        !out.contains("change-me-in-a-real-stack"),
        "secrets never print"
    );

    let json = strata(&["plan", s(&stack), "-o", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["resource_changes"].as_array().unwrap().len(), 7);
    assert!(
        value["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["change"]["actions"] == serde_json::json!(["create"]))
    );

    let apply = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    assert!(
        text(&apply)
            .0
            .contains("Apply complete! Resources: 7 added, 0 changed, 0 destroyed.")
    );

    let again = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{:?}", text(&again));

    // Change the world behind Strata's back.
    let live = stack.join(".strata/sandbox/rds.aws.upbound.io/Instance/_cluster/payments-db.json");
    let edited = std::fs::read_to_string(&live)
        .unwrap()
        .replace("db.t3.small", "db.t3.large");
    std::fs::write(&live, edited).unwrap();
    let drift = strata(&["plan", s(&stack), "--detailed-exitcode"]);
    assert_eq!(drift.status.code(), Some(2));
    let (out, _) = text(&drift);
    assert!(
        out.contains("spec.forProvider.instanceClass = \"db.t3.large\" -> \"db.t3.small\""),
        "{out}"
    );
    assert!(out.contains("changed outside Strata"), "{out}");

    let heal = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(heal.status.code(), Some(0));
    assert_eq!(
        strata(&["plan", s(&stack), "--detailed-exitcode"])
            .status
            .code(),
        Some(0)
    );

    let state = std::fs::read_to_string(stack.join(".strata/state.json")).unwrap();
    assert!(
        !state.contains("change-me-in-a-real-stack"),
        "state keeps digests only"
    );
}

#[test]
fn bad_input_names_file_document_and_field_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    )
    .unwrap();
    let out = strata(&["apply", s(dir.path()), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    let (_, err) = text(&out);
    assert!(err.contains("broken.yaml"), "{err}");
    assert!(err.contains("document 1"), "{err}");
    assert!(err.contains("metadata.name"), "{err}");
    assert!(
        !dir.path().join(".strata").exists(),
        "nothing applied, no state written"
    );
}

#[test]
fn cycles_are_reported_with_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let cm = |name: &str, dep: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    strata.dev/depends-on: ConfigMap/{dep}\n---\n"
        )
    };
    let stack = dir.path().join("cycle");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(
        stack.join("c.yaml"),
        cm("a", "b") + &cm("b", "c") + &cm("c", "a"),
    )
    .unwrap();
    let out = strata(&["plan", s(&stack)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("dependency cycle: ConfigMap/a -> ConfigMap/c -> ConfigMap/b -> ConfigMap/a"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let (_tmp, stack) = quickstart();
    let out = strata(&["apply", s(&stack)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("--auto-approve"));
    assert!(!stack.join(".strata/state.json").exists());
}

#[test]
fn a_locked_state_refuses_apply_until_unlocked() {
    let (_tmp, stack) = quickstart();
    let lock = strata(&["state", "lock", s(&stack), "-o", "json"]);
    assert_eq!(lock.status.code(), Some(0), "{:?}", text(&lock));
    let info: serde_json::Value = serde_json::from_slice(&lock.stdout).unwrap();
    let id = info["ID"].as_str().unwrap().to_owned();
    let blocked = strata(&["apply", s(&stack), "--auto-approve"]);
    assert_eq!(blocked.status.code(), Some(1));
    assert!(
        text(&blocked).1.contains(&id),
        "the error names the holder: {:?}",
        text(&blocked)
    );
    assert_eq!(
        strata(&["state", "unlock", s(&stack), "not-the-id"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        strata(&["state", "force-unlock", s(&stack), &id])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        strata(&["apply", s(&stack), "--auto-approve"])
            .status
            .code(),
        Some(0)
    );
    let list = strata(&["state", "list", s(&stack)]);
    assert_eq!(text(&list).0.lines().count(), 7);
    let show = strata(&[
        "state",
        "show",
        s(&stack),
        "Secret/payments/payments-db-password",
    ]);
    assert!(text(&show).0.contains("sha256:"));
}

#[test]
fn destroy_removes_everything_dependents_first() {
    let (_tmp, stack) = quickstart();
    assert_eq!(
        strata(&["apply", s(&stack), "--auto-approve"])
            .status
            .code(),
        Some(0)
    );
    // The instance is protected: destroy is refused as a whole.
    let refused = strata(&["destroy", s(&stack), "--auto-approve"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).0.contains("is protected"),
        "{:?}",
        text(&refused)
    );
    // Lift the protection with an apply, then destroy.
    let db = stack.join("database.yaml");
    let text_db = std::fs::read_to_string(&db).unwrap().replace(
        "strata.dev/protect: \"true\"",
        "strata.dev/protect: \"false\"",
    );
    std::fs::write(&db, text_db).unwrap();
    assert_eq!(
        strata(&["apply", s(&stack), "--auto-approve"])
            .status
            .code(),
        Some(0)
    );
    let destroy = strata(&["destroy", s(&stack), "--auto-approve"]);
    assert_eq!(destroy.status.code(), Some(0), "{:?}", text(&destroy));
    let (out, _) = text(&destroy);
    assert!(
        out.ends_with("\nDestroy complete! Resources: 7 destroyed.\n"),
        "{out}"
    );
    assert!(!out.contains("Apply complete"), "{out}");
    assert_eq!(text(&strata(&["state", "list", s(&stack)])).0, "");
    let world = stack.join(".strata/sandbox");
    let objects: Vec<PathBuf> = walk(&world)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(
        objects.is_empty(),
        "the sandbox world holds no object: {objects:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn no_sandbox_turns_unserved_kinds_into_an_error() {
    let (_tmp, stack) = quickstart();
    let out = strata(&["plan", s(&stack), "--no-sandbox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).0.contains("no provider serves"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let (_tmp, stack) = quickstart();
    let dot = strata(&["graph", s(&stack)]);
    assert!(text(&dot).0.contains("\"rds.aws.upbound.io/SubnetGroup/payments-db-subnets\" -> \"rds.aws.upbound.io/Instance/payments-db\""));
    let mermaid = strata(&["graph", s(&stack), "-o", "mermaid"]);
    assert!(text(&mermaid).0.starts_with("flowchart LR"));
}

#[test]
fn drift_reports_git_and_world_changes_with_exit_codes() {
    let (_tmp, stack) = quickstart();
    assert_eq!(
        strata(&["apply", s(&stack), "--auto-approve"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        strata(&["drift", s(&stack), "--detailed-exitcode"])
            .status
            .code(),
        Some(0)
    );
    let live = stack.join(".strata/sandbox/rds.aws.upbound.io/Instance/_cluster/payments-db.json");
    let edited = std::fs::read_to_string(&live)
        .unwrap()
        .replace("db.t3.small", "db.t3.large");
    std::fs::write(&live, edited).unwrap();
    let db = stack.join("database.yaml");
    let edited = std::fs::read_to_string(&db)
        .unwrap()
        .replace("\"15.4\"", "\"15.5\"");
    std::fs::write(&db, edited).unwrap();
    let drift = strata(&["drift", s(&stack), "--detailed-exitcode", "-o", "json"]);
    assert_eq!(drift.status.code(), Some(2), "{:?}", text(&drift));
    let report: serde_json::Value = serde_json::from_slice(&drift.stdout).unwrap();
    let text_report = report.to_string();
    assert!(text_report.contains("instanceClass"), "{text_report}");
    assert!(text_report.contains("engineVersion"), "{text_report}");
    assert!(!text_report.contains("change-me-in-a-real-stack"));
    let markdown = strata(&["drift", s(&stack), "-o", "markdown"]);
    assert_eq!(
        markdown.status.code(),
        Some(0),
        "without --detailed-exitcode drift is not an error"
    );
    assert!(text(&markdown).0.contains("<details>"));
}

#[test]
fn providers_can_be_enabled_by_name() {
    let (_tmp, stack) = quickstart();
    let bad = strata(&["plan", s(&stack), "--provider", "gcp"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "unknown providers are a usage error, exit 1 (2 means changes present)"
    );
    assert!(
        text(&bad).1.contains("possible values: aws, k8s"),
        "{:?}",
        text(&bad)
    );
}

#[test]
fn prune_needs_the_kubernetes_provider() {
    let (_tmp, stack) = quickstart();
    let out = strata(&["apply", s(&stack), "--auto-approve", "--prune"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("--kube"), "{:?}", text(&out));
    assert!(
        !stack.join(".strata/state.json").exists(),
        "nothing applied"
    );
}

#[test]
fn render_explains_which_patch_wrote_each_field() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/postgresql");
    let out = strata(&["render", s(&example), "--explain"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (yaml, _) = text(&out);
    assert!(yaml.contains("instanceClass: db.t3.small"), "{yaml}");
    assert!(yaml.contains("allocatedStorage: 50"), "{yaml}");
    assert!(
        yaml.contains("resource rds-instance spec.forProvider.instanceClass <- patch[3] FromCompositeFieldPath from spec.parameters.size via map"),
        "{yaml}"
    );
    let json = strata(&["render", s(&example), "-o", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value[0]["composed"].as_array().unwrap().len(), 4);
    let empty = tempfile::tempdir().unwrap();
    let none = strata(&["render", s(empty.path())]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none).1.contains("no claim or composite"));
}

#[test]
fn render_refuses_a_pipeline_step_it_cannot_run_unless_told_to_skip_it() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render-kcl");
    let out = strata(&["render", s(&fixture)]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "composition xbuckets.example.org: pipeline step \"acl\" uses function \"function-kcl\", which Strata cannot run"
        ),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing rendered: {stdout}");

    let skipped = strata(&["render", s(&fixture), "--skip-unsupported-steps"]);
    let (stdout, stderr) = text(&skipped);
    assert_eq!(skipped.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("kind: Bucket"), "{stdout}");
    assert!(
        stderr.contains("skipped pipeline step \"acl\"") && stderr.contains("function-kcl"),
        "{stderr}"
    );
    let json = strata(&[
        "render",
        s(&fixture),
        "--skip-unsupported-steps",
        "-o",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(0), "{:?}", text(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        value[0]["skippedSteps"],
        serde_json::json!([{"step": "acl", "function": "function-kcl"}])
    );
    assert_eq!(value[0]["composed"].as_array().unwrap().len(), 1);
}

#[test]
fn render_runs_patch_and_transform_then_go_templating() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render-go-templating");
    let out = strata(&["render", s(&fixture), "-o", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let composed = value[0]["composed"].as_array().unwrap();
    let kinds: Vec<&str> = composed
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["BucketACL", "Bucket"], "{stdout}");
    for c in composed {
        assert_eq!(c["spec"]["forProvider"]["region"], "eu-west-1", "{c}");
    }
    assert_eq!(
        composed[0]["metadata"]["annotations"]["crossplane.io/composition-resource-name"],
        "acl"
    );
    assert_eq!(value[0]["skippedSteps"], serde_json::json!([]));
    let yaml = strata(&["render", s(&fixture)]);
    let (stdout, stderr) = text(&yaml);
    assert_eq!(yaml.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("kind: Bucket\n") && stdout.contains("kind: BucketACL"),
        "{stdout}"
    );
}

#[test]
fn render_without_an_xrd_renders_as_crossplane_render_does_and_says_so_once() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render-no-xrd");
    let out = strata(&["render", s(&fixture), "-o", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stderr.matches("no CompositeResourceDefinition").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("without schema checks or defaults"),
        "{stderr}"
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 2, "{stdout}");
    assert_eq!(value[1]["composite"]["spec"]["notInAnySchema"], true);
    assert_eq!(value[1]["composed"].as_array().unwrap().len(), 2);
}

#[test]
fn a_mistyped_flag_exits_1_on_every_subcommand_and_help_exits_0() {
    for command in [
        "plan",
        "apply",
        "destroy",
        "drift",
        "graph",
        "render",
        "state",
        "health",
        "generate",
        "set-image",
        "show",
        "import",
        "ownership",
        "validate",
        "completion",
        "man",
    ] {
        let out = strata(&[command, "--bogus"]);
        assert_eq!(out.status.code(), Some(1), "{command}: {:?}", text(&out));
        let help = strata(&[command, "--help"]);
        assert_eq!(
            help.status.code(),
            Some(0),
            "{command} --help: {:?}",
            text(&help)
        );
    }
    assert_eq!(strata(&["--version"]).status.code(), Some(0));
}

/// A command's help opens with the description `strata --help` lists for it, and lists the
/// global flags after its own (each command's flags are added only when it is built).
#[test]
fn each_command_help_opens_with_its_listed_description() {
    let (top, _) = text(&strata(&["--help"]));
    for (command, path) in [
        ("plan", &["plan"][..]),
        ("graph", &["graph"]),
        ("state", &["state"]),
        ("version", &["version"]),
        ("man", &["man"]),
        ("list", &["state", "list"]),
    ] {
        let (help, _) = text(&strata(&[path, &["--help"]].concat()));
        // Help text wraps at the terminal's width: compare words, not lines.
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let first = words(
            &help
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        );
        assert!(!first.is_empty(), "{path:?}: {help}");
        if path.len() == 1 {
            let listed = format!("{command} {}", first.trim_end_matches('.'));
            assert!(
                words(&top).contains(&listed),
                "{command}: {listed:?} not in {top}"
            );
        }
        assert!(!first.starts_with('`'), "{path:?}: {first}");
        let own = help.find("--help").unwrap_or(0);
        let global = help.find("--no-color").unwrap_or(usize::MAX);
        assert!(global < own, "{path:?}: {help}");
    }
}

/// Every command that works on a stack takes the same shared flags (one struct in the code).
#[test]
fn every_stack_command_takes_the_shared_flags() {
    let stack_commands: &[&[&str]] = &[
        &["plan"],
        &["apply"],
        &["destroy"],
        &["drift"],
        &["graph"],
        &["import"],
        &["ownership"],
        &["validate"],
        &["state", "list"],
        &["state", "show"],
        &["state", "lock"],
        &["state", "unlock"],
        &["state", "force-unlock"],
        &["state", "rm"],
        &["state", "mv"],
        &["state", "history"],
        &["state", "restore"],
        &["state", "recover"],
    ];
    let shared = [
        "--config <FILE>",
        "--state <PATH|s3://BUCKET/KEY|kubernetes://NAMESPACE/NAME>",
        "--stack-name <STACK_NAME>",
        "--revision <REV>",
        "--root <DIR>",
        "--repo <URL=PATH>",
        "--aws",
        "--aws-endpoint <URL>",
        "--aws-region <REGION>",
        "--provider <NAME>",
        "--kube",
        "--kubeconfig <FILE>",
        "--context <NAME>",
        "-n, --namespace <NAMESPACE>",
        "--parallelism <PARALLELISM>",
        "--no-sandbox",
        "--allow-kind <GROUP/KIND>",
        "--policy <DIR>",
        "--tfstate <PATH|s3://BUCKET/KEY>",
    ];
    for command in stack_commands {
        let help = strata(&[command, &["--help"][..]].concat());
        assert_eq!(
            help.status.code(),
            Some(0),
            "{command:?}: {:?}",
            text(&help)
        );
        let (out, _) = text(&help);
        let missing: Vec<_> = shared.iter().filter(|flag| !out.contains(*flag)).collect();
        assert!(
            missing.is_empty(),
            "{command:?} --help lacks {missing:?}:\n{out}"
        );
    }
}

#[test]
fn the_graph_reads_the_stack_at_a_revision() {
    let (_tmp, stack) = quickstart();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&stack)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "quickstart"]);
    git(&["tag", "v1"]);
    // A resource added after the tag is in the working tree's graph, not in v1's.
    std::fs::write(
        stack.join("later.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added-later\n  namespace: default\n",
    )
    .unwrap();
    let graph = |extra: &[&str]| {
        let out = strata(&[&["graph", s(&stack), "-o", "json"][..], extra].concat());
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let now = graph(&[]);
    assert!(
        now.contains(&"ConfigMap/default/added-later".to_owned()),
        "{now:?}"
    );
    let tagged = graph(&["--revision", "v1"]);
    assert!(
        !tagged.iter().any(|r| r.contains("added-later")),
        "{tagged:?}"
    );
    assert_eq!(tagged.len() + 1, now.len(), "{tagged:?} / {now:?}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let (_tmp, stack) = quickstart();
    // A reader that closes at once: the plan's JSON meets a broken pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["plan", s(&stack), "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_wrong_path_is_one_clear_error_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = strata(&["plan", s(&empty)]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("empty: no manifest found (looked for *.yaml, *.yml and *.json files"),
        "{:?}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing written"
    );

    let missing = strata(&["plan", s(&root.path().join("nope"))]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing).1.ends_with("nope: no such directory\n"),
        "{:?}",
        text(&missing)
    );
    let file = root.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let not_dir = strata(&["plan", s(&file)]);
    assert_eq!(not_dir.status.code(), Some(1));
    assert!(
        text(&not_dir)
            .1
            .contains("file.txt: not a directory; a stack is a directory of manifests"),
        "{:?}",
        text(&not_dir)
    );
}

#[test]
fn every_stack_command_names_a_wrong_path_once_and_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("some/dir/nope");
    let file = root.path().join("x.yaml");
    std::fs::write(&file, "").unwrap();
    let commands: &[&[&str]] = &[
        &["plan"],
        &["apply", "--auto-approve"],
        &["destroy", "--auto-approve"],
        &["drift"],
        &["graph"],
        &["import", "ConfigMap/default/a"],
        &["ownership"],
        &["state", "list"],
        &["state", "show", "ConfigMap/default/a"],
        &["state", "lock"],
        &["state", "unlock", "id"],
        &["state", "force-unlock", "id"],
        &["state", "rm", "ConfigMap/default/a"],
        &["state", "mv", "ConfigMap/default/a", "ConfigMap/default/b"],
        &["state", "history"],
        &["state", "restore", "1", "--auto-approve"],
        &["state", "recover"],
    ];
    for command in commands {
        // The path goes after the subcommand's words and before its own arguments.
        let words = if command[0] == "state" { 2 } else { 1 };
        let (words, rest) = command.split_at(words);
        for (path, expected) in [
            (&missing, "nope: no such directory\n".to_owned()),
            (
                &file,
                "x.yaml: not a directory; a stack is a directory of manifests\n".to_owned(),
            ),
        ] {
            if path == &file && words == ["apply"] {
                continue; // a file is a saved plan to apply (tests/saved_plans.rs)
            }
            let mut args = words.to_vec();
            args.push(s(path));
            args.extend_from_slice(rest);
            let out = strata(&args);
            let (_, err) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.starts_with("Error: "), "{args:?}: {err}");
            assert!(err.ends_with(&expected), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert_eq!(err.matches(s(path)).count(), 1, "{args:?}: {err}");
        }
        assert!(
            !root.path().join("some").exists(),
            "{command:?} wrote under the missing path"
        );
    }
}

#[test]
fn a_missing_input_file_is_one_lower_case_sentence() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope.yaml");
    let missing = s(&missing);
    let dir = s(root.path());
    for args in [
        vec!["validate", missing],
        vec!["render", missing],
        vec!["health", missing],
        vec!["generate", missing],
        vec!["set-image", missing, "app=img:1"],
        vec!["plan", dir, "--config", missing],
        vec!["state", "list", dir, "--config", missing],
    ] {
        let out = strata(&args);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.ends_with("nope.yaml: no such file or directory\n"),
            "{args:?}: {err}"
        );
        assert_eq!(err.matches("nope.yaml").count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn destroy_offers_only_what_destroy_means() {
    let help = strata(&["destroy", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let (out, _) = text(&help);
    for meaningless in [
        "--prune",
        "--adopt",
        "--output",
        "--replace",
        "--refresh-only",
    ] {
        assert!(!out.contains(meaningless), "{meaningless} in {out}");
    }
    for offered in ["--target", "--auto-approve", "--lock"] {
        assert!(out.contains(offered), "{offered} missing from {out}");
    }
    for refused in [&["--prune"][..], &["--adopt"], &["-o", "json"]] {
        let mut args = vec!["destroy", "."];
        args.extend_from_slice(refused);
        let out = strata(&args);
        assert_eq!(out.status.code(), Some(1), "{refused:?}: {:?}", text(&out));
        assert!(
            text(&out).1.contains("unexpected argument"),
            "{:?}",
            text(&out)
        );
    }
}

#[test]
fn destroy_of_a_saved_plan_names_the_command_that_applies_it() {
    let (_tmp, stack) = quickstart();
    let file = stack.parent().unwrap().join("destroy.plan");
    let plan = strata(&["plan", s(&stack), "--destroy", "--out", s(&file)]);
    assert_eq!(plan.status.code(), Some(0), "{:?}", text(&plan));
    let out = strata(&["destroy", s(&file), "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("`strata destroy` does not take a saved plan"),
        "{:?}",
        text(&out)
    );
}

/// `strata ARGS` on a terminal (a pseudo-terminal python3's `pty` opens), with `env` set and
/// `NO_COLOR` unset unless `env` sets it: what it printed.
fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new("python3");
    command
        .args(["-c", "import pty, sys; pty.spawn(sys.argv[1:])"])
        .arg(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_off_with_no_color() {
    let (_tmp, stack) = quickstart();
    let plan = ["plan", s(&stack)];
    let coloured = |out: &str| out.contains("\u{1b}[");
    let plain = on_a_terminal(&plan, &[]);
    assert!(plain.contains("will be created"), "{plain}");
    assert!(coloured(&plain), "a terminal gets colour: {plain}");
    // no-color.org: an empty NO_COLOR is as if it were unset.
    assert!(coloured(&on_a_terminal(&plan, &[("NO_COLOR", "")])));
    let refused = on_a_terminal(&plan, &[("NO_COLOR", "1")]);
    assert!(
        refused.contains("will be created") && !coloured(&refused),
        "{refused}"
    );
    for args in [
        ["--no-color", "plan", s(&stack)],
        ["plan", s(&stack), "--no-color"],
    ] {
        let out = on_a_terminal(&args, &[("NO_COLOR", "")]);
        assert!(
            out.contains("will be created") && !coloured(&out),
            "{args:?}: {out}"
        );
    }
    // Not a terminal: no colour.
    let piped = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(plan)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(!coloured(&text(&piped).0));
}

#[test]
fn completion_scripts_and_the_manual_page_come_from_the_command_line() {
    let bash = strata(&["completion", "bash"]);
    assert_eq!(bash.status.code(), Some(0), "{:?}", text(&bash));
    let (script, _) = text(&bash);
    for word in ["controller", "validate", "--no-color"] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    for shell in ["zsh", "fish", "powershell"] {
        let out = strata(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {:?}", text(&out));
        assert!(text(&out).0.contains("validate"), "{shell}");
    }
    assert_eq!(strata(&["completion", "tcsh"]).status.code(), Some(1));

    let man = strata(&["man"]);
    assert_eq!(man.status.code(), Some(0), "{:?}", text(&man));
    let (page, _) = text(&man);
    assert!(page.contains(".TH strata 1"), "{page}");
    assert!(page.contains(".SH NAME\nstrata \\- "), "{page}");
    assert!(page.contains("destroy"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = strata(&["man", "--out", s(&pages)]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for name in [
        "strata.1",
        "strata-plan.1",
        "strata-state-list.1",
        "strata-completion.1",
    ] {
        let page = std::fs::read_to_string(pages.join(name)).unwrap();
        assert!(page.contains(".SH NAME"), "{name}: {page}");
    }
}

#[test]
fn generated_text_into_a_closed_pipe_ends_quietly() {
    for args in [&["completion", "bash"][..], &["man"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn log_flags_choose_the_log_level_and_win_over_rust_log() {
    let (_tmp, stack) = quickstart();
    let stderr = |args: &[&str], rust_log: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("STRATA_LOG_LEVEL");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {:?}", text(&out));
        text(&out).1
    };
    let debug = |err: &str| {
        err.lines()
            .any(|l| l.contains("DEBUG") && l.contains("loaded the stack"))
    };
    assert!(
        !debug(&stderr(&["plan", s(&stack)], None)),
        "warnings only by default"
    );
    for args in [
        ["--log-level", "debug", "plan", s(&stack)],
        ["plan", s(&stack), "--log-level", "debug"],
        ["-vv", "plan", s(&stack), "--no-color"],
    ] {
        let err = stderr(&args, None);
        assert!(debug(&err), "{args:?}: {err}");
    }
    // RUST_LOG applies without a flag; an explicit flag wins over it.
    assert!(debug(&stderr(&["plan", s(&stack)], Some("debug"))));
    assert!(!debug(&stderr(
        &["plan", s(&stack), "--log-level", "warn"],
        Some("debug")
    )));
    assert!(!debug(&stderr(&["-q", "plan", s(&stack)], Some("debug"))));
    let both = strata(&["-v", "-q", "plan", s(&stack)]);
    assert_eq!(both.status.code(), Some(1), "{:?}", text(&both));
}
