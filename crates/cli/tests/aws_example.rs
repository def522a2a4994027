//! `examples/aws` applied by the CLI to moto (bootstrapped by `strata_aws::testing`), with the
//! state kept in S3.

use std::path::Path;
use std::process::{Command, Output};

use strata_aws::testing::MotoServer;

fn strata(moto: &MotoServer, args: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command.args(args);
    for (k, v) in moto.child_env() {
        command.env(k, v);
    }
    command
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    command.output().expect("run strata")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn copy_example(to: &Path, subnets: &[String]) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/aws");
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(&from).expect("examples/aws") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
            let body = std::fs::read_to_string(&path)
                .expect("read")
                .replace("SUBNET_A", &subnets[0])
                .replace("SUBNET_B", &subnets[1]);
            std::fs::write(to.join(path.file_name().expect("name")), body).expect("write");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_example_applies_to_moto_with_state_in_s3() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("cannot start moto: {e}"));
    let subnets = moto.seed_subnets().expect("seed subnets").subnet_ids;
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = dir.path().join("aws-example");
    copy_example(&stack, &subnets);
    let clients = moto.settings().load().await;
    let s3 = clients.s3(None);
    s3.create_bucket()
        .bucket("strata-example-states")
        .send()
        .await
        .expect("state bucket");
    let endpoint = moto.endpoint();
    let stack_arg = stack.to_str().expect("utf-8 path");
    let common = [
        "--aws-endpoint",
        endpoint.as_str(),
        "--aws-region",
        "us-east-1",
        "--state",
        "s3://strata-example-states/examples/aws.json",
    ];
    let with = |cmd: &[&'static str]| -> Vec<String> {
        cmd.iter()
            .copied()
            .chain(std::iter::once(stack_arg))
            .chain(common.iter().copied())
            .map(str::to_owned)
            .collect()
    };

    let plan = strata(&moto, &with(&["plan"]));
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        shown.contains("ec2.aws.upbound.io/SecurityGroup/strata-example-db-sg (sandbox)"),
        "unserved kinds go visibly to the sandbox: {shown}"
    );
    assert!(
        shown.contains("rds.aws.upbound.io/Instance/strata-example-db (aws)"),
        "{shown}"
    );
    assert!(
        shown.contains("s3.aws.upbound.io/Bucket/strata-example-assets (aws)"),
        "{shown}"
    );
    assert!(
        !shown.contains("change-me-please-0123"),
        "the password never shows"
    );

    let apply = strata(&moto, &with(&["apply", "--auto-approve"]));
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(!text(&apply).contains("change-me-please-0123"));

    // The world has what the example says.
    let versioning = s3
        .get_bucket_versioning()
        .bucket("strata-example-assets")
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let rds = clients.rds(None);
    let db = strata_aws::rds::instance::describe(&rds, "strata-example-db")
        .await
        .expect("describe")
        .expect("the instance exists");
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some("strata-example-db-subnets")
    );

    // The state is in S3, without the password.
    let state = s3
        .get_object()
        .bucket("strata-example-states")
        .key("examples/aws.json")
        .send()
        .await
        .expect("state object");
    let body = state.body.collect().await.expect("body").into_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("strata-example-db"), "{body}");
    assert!(!body.contains("change-me-please-0123"));

    // Nothing left to do.
    let again = strata(&moto, &with(&["plan", "--detailed-exitcode"]));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    // Destroy removes everything.
    let destroy = strata(&moto, &with(&["destroy", "--auto-approve"]));
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(
        !strata_aws::s3::bucket::exists(&s3, "strata-example-assets")
            .await
            .expect("head")
    );
    assert!(
        strata_aws::rds::instance::describe(&rds, "strata-example-db")
            .await
            .expect("describe")
            .is_none()
    );
}
