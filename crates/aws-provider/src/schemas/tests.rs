use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use strata_core::Resource;
use strata_core::validate::Validator;

use super::*;

fn validator() -> Validator {
    let mut validator = Validator::default().allowing_unknown_kinds();
    for schema in schemas() {
        validator.register(schema);
    }
    validator
}

/// `field: message` of every problem of `manifests`.
fn problems_of(manifests: &[Value]) -> Vec<String> {
    let resources: Vec<Resource> = manifests
        .iter()
        .map(|m| Resource::from_manifest(m.clone()).unwrap())
        .collect();
    validator()
        .check(&resources)
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect()
}

fn problems(manifest: Value) -> Vec<String> {
    problems_of(&[manifest])
}

fn served(manifest: &Value) -> bool {
    let api_version = manifest["apiVersion"].as_str().unwrap_or("");
    let kind = manifest["kind"].as_str().unwrap_or("");
    crate::AwsKind::of(strata_core::model::group_of(api_version), kind).is_some()
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    strata_core::loader::parse_values(path, &text)
        .unwrap()
        .into_iter()
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
        .collect()
}

fn managed(api_version: &str, kind: &str, for_provider: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"},
           "spec": {"forProvider": for_provider}})
}

const MESSAGE_END: &str = "(schema of the AWS provider)";

#[test]
fn every_served_kind_has_a_schema_at_every_upbound_version() {
    let all = schemas();
    let versions = |kind: &str| -> Vec<&str> {
        all.iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.version.as_str())
            .collect()
    };
    assert_eq!(versions("Bucket"), ["v1beta1", "v1beta2"]);
    assert_eq!(versions("BucketVersioning"), ["v1beta1", "v1beta2"]);
    assert_eq!(
        versions("BucketServerSideEncryptionConfiguration"),
        ["v1beta1", "v1beta2"]
    );
    assert_eq!(versions("BucketPublicAccessBlock"), ["v1beta1"]);
    assert_eq!(versions("Instance"), ["v1beta1", "v1beta2", "v1beta3"]);
    assert_eq!(versions("SubnetGroup"), ["v1beta1"]);
    assert_eq!(versions("ParameterGroup"), ["v1beta1"]);
    assert_eq!(all.len(), 12);
    for (group, kind) in crate::declared_kinds() {
        assert!(
            all.iter().any(|s| s.group == group && s.kind == kind),
            "{group}/{kind}"
        );
    }
    assert!(all.iter().all(|s| s.declared_by == DECLARED_BY));
    assert!(SCHEMAS.is_ok());
}

#[test]
fn the_examples_are_accepted() {
    let root = repository();
    let mut checked = 0;
    for dir in ["examples/aws", "examples/quickstart"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml")
                || path.file_name().and_then(|n| n.to_str()) == Some("strata.yaml")
            {
                continue;
            }
            let manifests: Vec<Value> = yaml_documents(&path).into_iter().filter(served).collect();
            checked += manifests.len();
            assert_eq!(
                problems_of(&manifests),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
        }
    }
    assert_eq!(
        checked, 10,
        "the AWS and quickstart examples' S3 and RDS resources"
    );
}

/// The composed resources of the example compositions, rendered from their claims.
fn composed(xrd: &Path, composition: &Path, claims: &[PathBuf]) -> Vec<Value> {
    let xrds = [strata_composition::xrd::Xrd::parse(&yaml_documents(xrd)[0]).unwrap()];
    let compositions =
        [strata_composition::Composition::parse(&yaml_documents(composition)[0]).unwrap()];
    let mut out = Vec::new();
    for claim in claims {
        let rendered = strata_composition::render_object(
            &yaml_documents(claim)[0],
            &xrds,
            &compositions,
            &strata_composition::RenderRequest::default(),
            strata_composition::RenderOptions::default(),
        )
        .unwrap();
        out.extend(rendered.composed);
    }
    out
}

#[test]
fn the_example_compositions_outputs_are_accepted() {
    let root = repository();
    let platform = root.join("examples/platform/crossplane");
    let claims: Vec<PathBuf> = ["dev", "staging", "prod"]
        .iter()
        .map(|env| platform.join(format!("claims/{env}/payment-db.yaml")))
        .collect();
    let mut manifests = composed(
        &platform.join("compositions/database/postgresql-xrd.yaml"),
        &platform.join("compositions/database/postgresql-composition.yaml"),
        &claims,
    );
    let postgresql = root.join("examples/postgresql");
    manifests.extend(composed(
        &postgresql.join("xrd.yaml"),
        &postgresql.join("composition.yaml"),
        &[postgresql.join("claim.yaml")],
    ));
    manifests.retain(served);
    assert_eq!(
        manifests.len(),
        8,
        "a subnet group and an instance per claim"
    );
    assert_eq!(problems_of(&manifests), Vec::<String>::new());
    assert!(
        manifests
            .iter()
            .any(|m| m["spec"]["writeConnectionSecretToRef"]["name"].is_string())
    );
}

#[test]
fn the_providers_own_fixtures_are_accepted() {
    let fixtures = [
        managed(
            "s3.aws.upbound.io/v1beta1",
            "Bucket",
            json!({"region": "eu-west-1", "tags": {"env": "prod"}, "forceDestroy": true,
                   "objectLockEnabled": false}),
        ),
        managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketVersioning",
            json!({"region": "us-east-1", "bucket": "b",
                   "versioningConfiguration": [{"status": "Enabled", "mfaDelete": "Disabled"}]}),
        ),
        managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketServerSideEncryptionConfiguration",
            json!({"bucketRef": {"name": "logs", "policy": {"resolve": "Always", "resolution": "Optional"}},
                   "rule": [{"applyServerSideEncryptionByDefault": [{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/k"}],
                             "bucketKeyEnabled": true}]}),
        ),
        managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketPublicAccessBlock",
            json!({"bucketSelector": {"matchLabels": {"app": "logs"}, "matchControllerRef": true},
                   "blockPublicAcls": true}),
        ),
        managed(
            "rds.aws.upbound.io/v1beta1",
            "Instance",
            json!({"region": "us-east-1", "identifier": "app-db", "engine": "postgres", "engineVersion": "16",
                   "instanceClass": "db.t3.micro", "allocatedStorage": 20, "storageType": "gp3",
                   "storageEncrypted": true, "publiclyAccessible": false, "backupRetentionPeriod": 7,
                   "deletionProtection": false, "skipFinalSnapshot": true, "autoMinorVersionUpgrade": true,
                   "dbSubnetGroupNameRef": {"name": "app-subnets-ref"}, "dbSubnetGroupName": "app-subnets",
                   "parameterGroupNameRef": {"name": "params"}, "kmsKeyIdSelector": {"matchLabels": {"k": "v"}},
                   "vpcSecurityGroupIdRefs": [{"name": "sg"}], "vpcSecurityGroupIds": ["sg-1"],
                   "username": "app", "dbName": "app", "port": 5432, "multiAz": false, "iops": 3000,
                   "availabilityZone": "us-east-1a", "finalSnapshotIdentifier": "final",
                   "applyImmediately": false, "autoGeneratePassword": true,
                   "passwordSecretRef": {"name": "db-pass", "namespace": "default", "key": "password"},
                   "tags": {"team": "payments"}}),
        ),
        managed(
            "rds.aws.upbound.io/v1beta1",
            "SubnetGroup",
            json!({"region": "us-east-1", "description": "d", "subnetIds": ["subnet-a"],
                   "subnetIdRefs": [{"name": "a"}], "subnetIdSelector": {"matchLabels": {"net": "main"}},
                   "tags": {}}),
        ),
        managed(
            "rds.aws.upbound.io/v1beta1",
            "ParameterGroup",
            json!({"family": "postgres16", "description": "test params", "parameter": [
                {"name": "log_min_duration_statement", "value": "500", "applyMethod": "immediate"},
                {"name": "work_mem", "value": 4096, "applyMethod": "pending-reboot"}]}),
        ),
        json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "Instance",
               "metadata": {"name": "db", "labels": {"team": "a"}},
               "spec": {"forProvider": {"engine": "mysql"},
                        "providerConfigRef": {"name": "default"}, "deletionPolicy": "Delete",
                        "managementPolicies": ["*"],
                        "writeConnectionSecretToRef": {"name": "db-conn", "namespace": "default"}},
               "status": {"atProvider": {"arn": "arn:aws:rds:x"}, "conditions": []}}),
    ];
    assert_eq!(problems_of(&fixtures), Vec::<String>::new());
}

#[test]
fn a_misspelt_field_is_refused_with_the_nearest_name() {
    let found = problems(managed(
        "s3.aws.upbound.io/v1beta1",
        "Bucket",
        json!({"region": "eu-west-1", "forceDestory": true}),
    ));
    assert_eq!(
        found,
        [format!(
            "spec.forProvider.forceDestory: unknown field; did you mean forceDestroy? {MESSAGE_END}"
        )]
    );
    let found = problems(managed(
        "rds.aws.upbound.io/v1beta1",
        "Instance",
        json!({"instanceClas": "db.t3.micro", "dbSubnetGroupNameRef": {"nmae": "subnets"}}),
    ));
    assert_eq!(
        found,
        [
            format!(
                "spec.forProvider.instanceClas: unknown field; did you mean instanceClass? {MESSAGE_END}"
            ),
            format!(
                "spec.forProvider.dbSubnetGroupNameRef.nmae: unknown field; did you mean name? {MESSAGE_END}"
            ),
            format!(
                "spec.forProvider.dbSubnetGroupNameRef.name: required field is missing {MESSAGE_END}"
            ),
        ]
    );
    let found = problems(
        json!({"apiVersion": "rds.aws.upbound.io/v1beta1", "kind": "SubnetGroup",
        "metadata": {"name": "s"}, "spec": {"forProvidr": {"region": "eu-west-1"}}}),
    );
    assert_eq!(
        found,
        [
            format!("spec.forProvidr: unknown field; did you mean forProvider? {MESSAGE_END}"),
            format!("spec.forProvider: required field is missing {MESSAGE_END}"),
        ]
    );
}

#[test]
fn upbound_fields_the_provider_does_not_read_are_refused() {
    let unknown = |field: &str| format!("{field}: unknown field {MESSAGE_END}");
    assert_eq!(
        problems(managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketVersioning",
            json!({"bucket": "b", "expectedBucketOwner": "123456789012", "mfa": "x 1",
                   "versioningConfiguration": [{"status": "Enabled"}]}),
        )),
        [
            unknown("spec.forProvider.expectedBucketOwner"),
            unknown("spec.forProvider.mfa")
        ]
    );
    assert_eq!(
        problems(managed(
            "rds.aws.upbound.io/v1beta1",
            "Instance",
            json!({"engine": "postgres", "password": "hunter22", "maintenanceWindow": "Mon:00:00-Mon:03:00",
                   "allowMajorVersionUpgrade": true}),
        )),
        [
            unknown("spec.forProvider.password"),
            unknown("spec.forProvider.maintenanceWindow"),
            format!(
                "spec.forProvider.allowMajorVersionUpgrade: unknown field; did you mean autoMinorVersionUpgrade? {MESSAGE_END}"
            ),
        ]
    );
    // A bucket is named by its external name, never by a field (renaming would not replace it).
    assert_eq!(
        problems(managed(
            "s3.aws.upbound.io/v1beta1",
            "Bucket",
            json!({"bucket": "other-name"})
        )),
        [unknown("spec.forProvider.bucket")]
    );
    assert_eq!(
        problems(managed(
            "rds.aws.upbound.io/v1beta1",
            "SubnetGroup",
            json!({"name": "other-name", "subnetIds": ["subnet-a"]})
        )),
        [unknown("spec.forProvider.name")]
    );
    // Crossplane's spec fields the provider would ignore.
    let spec = json!({"forProvider": {"region": "eu-west-1"},
        "initProvider": {"tags": {"a": "b"}},
        "providerConfigRef": {"name": "production"},
        "providerRef": {"name": "aws"},
        "deletionPolicy": "Orphan",
        "managementPolicies": ["Observe"],
        "publishConnectionDetailsTo": {"name": "x"}});
    let found = problems(
        json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": "b"}, "spec": spec}),
    );
    assert_eq!(
        found,
        [
            unknown("spec.initProvider"),
            format!(
                "spec.providerConfigRef.name: must be one of \"default\", found \"production\" {MESSAGE_END}"
            ),
            unknown("spec.providerRef"),
            format!(
                "spec.deletionPolicy: must be one of \"Delete\", found \"Orphan\" {MESSAGE_END}"
            ),
            format!(
                "spec.managementPolicies[0]: must be one of \"*\", found \"Observe\" {MESSAGE_END}"
            ),
            unknown("spec.publishConnectionDetailsTo"),
        ]
    );
}

#[test]
fn wrong_types_and_values_are_refused() {
    let found = problems(managed(
        "s3.aws.upbound.io/v1beta1",
        "BucketVersioning",
        json!({"bucket": "b", "versioningConfiguration": [{"status": "Enable"}]}),
    ));
    assert_eq!(
        found,
        [format!(
            "spec.forProvider.versioningConfiguration[0].status: must be one of \"Enabled\", \"Suspended\", \"Disabled\", found \"Enable\"; did you mean \"Enabled\"? {MESSAGE_END}"
        )]
    );
    let found = problems(managed(
        "s3.aws.upbound.io/v1beta1",
        "BucketServerSideEncryptionConfiguration",
        json!({"bucket": "b", "rule": [{"applyServerSideEncryptionByDefault": [{"sseAlgorithm": "aws-kms"}],
                                        "bucketKeyEnabled": "yes"}]}),
    ));
    assert_eq!(
        found,
        [
            format!(
                "spec.forProvider.rule[0].applyServerSideEncryptionByDefault[0].sseAlgorithm: must be one of \"AES256\", \"aws:kms\", \"aws:kms:dsse\", found \"aws-kms\"; did you mean \"aws:kms\"? {MESSAGE_END}"
            ),
            format!(
                "spec.forProvider.rule[0].bucketKeyEnabled: must be a boolean, found string \"yes\" {MESSAGE_END}"
            ),
        ]
    );
    let found = problems(managed(
        "rds.aws.upbound.io/v1beta1",
        "Instance",
        json!({"region": "eu-west1", "engine": "postgress", "allocatedStorage": "20",
               "backupRetentionPeriod": 40, "instanceClass": "t3.micro",
               "tags": {"cost-centre": 42}, "vpcSecurityGroupIds": "sg-1",
               "passwordSecretRef": {"namespace": "default", "key": "password"}}),
    ));
    let fields: Vec<&str> = found
        .iter()
        .map(|p| p.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "spec.forProvider.region",
            "spec.forProvider.engine",
            "spec.forProvider.allocatedStorage",
            "spec.forProvider.backupRetentionPeriod",
            "spec.forProvider.instanceClass",
            "spec.forProvider.tags.cost-centre",
            "spec.forProvider.vpcSecurityGroupIds",
            "spec.forProvider.passwordSecretRef.name",
        ],
        "{found:#?}"
    );
    assert!(
        found[1].contains("did you mean \"postgres\"?"),
        "{found:#?}"
    );
    assert!(
        found[2].contains("must be an integer, found string \"20\""),
        "{found:#?}"
    );
    // The version decides the shape of a block: a list in v1beta1, an object in v1beta2.
    assert!(
        problems(managed(
            "s3.aws.upbound.io/v1beta2",
            "BucketVersioning",
            json!({"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}),
        ))
        .is_empty()
    );
    assert_eq!(
        problems(managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketVersioning",
            json!({"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}),
        )),
        [format!(
            "spec.forProvider.versioningConfiguration: must be an array, found an object {MESSAGE_END}"
        )]
    );
    assert!(
        problems(managed(
            "s3.aws.upbound.io/v1beta2",
            "BucketServerSideEncryptionConfiguration",
            json!({"bucket": "b", "rule": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        ))
        .is_empty()
    );
    // What the provider cannot do without is required.
    assert_eq!(
        problems(managed(
            "rds.aws.upbound.io/v1beta1",
            "ParameterGroup",
            json!({"parameter": [{"name": "work_mem"}]}),
        )),
        [
            format!("spec.forProvider.parameter[0].value: required field is missing {MESSAGE_END}"),
            format!("spec.forProvider.family: required field is missing {MESSAGE_END}"),
        ]
    );
    assert_eq!(
        problems(managed(
            "s3.aws.upbound.io/v1beta1",
            "BucketServerSideEncryptionConfiguration",
            json!({"bucket": "b", "rule": []}),
        )),
        [format!(
            "spec.forProvider.rule: must have at least 1 items, found 0 {MESSAGE_END}"
        )]
    );
    assert_eq!(
        problems(managed(
            "s3.aws.upbound.io/v1",
            "Bucket",
            json!({"region": "eu-west-1"})
        )),
        [
            "apiVersion: the AWS provider does not serve version v1 of Bucket (it serves v1beta1, v1beta2)"
        ]
    );
}
