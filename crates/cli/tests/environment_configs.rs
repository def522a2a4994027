//! `strata render` with function-environment-configs steps: EnvironmentConfigs found beside
//! the composition and given with `--extra-resources`, feeding patch-and-transform
//! environment patches and a go-templating template read from a directory.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

const COMPOSITION: &str = r#"apiVersion: apiextensions.crossplane.io/v1
kind: Composition
metadata:
  name: xbuckets.example.org
spec:
  compositeTypeRef:
    apiVersion: example.org/v1
    kind: XBucket
  mode: Pipeline
  pipeline:
    - step: environment
      functionRef:
        name: function-environment-configs
      input:
        apiVersion: environmentconfigs.fn.crossplane.io/v1beta1
        kind: Input
        spec:
          environmentConfigs:
            - type: Reference
              ref:
                name: shared
            - type: Selector
              selector:
                mode: Single
                matchLabels:
                  - key: region
                    type: FromCompositeFieldPath
                    valueFromFieldPath: spec.region
    - step: bucket
      functionRef:
        name: function-patch-and-transform
      input:
        apiVersion: pt.fn.crossplane.io/v1beta1
        kind: Resources
        resources:
          - name: bucket
            base:
              apiVersion: s3.aws.upbound.io/v1beta1
              kind: Bucket
              spec:
                forProvider: {}
            patches:
              - type: FromEnvironmentFieldPath
                fromFieldPath: kms.keyId
                toFieldPath: spec.forProvider.kmsKeyId
    - step: acl
      functionRef:
        name: function-go-templating
      input:
        apiVersion: gotemplating.fn.crossplane.io/v1beta1
        kind: GoTemplate
        source: FileSystem
        fileSystem:
          dirPath: templates
"#;

const TEMPLATE: &str = r#"{{ $env := index .context "apiextensions.crossplane.io/environment" }}
apiVersion: s3.aws.upbound.io/v1beta1
kind: BucketACL
metadata:
  annotations:
    gotemplating.fn.crossplane.io/composition-resource-name: acl
spec:
  forProvider:
    acl: {{ $env.acl }}
    region: {{ .observed.composite.resource.spec.region }}
"#;

const XR: &str = "apiVersion: example.org/v1\nkind: XBucket\nmetadata:\n  name: logs\nspec:\n  region: eu-west-1\n";

const SHARED: &str = "apiVersion: apiextensions.crossplane.io/v1beta1\nkind: EnvironmentConfig\nmetadata:\n  name: shared\ndata:\n  acl: private\n  kms:\n    keyId: shared-key\n";

const EU: &str = "apiVersion: apiextensions.crossplane.io/v1beta1\nkind: EnvironmentConfig\nmetadata:\n  name: eu\n  labels:\n    region: eu-west-1\ndata:\n  kms:\n    keyId: eu-key\n";

/// A directory with the composition, its template directory, the composite and the shared
/// EnvironmentConfig; the regional one in a separate `extra` directory.
fn setup(root: &Path) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("stack/platform/composition.yaml", COMPOSITION);
    write("stack/platform/templates/acl.yaml.tmpl", TEMPLATE);
    write(
        "stack/platform/templates/.hidden/ignored.tmpl",
        "{{ fail }}",
    );
    write("stack/apps/xr.yaml", XR);
    write("stack/config/shared.yaml", SHARED);
    write("extra/eu.yaml", EU);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn environment_configs_of_the_stack_and_extra_resources_feed_patches_and_templates() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let stack = tmp.path().join("stack");
    let extra = tmp.path().join("extra");
    let out = strata(&[
        "render",
        s(&stack),
        "--extra-resources",
        s(&extra),
        "-o",
        "json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rendered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let composed = rendered[0]["composed"].as_array().unwrap();
    let kind = |k: &str| composed.iter().find(|c| c["kind"] == k).unwrap();
    assert_eq!(
        kind("Bucket")["spec"]["forProvider"]["kmsKeyId"],
        serde_json::json!("eu-key"),
        "the selected regional config is merged over the referenced one"
    );
    assert_eq!(
        kind("BucketACL")["spec"]["forProvider"],
        serde_json::json!({"acl": "private", "region": "eu-west-1"})
    );
}

#[test]
fn a_selector_without_its_config_fails_naming_the_composite_and_the_step() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let out = strata(&["render", s(&tmp.path().join("stack"))]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apps/xr.yaml"), "{stderr}");
    assert!(
        stderr.contains("pipeline step \"environment\" (function-environment-configs): cannot get selected environment configs: cannot process environment config \"environment-config-1\" by selector: expected exactly one required resource, got 0"),
        "{stderr}"
    );
}

#[test]
fn a_missing_required_reference_fails_naming_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    std::fs::remove_file(tmp.path().join("stack/config/shared.yaml")).unwrap();
    let out = strata(&[
        "render",
        s(&tmp.path().join("stack")),
        "--extra-resources",
        s(&tmp.path().join("extra/eu.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipeline step \"environment\" (function-environment-configs): cannot get selected environment configs: cannot process environment config \"shared\" by reference, \"environment-config-0\": Required environment config \"shared\" not found"),
        "{stderr}"
    );
}

#[test]
fn extra_resources_other_than_environment_configs_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let extra = tmp.path().join("extra/cm.yaml");
    std::fs::write(
        &extra,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    )
    .unwrap();
    let out = strata(&[
        "render",
        s(&tmp.path().join("stack")),
        "--extra-resources",
        s(&extra),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("extra/cm.yaml")
            && stderr.contains("--extra-resources takes EnvironmentConfigs"),
        "{stderr}"
    );
}

#[test]
fn an_environment_config_given_twice_is_refused_naming_both_places() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let stack = tmp.path().join("stack");
    let extra = tmp.path().join("extra");
    // The stack's own config again, as an extra resource.
    std::fs::copy(stack.join("config/shared.yaml"), extra.join("shared.yaml")).unwrap();
    let out = strata(&["render", s(&stack), "--extra-resources", s(&extra)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("extra/shared.yaml")
            && stderr.contains("EnvironmentConfig \"shared\" is given twice (also in the stack)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing is rendered");
    // Twice among the extra resources: both files are named.
    std::fs::remove_file(extra.join("shared.yaml")).unwrap();
    std::fs::copy(extra.join("eu.yaml"), tmp.path().join("eu-again.yaml")).unwrap();
    let out = strata(&[
        "render",
        s(&stack),
        "--extra-resources",
        s(&extra),
        "--extra-resources",
        s(&tmp.path().join("eu-again.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("eu-again.yaml")
            && stderr.contains("is given twice (also in ")
            && stderr.contains("extra/eu.yaml"),
        "{stderr}"
    );
}

#[test]
fn a_missing_template_directory_fails_naming_the_composition_file() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    std::fs::remove_dir_all(tmp.path().join("stack/platform/templates")).unwrap();
    let out = strata(&["render", s(&tmp.path().join("stack"))]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("platform/composition.yaml")
            && stderr.contains("pipeline step \"acl\": invalid function input: cannot read tmpl from the folder {templates}"),
        "{stderr}"
    );
}
