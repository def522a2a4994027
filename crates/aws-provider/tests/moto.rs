//! Integration tests against moto on 127.0.0.1 (bootstrapped by `strata_aws::testing`): the
//! providers through core's plan/apply, drift healing, and the S3 state backend under races.
//!
//! Every client carries explicit credentials, region and endpoint, so nothing reads the
//! instance metadata service; child processes get `AWS_EC2_METADATA_DISABLED=true`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use strata_aws::testing::MotoServer;
use strata_aws::{AwsClients, AwsProvider, S3StateStore, StaticSecrets};
use strata_core::executor::{ExecutorConfig, Report, cancellation};
use strata_core::plan::{Action, ActionReason, Guard, Plan, PlanOptions};
use strata_core::state::{LockInfo, State, StateError, StateStore};
use strata_core::{Engine, LocalStateStore, ProviderRegistry, Resource, SandboxProvider};
use strata_drift::{DriftNormalizer, DriftRules};

fn moto() -> Arc<MotoServer> {
    MotoServer::shared().unwrap_or_else(|e| panic!("cannot start moto: {e}"))
}

struct Stack {
    _moto: Arc<MotoServer>,
    clients: AwsClients,
    engine: Engine,
    dir: tempfile::TempDir,
    name: String,
}

impl Stack {
    async fn new(name: &str) -> Self {
        Self::with_secrets(name, StaticSecrets::new()).await
    }

    async fn with_secrets(name: &str, secrets: StaticSecrets) -> Self {
        let moto = moto();
        let clients = moto.settings().load().await;
        let provider = AwsProvider::new(clients.clone())
            .with_secrets(Arc::new(secrets))
            .with_delete_wait(Duration::from_secs(20));
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine {
            registry: ProviderRegistry::new()
                .with_provider(Arc::new(provider))
                .with_fallback(Arc::new(SandboxProvider::new(dir.path().join("world")))),
            normalizer: Arc::new(DriftNormalizer::new(DriftRules::default())),
            store: Arc::new(LocalStateStore::new(dir.path().join("state.json"))),
            config: ExecutorConfig::default().with_parallelism(4),
        };
        Self {
            _moto: moto,
            clients,
            engine,
            dir,
            name: name.to_owned(),
        }
    }

    fn options(&self) -> PlanOptions {
        PlanOptions::new(self.name.clone())
    }

    async fn plan(&self, desired: &[Value]) -> Plan {
        let resources: Vec<Resource> = desired
            .iter()
            .map(|m| Resource::from_manifest(m.clone()).expect("manifest"))
            .collect();
        self.engine
            .plan(resources, &self.options())
            .await
            .expect("plan")
            .0
    }

    async fn apply_with(&self, desired: &[Value], options: &PlanOptions) -> (Plan, Report) {
        let resources: Vec<Resource> = desired
            .iter()
            .map(|m| Resource::from_manifest(m.clone()).expect("manifest"))
            .collect();
        let (plan, state) = self.engine.plan(resources, options).await.expect("plan");
        let (_handle, cancel) = cancellation();
        let report = self
            .engine
            .apply(&plan, state, "apply", Arc::new(|_| {}), cancel)
            .await
            .expect("apply");
        (plan, report)
    }

    async fn apply(&self, desired: &[Value]) -> Plan {
        let (plan, report) = self.apply_with(desired, &self.options()).await;
        assert!(report.is_success(), "apply failed: {report:?}");
        let again = self.plan(desired).await;
        assert!(
            !again.has_changes(),
            "a second plan right after apply must be empty: {:#?}",
            again
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| (&c.key, c.action, &c.fields))
                .collect::<Vec<_>>()
        );
        plan
    }

    fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state.json")).unwrap_or_default()
    }
}

fn action_of(plan: &Plan, kind: &str) -> Action {
    plan.changes
        .iter()
        .find(|c| c.key.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in the plan"))
        .action
}

fn bucket(name: &str, tags: Value) -> Value {
    json!({
        "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": name},
        "spec": {"forProvider": {"region": "us-east-1", "tags": tags, "forceDestroy": true}}
    })
}

fn bucket_settings(name: &str) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersioning",
            "metadata": {"name": format!("{name}-versioning")},
            "spec": {"forProvider": {"region": "us-east-1", "bucketRef": {"name": name},
                     "versioningConfiguration": [{"status": "Enabled"}]}}
        }),
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketServerSideEncryptionConfiguration",
            "metadata": {"name": format!("{name}-encryption")},
            "spec": {"forProvider": {"region": "us-east-1", "bucketRef": {"name": name},
                     "rule": [{"applyServerSideEncryptionByDefault": [{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/strata"}],
                               "bucketKeyEnabled": true}]}}
        }),
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketPublicAccessBlock",
            "metadata": {"name": format!("{name}-pab")},
            "spec": {"forProvider": {"region": "us-east-1", "bucketRef": {"name": name},
                     "blockPublicAcls": true, "blockPublicPolicy": true,
                     "ignorePublicAcls": true, "restrictPublicBuckets": true}}
        }),
    ]
}

async fn live_bucket_tags(clients: &AwsClients, name: &str) -> BTreeMap<String, String> {
    strata_aws::s3::bucket::read_tags(&clients.s3(None), name)
        .await
        .expect("tags")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_with_settings_create_update_drift_replace_delete() {
    let stack = Stack::new("buckets").await;
    let name = "strata-it-logs";
    let mut desired = vec![bucket(name, json!({"env": "dev"}))];
    desired.extend(bucket_settings(name));

    // Create: four resources, all on the aws provider.
    let plan = stack.apply(&desired).await;
    assert_eq!(plan.changes.len(), 4);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == Action::Create && c.provider == "aws")
    );
    let s3 = stack.clients.s3(None);
    let versioning = s3
        .get_bucket_versioning()
        .bucket(name)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let enc = s3
        .get_bucket_encryption()
        .bucket(name)
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(by_default.kms_master_key_id(), Some("alias/strata"));
    let tags = live_bucket_tags(&stack.clients, name).await;
    assert_eq!(tags["env"], "dev");
    assert_eq!(
        tags["strata.dev/stack"], "buckets",
        "ownership travels as tags"
    );
    assert_eq!(tags["app.kubernetes.io/managed-by"], "strata");

    // Update in place: a tag value.
    desired[0] = bucket(name, json!({"env": "prod"}));
    let plan = stack.apply(&desired).await;
    assert_eq!(action_of(&plan, "Bucket"), Action::Update);
    assert_eq!(action_of(&plan, "BucketVersioning"), Action::NoOp);
    assert_eq!(live_bucket_tags(&stack.clients, name).await["env"], "prod");

    // Drift: tags changed behind Strata's back are detected and healed.
    let mut hacked = tags.clone();
    hacked.insert("env".into(), "hacked".into());
    s3.put_bucket_tagging()
        .bucket(name)
        .tagging(strata_aws::s3::bucket::tagging(&hacked).unwrap())
        .send()
        .await
        .unwrap();
    let drifted = stack.plan(&desired).await;
    let change = drifted
        .changes
        .iter()
        .find(|c| c.key.kind == "Bucket")
        .unwrap();
    assert_eq!(change.action, Action::Update);
    assert!(change.drifted, "the change is attributed to the world");
    assert!(
        change
            .fields
            .iter()
            .any(|f| f.path == "spec.forProvider.tags.env" && f.before == Some(json!("hacked")))
    );
    // Versioning suspended behind Strata's back is drift too.
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = stack.apply(&desired).await;
    assert_eq!(action_of(&plan, "BucketVersioning"), Action::Update);
    assert_eq!(live_bucket_tags(&stack.clients, name).await["env"], "prod");
    let versioning = s3
        .get_bucket_versioning()
        .bucket(name)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));

    // Replace: the region forces a new bucket (delete, then create in eu-west-1).
    let lone = "strata-it-moving";
    let mut moving = bucket(lone, json!({"team": "a"}));
    let with_lone = |b: &Value| {
        let mut d = desired.clone();
        d.push(b.clone());
        d
    };
    stack.apply(&with_lone(&moving)).await;
    moving["spec"]["forProvider"]["region"] = json!("eu-west-1");
    let plan = stack.plan(&with_lone(&moving)).await;
    let change = plan.changes.iter().find(|c| c.key.name == lone).unwrap();
    assert_eq!(change.action, Action::DeleteThenCreate);
    assert_eq!(
        change.reason,
        Some(ActionReason::ReplaceBecauseCannotUpdate)
    );
    assert_eq!(
        change.replace_paths,
        vec!["spec.forProvider.region".to_owned()]
    );
    stack.apply(&with_lone(&moving)).await;
    let location = stack
        .clients
        .s3(Some("eu-west-1"))
        .get_bucket_location()
        .bucket(lone)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );

    // Delete: everything leaves the desired set; objects go with forceDestroy.
    s3.put_object()
        .bucket(name)
        .key("a.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let plan = stack.apply(&[]).await;
    assert_eq!(plan.changes.len(), 5);
    assert!(plan.changes.iter().all(|c| c.action == Action::Delete));
    assert!(!strata_aws::s3::bucket::exists(&s3, name).await.unwrap());
    assert!(
        !strata_aws::s3::bucket::exists(&stack.clients.s3(Some("eu-west-1")), lone)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_buckets_need_adoption_and_external_names_pick_the_bucket() {
    let stack = Stack::new("adoption").await;
    let s3 = stack.clients.s3(None);
    s3.create_bucket()
        .bucket("strata-it-handmade")
        .send()
        .await
        .unwrap();
    let desired = vec![json!({
        "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": "handmade", "annotations": {"crossplane.io/external-name": "strata-it-handmade"}},
        "spec": {"forProvider": {"region": "us-east-1", "tags": {"owner": "me"}}}
    })];
    let plan = stack.plan(&desired).await;
    assert_eq!(action_of(&plan, "Bucket"), Action::Update);
    assert!(
        plan.violations.iter().any(|v| v.guard == Guard::Ownership),
        "an untagged bucket is unmanaged: {:?}",
        plan.violations
    );
    let options = stack.options().with_adopt(true);
    let (plan, report) = stack.apply_with(&desired, &options).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(
        plan.changes[0].reason,
        Some(ActionReason::Adopt),
        "adoption is explicit in the plan"
    );
    let tags = live_bucket_tags(&stack.clients, "strata-it-handmade").await;
    assert_eq!(tags["strata.dev/stack"], "adoption");
    assert_eq!(tags["owner"], "me");
    assert!(!stack.plan(&desired).await.has_changes());
    stack.apply(&[]).await;
    assert!(
        !strata_aws::s3::bucket::exists(&s3, "strata-it-handmade")
            .await
            .unwrap()
    );
}

/// The quickstart's storage: a Bucket whose AWS name (external name) differs from its
/// metadata name, and a BucketVersioning naming it through `bucketRef`.
fn quickstart_storage() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "payments-assets",
                         "annotations": {"crossplane.io/external-name": "payments-assets-eu"}},
            "spec": {"forProvider": {"region": "eu-west-1", "tags": {"team": "payments"},
                                     "forceDestroy": true}}
        }),
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "BucketVersioning",
            "metadata": {"name": "payments-assets-versioning"},
            "spec": {"forProvider": {"region": "eu-west-1",
                                     "bucketRef": {"name": "payments-assets"},
                                     "versioningConfiguration": [{"status": "Enabled"}]}}
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_reference_configures_the_bucket_named_by_its_external_name() {
    let stack = Stack::new("references").await;
    let desired = quickstart_storage();

    let plan = stack.plan(&desired).await;
    let versioning = plan
        .changes
        .iter()
        .find(|c| c.key.kind == "BucketVersioning")
        .unwrap();
    assert_eq!(
        versioning.after().unwrap()["spec"]["forProvider"]["bucket"],
        "payments-assets-eu",
        "the plan shows the resolved bucket"
    );

    stack.apply(&desired).await;
    let s3 = stack.clients.s3(Some("eu-west-1"));
    let status = s3
        .get_bucket_versioning()
        .bucket("payments-assets-eu")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().map(|s| s.as_str()), Some("Enabled"));
    assert!(
        !strata_aws::s3::bucket::exists(&s3, "payments-assets")
            .await
            .unwrap(),
        "nothing is created under the Kubernetes name"
    );

    stack.apply(&[]).await;
    assert!(
        !strata_aws::s3::bucket::exists(&s3, "payments-assets-eu")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1beta2_settings_write_their_blocks_as_objects_and_settle() {
    let stack = Stack::new("objects").await;
    let desired = vec![
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta2", "kind": "Bucket",
            "metadata": {"name": "block-objects"},
            "spec": {"forProvider": {"region": "us-east-1", "forceDestroy": true}}
        }),
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta2", "kind": "BucketVersioning",
            "metadata": {"name": "block-objects-versioning"},
            "spec": {"forProvider": {"region": "us-east-1", "bucketRef": {"name": "block-objects"},
                     "versioningConfiguration": {"status": "Enabled"}}}
        }),
        json!({
            "apiVersion": "s3.aws.upbound.io/v1beta2", "kind": "BucketServerSideEncryptionConfiguration",
            "metadata": {"name": "block-objects-encryption"},
            "spec": {"forProvider": {"region": "us-east-1", "bucketRef": {"name": "block-objects"},
                     "rule": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}}
        }),
    ];
    // `apply` also checks that a second plan right after it is empty: the live objects are
    // read back in the manifests' shape.
    stack.apply(&desired).await;
    let versioning = stack
        .clients
        .s3(None)
        .get_bucket_versioning()
        .bucket("block-objects")
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    stack.apply(&[]).await;
}

fn subnet_group(name: &str, subnets: &[String]) -> Value {
    json!({
        "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "SubnetGroup",
        "metadata": {"name": name},
        "spec": {"forProvider": {"region": "us-east-1", "description": "test subnets", "subnetIds": subnets, "tags": {"team": "data"}}}
    })
}

fn parameter_group(name: &str) -> Value {
    json!({
        "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "ParameterGroup",
        "metadata": {"name": name},
        "spec": {"forProvider": {"region": "us-east-1", "family": "postgres16", "description": "test params",
                 "parameter": [{"name": "log_min_duration_statement", "value": "500", "applyMethod": "immediate"}]}}
    })
}

fn instance(id: &str, group: &str, params: &str, class: &str) -> Value {
    json!({
        "apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
        "metadata": {"name": id},
        "spec": {"forProvider": {
            "region": "us-east-1", "engine": "postgres", "engineVersion": "16.3",
            "instanceClass": class, "allocatedStorage": 20, "storageType": "gp3",
            "storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7,
            "deletionProtection": false, "skipFinalSnapshot": true, "autoMinorVersionUpgrade": true,
            "dbSubnetGroupNameRef": {"name": group}, "parameterGroupNameRef": {"name": params},
            "username": "app",
            "passwordSecretRef": {"name": "db-pass", "namespace": "default", "key": "password"},
            "tags": {"team": "data"}
        }}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_instance_with_subnet_group_lifecycle() {
    let mut secrets = StaticSecrets::new();
    secrets.insert("db-pass", "password", "correct-horse-battery");
    let stack = Stack::with_secrets("databases", secrets).await;
    let subnets = stack._moto.seed_subnets().expect("seed subnets").subnet_ids;
    let mut desired = vec![
        subnet_group("it-subnets", &subnets),
        parameter_group("it-params"),
        instance("it-db", "it-subnets", "it-params", "db.t3.micro"),
    ];

    let plan = stack.apply(&desired).await;
    assert_eq!(plan.changes.len(), 3);
    let order: Vec<&str> = plan.changes.iter().map(|c| c.key.kind.as_str()).collect();
    let db_pos = order.iter().position(|k| *k == "Instance").unwrap();
    assert!(
        db_pos > order.iter().position(|k| *k == "SubnetGroup").unwrap(),
        "{order:?}"
    );
    let rds = stack.clients.rds(None);
    let db = strata_aws::rds::instance::describe(&rds, "it-db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.db_subnet_group().unwrap().db_subnet_group_name(),
        Some("it-subnets")
    );
    assert_eq!(db.storage_encrypted(), Some(true));
    assert!(
        db.tag_list()
            .iter()
            .any(|t| t.key() == Some("strata.dev/stack") && t.value() == Some("databases"))
    );

    // Connection details come back to the caller, never into state.
    let provider = stack.engine.registry.by_name("aws").unwrap();
    // The provider reads the planned manifest, whose subnet and parameter group fields were
    // filled from their references.
    let planned = plan
        .changes
        .iter()
        .find(|c| c.key.kind == "Instance")
        .and_then(|c| c.resource.as_ref())
        .unwrap();
    assert_eq!(
        planned.manifest["spec"]["forProvider"]["dbSubnetGroupName"],
        "it-subnets"
    );
    let observed = provider.observe(planned).await.unwrap();
    assert_eq!(observed.connection.0["password"], b"correct-horse-battery");
    assert_eq!(observed.connection.0["port"], b"5432");
    assert!(observed.connection.0.contains_key("endpoint"));
    assert!(!stack.state_text().contains("correct-horse-battery"));
    assert!(!format!("{:?}", observed).contains("correct-horse-battery"));
    let live = observed.live.unwrap().value().into_owned();
    assert_eq!(live["status"]["conditions"][0]["status"], "True");
    assert_eq!(provider.health(&live), strata_core::Health::Healthy);

    // Update in place: the instance class.
    desired[2] = instance("it-db", "it-subnets", "it-params", "db.t3.small");
    let plan = stack.apply(&desired).await;
    assert_eq!(action_of(&plan, "Instance"), Action::Update);
    let db = strata_aws::rds::instance::describe(&rds, "it-db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.db_instance_class(), Some("db.t3.small"));

    // Drift: the class changed behind Strata's back is detected and healed.
    rds.modify_db_instance()
        .db_instance_identifier("it-db")
        .db_instance_class("db.t3.large")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let plan = stack.plan(&desired).await;
    let change = plan
        .changes
        .iter()
        .find(|c| c.key.kind == "Instance")
        .unwrap();
    assert_eq!(change.action, Action::Update);
    assert!(change.drifted);
    assert!(
        change
            .fields
            .iter()
            .any(|f| f.path == "spec.forProvider.instanceClass"
                && f.before == Some(json!("db.t3.large"))
                && f.after == Some(json!("db.t3.small")))
    );
    stack.apply(&desired).await;
    let db = strata_aws::rds::instance::describe(&rds, "it-db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.db_instance_class(), Some("db.t3.small"));

    // Replace: the engine forces a new instance.
    desired[2]["spec"]["forProvider"]["engine"] = json!("mysql");
    desired[2]["spec"]["forProvider"]["engineVersion"] = json!("8.0.35");
    desired[2]["spec"]["forProvider"]
        .as_object_mut()
        .unwrap()
        .remove("parameterGroupNameRef");
    let plan = stack.plan(&desired).await;
    let change = plan
        .changes
        .iter()
        .find(|c| c.key.kind == "Instance")
        .unwrap();
    assert_eq!(change.action, Action::DeleteThenCreate);
    assert!(
        change
            .replace_paths
            .contains(&"spec.forProvider.engine".to_owned())
    );
    stack.apply(&desired).await;
    let db = strata_aws::rds::instance::describe(&rds, "it-db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.engine(), Some("mysql"));

    // Deletion protection: a delete is refused with a clear error, and not attempted.
    desired[2]["spec"]["forProvider"]["deletionProtection"] = json!(true);
    stack.apply(&desired).await;
    let (_, report) = stack.apply_with(&desired[..2], &stack.options()).await;
    assert!(!report.is_success());
    let (_, error) = &report.failed[0];
    assert!(error.contains("deletionProtection"), "{error}");
    assert!(
        strata_aws::rds::instance::describe(&rds, "it-db")
            .await
            .unwrap()
            .is_some()
    );

    // Lift the protection, then delete everything.
    desired[2]["spec"]["forProvider"]["deletionProtection"] = json!(false);
    stack.apply(&desired).await;
    stack.apply(&[]).await;
    assert!(
        strata_aws::rds::instance::describe(&rds, "it-db")
            .await
            .unwrap()
            .is_none()
    );
    assert!(!stack.state_text().contains("correct-horse-battery"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_validation_errors_are_final_and_keep_the_message() {
    let stack = Stack::new("errors").await;
    let mut bad = instance(
        "it-bad-db",
        "missing-group",
        "missing-params",
        "db.t3.micro",
    );
    bad["spec"]["forProvider"]["engine"] = json!("postgress");
    bad["spec"]["forProvider"]
        .as_object_mut()
        .unwrap()
        .remove("passwordSecretRef");
    bad["spec"]["forProvider"]
        .as_object_mut()
        .unwrap()
        .remove("dbSubnetGroupNameRef");
    bad["spec"]["forProvider"]
        .as_object_mut()
        .unwrap()
        .remove("parameterGroupNameRef");
    let provider = stack.engine.registry.by_name("aws").unwrap();
    let err = provider
        .create(&Resource::from_manifest(bad).unwrap())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message.contains("CreateDBInstance"), "{}", err.message);
    assert!(
        err.message.contains("InvalidParameterValue"),
        "{}",
        err.message
    );

    let group = subnet_group("it-bad-subnets", &["subnet-nope".to_owned()]);
    let err = provider
        .create(&Resource::from_manifest(group).unwrap())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.message.contains("InvalidSubnetID.NotFound"),
        "{}",
        err.message
    );

    // Observing something that does not exist is absence, not an error.
    let missing = provider
        .observe(&Resource::from_manifest(bucket("strata-it-never-made", json!({}))).unwrap())
        .await
        .unwrap();
    assert!(missing.live.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unserved_kinds_go_to_the_sandbox_visibly() {
    let stack = Stack::new("mixed").await;
    let desired = vec![
        bucket("strata-it-mixed", json!({})),
        json!({
            "apiVersion": "ec2.aws.upbound.io/v1beta1", "kind": "SecurityGroup",
            "metadata": {"name": "db-sg"},
            "spec": {"forProvider": {"region": "us-east-1", "description": "db"}}
        }),
    ];
    let plan = stack.apply(&desired).await;
    let providers: BTreeMap<&str, &str> = plan
        .changes
        .iter()
        .map(|c| (c.key.kind.as_str(), c.provider.as_str()))
        .collect();
    assert_eq!(providers["Bucket"], "aws");
    assert_eq!(providers["SecurityGroup"], "sandbox");
    stack.apply(&[]).await;
}

// ---------------------------------------------------------------- S3 state backend

async fn state_store(key: &str) -> (Arc<MotoServer>, S3StateStore) {
    let moto = moto();
    let clients = moto.settings().load().await;
    let s3 = clients.s3(None);
    let bucket = "strata-it-states";
    if let Err(e) = s3.create_bucket().bucket(bucket).send().await {
        let e = strata_aws::error::classify("CreateBucket", e);
        assert!(
            e.code.as_deref() == Some("BucketAlreadyOwnedByYou")
                || e.code.as_deref() == Some("BucketAlreadyExists"),
            "{e}"
        );
    }
    (moto, S3StateStore::new(s3, bucket, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_in_a_missing_bucket_fails_with_s3s_error_as_the_source() {
    let moto = moto();
    let s3 = moto.settings().load().await.s3(None);
    let store = S3StateStore::new(s3, "strata-it-no-such-bucket", "env/state.json");
    let err = store.load().await.unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("state s3://strata-it-no-such-bucket/env/state.json: GetObject: "),
        "{err}"
    );
    let cause = std::error::Error::source(&err).expect("S3's error is the source");
    let aws = cause
        .downcast_ref::<strata_aws::error::AwsError>()
        .unwrap_or_else(|| panic!("not an AWS error: {cause:?}"));
    assert_eq!(aws.code.as_deref(), Some("NoSuchBucket"), "{aws}");
    assert!(
        std::error::Error::source(aws).is_some(),
        "the SDK error stays reachable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_saves_are_compare_and_swap() {
    let (_moto, store) = state_store("cas/state.json").await;
    assert_eq!(store.location(), "s3://strata-it-states/cas/state.json");
    assert!(store.load().await.unwrap().is_none());
    let mut a = State::new();
    store.save(&mut a).await.unwrap();
    assert_eq!(a.serial, 1);

    // Stale serial.
    let mut b = store.load().await.unwrap().unwrap();
    store.save(&mut a).await.unwrap();
    let err = store.save(&mut b).await.unwrap_err();
    assert!(
        matches!(
            err,
            StateError::StaleSerial {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );

    // Stale ETag: a write at an ETag read before someone else's save is refused.
    let (mut c, etag) = store.load_versioned().await.unwrap().unwrap();
    let mut d = c.clone();
    store.save(&mut d).await.unwrap();
    let err = store.save_if_match(&mut c, Some(&etag)).await.unwrap_err();
    assert!(
        matches!(err, StateError::StaleSerial { found: 3, .. }),
        "{err}"
    );
    assert_eq!(c.serial, 2, "a refused write leaves the serial alone");

    // Foreign lineage.
    let mut other = State::new();
    other.serial = 3;
    let err = store.save(&mut other).await.unwrap_err();
    assert!(matches!(err, StateError::ForeignLineage { .. }), "{err}");

    // A first write when a state exists is refused too.
    let err = store.save(&mut State::new()).await.unwrap_err();
    assert!(matches!(err, StateError::ForeignLineage { .. }), "{err}");
    assert_eq!(store.load().await.unwrap().unwrap().serial, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_unlock_force_unlock_and_lock_info() {
    let (_moto, store) = state_store("locks/state.json").await;
    let first = LockInfo::new("apply");
    store.lock(&first).await.unwrap();
    let held = store.lock_info().await.unwrap().unwrap();
    assert_eq!(held.id, first.id);
    assert_eq!(held.path, "strata-it-states/locks/state.json");
    match store.lock(&LockInfo::new("plan")).await.unwrap_err() {
        StateError::Locked { holder, .. } => {
            assert_eq!(holder.id, first.id);
            assert_eq!(holder.operation, "apply");
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        store.unlock("someone-else").await.unwrap_err(),
        StateError::LockIdMismatch { .. }
    ));
    store.force_unlock(&first.id).await.unwrap();
    assert!(store.lock_info().await.unwrap().is_none());
    assert!(matches!(
        store.unlock(&first.id).await.unwrap_err(),
        StateError::NotLocked { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_locks_are_taken_over_unless_refreshed() {
    let (_moto, store) = state_store("expiry/state.json").await;
    let store = Arc::new(store.with_lock_ttl(Duration::from_secs(2)));
    let crashed = LockInfo::new("apply");
    store.lock(&crashed).await.unwrap();
    assert!(matches!(
        store.lock(&LockInfo::new("apply")).await.unwrap_err(),
        StateError::Locked { .. }
    ));
    // A holder that keeps its heartbeat keeps the lock past the TTL.
    let heartbeat =
        Arc::clone(&store).spawn_heartbeat(crashed.id.clone(), Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(matches!(
        store.lock(&LockInfo::new("apply")).await.unwrap_err(),
        StateError::Locked { .. }
    ));
    // Once the holder stops (crashes), the lock expires and is taken over.
    heartbeat.abort();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let taker = LockInfo::new("apply");
    store.lock(&taker).await.unwrap();
    assert_eq!(store.lock_info().await.unwrap().unwrap().id, taker.id);
    assert!(matches!(
        store.unlock(&crashed.id).await.unwrap_err(),
        StateError::LockIdMismatch { .. }
    ));
    store.unlock(&taker.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_lockers_exactly_one_holds_the_lock() {
    let (_moto, store) = state_store("race-lock/state.json").await;
    let store = Arc::new(store);
    let holders = Arc::new(AtomicUsize::new(0));
    let max_holders = Arc::new(AtomicUsize::new(0));
    let acquisitions = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let first_round_winners = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (store, holders, max_holders, acquisitions, barrier, winners) = (
            Arc::clone(&store),
            Arc::clone(&holders),
            Arc::clone(&max_holders),
            Arc::clone(&acquisitions),
            Arc::clone(&barrier),
            Arc::clone(&first_round_winners),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = 0;
            let mut first = true;
            while mine < 3 {
                let info = LockInfo::new(format!("worker-{worker}"));
                match store.lock(&info).await {
                    Ok(()) => {
                        if first {
                            winners.fetch_add(1, Ordering::SeqCst);
                        }
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        max_holders.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        holders.fetch_sub(1, Ordering::SeqCst);
                        store.unlock(&info.id).await.expect("unlock own lock");
                        acquisitions.fetch_add(1, Ordering::SeqCst);
                        mine += 1;
                    }
                    Err(StateError::Locked { .. }) => {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    Err(e) => panic!("worker {worker}: {e}"),
                }
                first = false;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    assert_eq!(
        max_holders.load(Ordering::SeqCst),
        1,
        "never two holders at once"
    );
    assert_eq!(acquisitions.load(Ordering::SeqCst), 24);
    assert_eq!(
        first_round_winners.load(Ordering::SeqCst),
        1,
        "of 8 simultaneous first attempts exactly one wins"
    );
    assert!(store.lock_info().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_update_is_lost_over_200_racing_rounds() {
    let (_moto, store) = state_store("race-cas/state.json").await;
    let store = Arc::new(store);
    store.save(&mut State::new()).await.unwrap();
    let conflicts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let (store, conflicts) = (Arc::clone(&store), Arc::clone(&conflicts));
        tasks.push(tokio::spawn(async move {
            for round in 0..50 {
                loop {
                    let mut state = store.load().await.expect("load").expect("state");
                    let entry = format!("w{writer}-r{round}");
                    state.resources.insert(
                        entry.clone(),
                        strata_core::state::ResourceState {
                            key: strata_core::ResourceKey::new("", "Round", None, entry),
                            api_version: "v1".into(),
                            provider: "test".into(),
                            status: strata_core::state::ResourceStatus::Applied,
                            last_applied: Value::Null.into(),
                            dependencies: Vec::new(),
                            outputs: Value::Null,
                            protect: false,
                        },
                    );
                    match store.save(&mut state).await {
                        Ok(()) => break,
                        Err(StateError::StaleSerial { .. }) => {
                            conflicts.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => panic!("writer {writer}: {e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let state = store.load().await.unwrap().unwrap();
    assert_eq!(state.resources.len(), 200, "every round's update survived");
    assert_eq!(state.serial, 201);
    assert!(conflicts.load(Ordering::SeqCst) > 0, "the writers did race");
}
