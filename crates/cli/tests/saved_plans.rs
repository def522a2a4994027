//! Saved plans, the Atlantis contract: `plan --out FILE` on the pull request, `show FILE` as
//! its comment, `apply FILE` on merge — applying exactly the reviewed plan or refusing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    env: prod\ndata:\n  key: {value}\n"
    )
}

const SECRET: &str = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\nstringData:\n  password: reviewed-secret-value\n";

/// A stack of two ConfigMaps and a Secret.
fn stack(root: &Path, alpha: &str) -> PathBuf {
    let dir = root.join("payments");
    std::fs::create_dir_all(&dir).unwrap();
    write_stack(&dir, alpha);
    dir
}

fn write_stack(dir: &Path, alpha: &str) {
    std::fs::write(
        dir.join("config.yaml"),
        config_map("alpha", alpha) + &config_map("beta", "b") + SECRET,
    )
    .unwrap();
}

fn world_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(".strata/sandbox/core/ConfigMap/default")
        .join(format!("{name}.json"))
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

#[test]
fn the_reviewed_plan_is_applied_exactly_or_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "one");
    ok(&strata(&["apply", s(&dir), "--auto-approve"]));

    // The pull request changes alpha; the plan is saved and shown as the PR comment.
    write_stack(&dir, "two");
    let plan_file = root.path().join("pr.plan");
    let plan = strata(&["plan", s(&dir), "--out", s(&plan_file)]);
    ok(&plan);
    assert!(String::from_utf8_lossy(&plan.stderr).contains("strata apply"));
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(
        !saved.contains("reviewed-secret-value"),
        "no secret in a saved plan"
    );
    let markdown = strata(&["show", s(&plan_file), "-o", "markdown"]);
    ok(&markdown);
    let comment = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        comment.contains("Saved plan for stack payments"),
        "{comment}"
    );
    assert!(comment.contains("ConfigMap/default/alpha"), "{comment}");
    assert!(comment.contains("data.key"), "{comment}");
    let json = strata(&["show", s(&plan_file), "-o", "json"]);
    ok(&json);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["saved_plan"]["stack"], "payments");
    assert_eq!(json["summary"]["change"], 1);

    // Someone changes alpha in the world behind Strata's back: the apply refuses.
    let live_path = world_file(&dir, "alpha");
    let mut live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
    live["data"]["key"] = "hand-edited".into();
    std::fs::write(&live_path, serde_json::to_vec(&live).unwrap()).unwrap();
    let refused = strata(&["apply", s(&plan_file)]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("no longer matches; nothing was applied"),
        "{err}"
    );
    assert!(
        err.contains(
            "ConfigMap/default/alpha: the live object changed since the plan (fields data.key)"
        ),
        "{err}"
    );
    let live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
    assert_eq!(live["data"]["key"], "hand-edited", "nothing applied");

    // Plan again, review, apply: exactly that plan, without confirmation or flags.
    ok(&strata(&["plan", s(&dir), "--out", s(&plan_file)]));
    let apply = strata(&["apply", s(&plan_file)]);
    ok(&apply);
    assert!(
        String::from_utf8_lossy(&apply.stdout)
            .contains("Apply complete! Resources: 0 added, 1 changed, 0 destroyed."),
        "{}",
        text(&apply)
    );
    let live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&live_path).unwrap()).unwrap();
    assert_eq!(live["data"]["key"], "two");
    let after = strata(&["plan", s(&dir), "--detailed-exitcode"]);
    ok(&after);

    // A plan is applied once: the state moved on.
    let again = strata(&["apply", s(&plan_file)]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the state changed since the plan"),
        "{}",
        text(&again)
    );
}

#[test]
fn a_secret_changed_after_review_refuses_the_apply() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "one");
    let plan_file = root.path().join("pr.plan");
    ok(&strata(&["plan", s(&dir), "--out", s(&plan_file)]));
    let body = std::fs::read_to_string(dir.join("config.yaml"))
        .unwrap()
        .replace("reviewed-secret-value", "swapped-after-review");
    std::fs::write(dir.join("config.yaml"), body).unwrap();
    let refused = strata(&["apply", s(&plan_file)]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("the desired set read now differs from the one planned"),
        "{err}"
    );
    assert!(!err.contains("swapped-after-review") && !err.contains("reviewed-secret"));
    assert!(!world_file(&dir, "alpha").exists(), "nothing applied");
}

#[test]
fn a_plan_made_from_a_revision_applies_that_commit_even_after_the_branch_moves() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "one");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.join(".gitignore"), ".strata/\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "reviewed"]);
    let reviewed = git(&["rev-parse", "HEAD"]);
    let plan_file = root.path().join("pr.plan");
    ok(&strata(&[
        "plan",
        s(&dir),
        "--revision",
        "main",
        "--out",
        s(&plan_file),
    ]));
    let json: serde_json::Value =
        serde_json::from_slice(&strata(&["show", s(&plan_file), "-o", "json"]).stdout).unwrap();
    assert_eq!(json["saved_plan"]["source"]["commit"], reviewed.as_str());
    assert_eq!(json["saved_plan"]["source"]["pinned"], true);

    // The branch moves on (and the work tree with it) before the apply runs.
    write_stack(&dir, "unreviewed");
    git(&["commit", "-qam", "later"]);
    ok(&strata(&["apply", s(&plan_file)]));
    let live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world_file(&dir, "alpha")).unwrap()).unwrap();
    assert_eq!(
        live["data"]["key"], "one",
        "the reviewed commit was applied"
    );
}

#[test]
fn bad_plan_files_and_other_settings_are_refused_before_anything_is_applied() {
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "one");

    let corrupt = root.path().join("corrupt.plan");
    std::fs::write(&corrupt, "{\"kind\": \"StrataSavedPlan\", \"format_ver").unwrap();
    let out = strata(&["apply", s(&corrupt)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("corrupt.plan: not a Strata saved plan"),
        "{}",
        text(&out)
    );
    let out = strata(&["show", s(&corrupt)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let plan_file = root.path().join("pr.plan");
    ok(&strata(&["plan", s(&dir), "--out", s(&plan_file)]));
    // Another stack's identity or state is never used with this plan.
    let out = strata(&["apply", s(&plan_file), "--stack-name", "other"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a saved plan applies with the settings it was made with; these differ: --stack-name \"other\""),
        "{err}"
    );
    // The stack's configuration changed since the plan.
    std::fs::write(dir.join("strata.yaml"), "name: renamed\n").unwrap();
    let out = strata(&["apply", s(&plan_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed since the plan"),
        "{}",
        text(&out)
    );
    assert!(!world_file(&dir, "alpha").exists(), "nothing applied");
    assert!(!dir.join(".strata/state.json").exists(), "nothing applied");

    // A plan the guards refuse is not saved.
    std::fs::remove_file(dir.join("strata.yaml")).unwrap();
    let blocked = root.path().join("blocked.plan");
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n  namespace: default\n",
    )
    .unwrap();
    let out = strata(&["plan", s(&dir), "--out", s(&blocked)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!blocked.exists());
}

fn bucket(tag: &str) -> String {
    format!(
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: strata-saved-plan-assets\n\
         spec:\n  forProvider:\n    region: us-east-1\n    forceDestroy: true\n    tags:\n      team: {tag}\n"
    )
}

fn strata_env(args: &[&str], env: &[(&'static str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atlantis_flow_on_moto_with_the_state_in_s3() {
    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let env = moto.child_env();
    let s3 = moto.settings().load().await.s3(None);
    s3.create_bucket()
        .bucket("strata-saved-plan-states")
        .send()
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("assets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("strata.yaml"),
        format!(
            "name: assets\nbackend:\n  s3:\n    bucket: strata-saved-plan-states\n    key: assets.json\n\
             providers:\n  aws:\n    region: us-east-1\n    endpoint: {}\nsandbox:\n  enabled: false\n",
            moto.endpoint()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("bucket.yaml"), bucket("platform")).unwrap();
    let apply = strata_env(&["apply", s(&dir), "--auto-approve"], &env);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));

    // The pull request retags the bucket: plan --out, show as the comment.
    std::fs::write(dir.join("bucket.yaml"), bucket("payments")).unwrap();
    let plan_file = root.path().join("pr.plan");
    let plan = strata_env(&["plan", s(&dir), "--out", s(&plan_file)], &env);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let shown = strata_env(&["show", s(&plan_file), "-o", "markdown"], &env);
    let comment = String::from_utf8_lossy(&shown.stdout);
    assert!(
        comment.contains("s3.aws.upbound.io/Bucket/strata-saved-plan-assets"),
        "{comment}"
    );

    // Someone retags the bucket by hand: the saved plan is refused, with the field.
    let tagging = |value: &str| {
        aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("team")
                    .value(value)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let before = s3
        .get_bucket_tagging()
        .bucket("strata-saved-plan-assets")
        .send()
        .await
        .unwrap();
    let mut by_hand: Vec<aws_sdk_s3::types::Tag> = before
        .tag_set()
        .iter()
        .filter(|t| t.key() != "team")
        .cloned()
        .collect();
    by_hand.extend(tagging("by-hand").tag_set().iter().cloned());
    s3.put_bucket_tagging()
        .bucket("strata-saved-plan-assets")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(by_hand))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let refused = strata_env(&["apply", s(&plan_file)], &env);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("s3.aws.upbound.io/Bucket/strata-saved-plan-assets: the live object changed since the plan"),
        "{err}"
    );
    assert!(err.contains("tags"), "{err}");
    let team = |tags: &aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput| {
        tags.tag_set()
            .iter()
            .find(|t| t.key() == "team")
            .map(|t| t.value().to_owned())
    };
    let now = s3
        .get_bucket_tagging()
        .bucket("strata-saved-plan-assets")
        .send()
        .await
        .unwrap();
    assert_eq!(team(&now).as_deref(), Some("by-hand"), "nothing applied");

    // Re-plan, apply the new saved plan, and nothing is left to do.
    let plan = strata_env(&["plan", s(&dir), "--out", s(&plan_file)], &env);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let apply = strata_env(&["apply", s(&plan_file)], &env);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    let now = s3
        .get_bucket_tagging()
        .bucket("strata-saved-plan-assets")
        .send()
        .await
        .unwrap();
    assert_eq!(team(&now).as_deref(), Some("payments"));
    let after = strata_env(&["plan", s(&dir), "--detailed-exitcode"], &env);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}

/// `state` subcommands take `--aws-endpoint` and `--aws-region` like every stack command: a
/// state in S3 is listed from moto, not from AWS, with no endpoint in the environment or the
/// configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_list_reads_an_s3_state_through_aws_endpoint() {
    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let env = moto.child_env();
    moto.settings()
        .load()
        .await
        .s3(None)
        .create_bucket()
        .bucket("strata-cli-state-list")
        .send()
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = stack(root.path(), "a");
    let endpoint = moto.endpoint();
    let flags = [
        "--state",
        "s3://strata-cli-state-list/payments.json",
        "--aws-endpoint",
        &endpoint,
        "--aws-region",
        "us-east-1",
    ];
    let apply = strata_env(
        &[&["apply", s(&dir), "--auto-approve"][..], &flags].concat(),
        &env,
    );
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(
        !dir.join(".strata/state.json").exists(),
        "the state is in S3"
    );

    let list = strata_env(
        &[&["state", "list", s(&dir), "-o", "json"][..], &flags].concat(),
        &env,
    );
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let text_of = listed.to_string();
    for address in [
        "ConfigMap/default/alpha",
        "ConfigMap/default/beta",
        "Secret/default/db",
    ] {
        assert!(text_of.contains(address), "{address} in {text_of}");
    }
    let show = strata_env(
        &[
            &["state", "show", s(&dir), "ConfigMap/default/beta"][..],
            &flags,
        ]
        .concat(),
        &env,
    );
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("beta"),
        "{}",
        text(&show)
    );
}

/// A profile whose credentials come from `credential_process` (as aws-vault and granted set
/// up) signs the S3 state's requests: the process runs, and moto (which takes any key)
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_process_profile_signs_in() {
    use std::os::unix::fs::PermissionsExt;

    let moto = strata_aws::testing::MotoServer::shared()
        .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    moto.settings()
        .load()
        .await
        .s3(None)
        .create_bucket()
        .bucket("strata-cli-credential-process")
        .send()
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let marker = root.path().join("credential-process-ran");
    let script = root.path().join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho ran >> '{}'\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"process-key\", \"SecretAccessKey\": \"process-secret\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = root.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile strata-login]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let dir = stack(root.path(), "a");
    let endpoint = moto.endpoint();
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
        command
            .args(args)
            .args([
                "--state",
                "s3://strata-cli-credential-process/payments.json",
                "--aws-endpoint",
                &endpoint,
            ])
            .env("NO_COLOR", "1")
            .env("AWS_PROFILE", "strata-login")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null());
        command.output().unwrap()
    };
    let apply = run(&["apply", s(&dir), "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", text(&apply));
    assert!(marker.exists(), "the credential process ran");
    let list = run(&["state", "list", s(&dir)]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("ConfigMap/default/alpha"),
        "{}",
        text(&list)
    );

    // Without the process's credentials there is no sign-in: the same profile with a process
    // that fails is an error, not a silent anonymous request.
    std::fs::write(&script, "#!/bin/sh\nexit 3\n").unwrap();
    let refused = run(&["state", "list", s(&dir)]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
}
