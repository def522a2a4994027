//! ApplicationSet generators and Application rendering beyond the conformance cases.

use std::sync::Arc;

use serde_json::{Value, json};
use strata_core::source::MemoryTree;
use strata_sources::appset::{
    AppSetError, Cluster, GeneratorContext, StaticTrees, generate, generate_params,
};

fn ctx_with(tree: MemoryTree, clusters: Vec<Cluster>) -> GeneratorContext {
    GeneratorContext::new()
        .with_clusters(clusters)
        .with_trees(Arc::new(
            StaticTrees::new().with_repo("https://git.example/repo", Arc::new(tree)),
        ))
}

fn clusters() -> Vec<Cluster> {
    let mut staging = Cluster::new("staging", "https://staging.example");
    staging.labels.insert("env".into(), "staging".into());
    staging.annotations.insert("owner".into(), "team-a".into());
    let mut prod = Cluster::new("prod_eu", "https://prod.example");
    prod.labels.insert("env".into(), "prod".into());
    prod.project = Some("platform".into());
    vec![staging, prod]
}

fn params(appset: Value, ctx: &GeneratorContext) -> Vec<Value> {
    generate_params(&appset, ctx)
        .expect("generate params")
        .into_iter()
        .map(Value::Object)
        .collect()
}

#[test]
fn git_files_arrays_excludes_and_values_in_go_template() {
    let tree = MemoryTree::new()
        .with_file(
            "envs/dev/config.yaml",
            "- name: a\n  size: 1\n- name: b\n  size: 2\n",
        )
        .with_file("envs/prod/config.yaml", "name: p\nnested: {x: z}\n")
        .with_file("envs/skip/config.yaml", "name: skipped\n");
    let ctx = ctx_with(tree, vec![]);
    let got = params(
        json!({"spec": {"goTemplate": true, "generators": [{"git": {
            "repoURL": "https://git.example/repo", "revision": "main",
            "files": [{"path": "envs/**/config.yaml"}, {"path": "envs/skip/*", "exclude": true}],
            "values": {"full": "{{ .path.basename }}-{{ .name }}"}
        }}]}}),
        &ctx,
    );
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["name"], "a");
    assert_eq!(got[0]["size"], 1);
    assert_eq!(got[0]["path"]["path"], "envs/dev");
    assert_eq!(got[0]["path"]["filename"], "config.yaml");
    assert_eq!(got[0]["path"]["segments"], json!(["envs", "dev"]));
    assert_eq!(got[0]["values"]["full"], "dev-a");
    assert_eq!(got[2]["nested"]["x"], "z");
    assert_eq!(got[2]["values"]["full"], "prod-p");
}

#[test]
fn git_files_flat_mode_formats_numbers_like_go() {
    let tree = MemoryTree::new().with_file(
        "c.json",
        r#"{"port": 8080, "big": 1000000, "on": true, "list": ["x"]}"#,
    );
    let ctx = ctx_with(tree, vec![]);
    let got = params(
        json!({"spec": {"generators": [{"git": {"repoURL": "https://git.example/repo", "files": [{"path": "*.json"}]}}]}}),
        &ctx,
    );
    assert_eq!(got[0]["port"], "8080");
    assert_eq!(got[0]["big"], "1e+06");
    assert_eq!(got[0]["on"], "true");
    assert_eq!(got[0]["list.0"], "x");
    assert_eq!(got[0]["path"], ".");
}

#[test]
fn git_directories_excludes_win_over_includes() {
    let tree = MemoryTree::new()
        .with_dir("apps/web")
        .with_dir("apps/api")
        .with_dir("apps/legacy")
        .with_dir("other");
    let ctx = ctx_with(tree, vec![]);
    let got = params(
        json!({"spec": {"generators": [{"git": {"repoURL": "https://git.example/repo", "directories": [
            {"path": "apps/*"}, {"path": "apps/legacy", "exclude": true}
        ]}}]}}),
        &ctx,
    );
    let paths: Vec<&str> = got
        .iter()
        .map(|p| p["path"].as_str().unwrap_or_default())
        .collect();
    // Directories come in the tree's (sorted) order; `apps` itself does not match `apps/*`.
    assert_eq!(paths, ["apps/api", "apps/web"]);
    assert_eq!(got[1]["path[1]"], "web");
}

#[test]
fn unknown_repository_is_an_error() {
    let ctx = ctx_with(MemoryTree::new(), vec![]);
    let err = generate_params(
        &json!({"spec": {"generators": [{"git": {"repoURL": "https://elsewhere", "directories": [{"path": "*"}]}}]}}),
        &ctx,
    )
    .expect_err("no tree");
    assert!(
        matches!(err.innermost(), AppSetError::NoTree { repo } if repo == "https://elsewhere"),
        "{err}"
    );
}

#[test]
fn clusters_flat_go_template_in_cluster_and_flat_list() {
    let ctx = ctx_with(MemoryTree::new(), clusters());
    let flat = params(json!({"spec": {"generators": [{"clusters": {}}]}}), &ctx);
    assert_eq!(flat.len(), 3);
    assert_eq!(flat[0]["name"], "in-cluster");
    assert_eq!(flat[0]["server"], "https://kubernetes.default.svc");
    assert_eq!(flat[1]["metadata.labels.env"], "staging");
    assert_eq!(flat[1]["metadata.annotations.owner"], "team-a");
    assert_eq!(flat[2]["nameNormalized"], "prod-eu");
    assert_eq!(flat[2]["project"], "platform");

    let go = params(
        json!({"spec": {"goTemplate": true, "generators": [{"clusters": {
            "selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
            "values": {"host": "{{ .server }}"}
        }}]}}),
        &ctx,
    );
    assert_eq!(go.len(), 1);
    assert_eq!(go[0]["metadata"]["labels"]["env"], "prod");
    assert_eq!(go[0]["values"]["host"], "https://prod.example");

    let flat_list = params(
        json!({"spec": {"goTemplate": true, "generators": [{"clusters": {"flatList": true}}]}}),
        &ctx,
    );
    assert_eq!(flat_list.len(), 1);
    assert_eq!(flat_list[0]["clusters"].as_array().map(Vec::len), Some(3));
}

#[test]
fn generator_selector_filters_string_params() {
    let ctx = GeneratorContext::new();
    let got = params(
        json!({"spec": {"generators": [{
            "list": {"elements": [{"env": "dev"}, {"env": "prod"}]},
            "selector": {"matchLabels": {"env": "prod"}}
        }]}}),
        &ctx,
    );
    assert_eq!(got, vec![json!({"env": "prod"})]);
}

#[test]
fn list_flat_mode_rejects_non_strings_and_appends_elements_yaml() {
    let ctx = GeneratorContext::new();
    let err = generate_params(
        &json!({"spec": {"generators": [{"list": {"elements": [{"n": 1}]}}]}}),
        &ctx,
    );
    assert!(err.is_err());
    let got = params(
        json!({"spec": {"goTemplate": true, "generators": [{"list": {
            "elements": [{"n": 1}], "elementsYaml": "- n: 2\n- n: 3\n"
        }}]}}),
        &ctx,
    );
    assert_eq!(got, vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
}

#[test]
fn matrix_second_child_sees_first_params() {
    let tree = MemoryTree::new()
        .with_file("clusters/staging/apps.yaml", "- app: web\n- app: api\n")
        .with_file("clusters/prod_eu/apps.yaml", "- app: web\n");
    let ctx = ctx_with(tree, clusters());
    let go = params(
        json!({"spec": {"goTemplate": true, "generators": [{"matrix": {"generators": [
            {"clusters": {"selector": {"matchLabels": {"env": "staging"}}}},
            {"git": {"repoURL": "https://git.example/repo", "files": [{"path": "clusters/{{ .name }}/apps.yaml"}],
                     "values": {"id": "{{ .app }}"}}}
        ]}}]}}),
        &ctx,
    );
    assert_eq!(go.len(), 2);
    assert_eq!(go[0]["name"], "staging");
    assert_eq!(go[0]["app"], "web");
    assert_eq!(go[1]["app"], "api");
    assert_eq!(go[1]["values"]["id"], "api");

    let flat = params(
        json!({"spec": {"generators": [{"matrix": {"generators": [
            {"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
            {"git": {"repoURL": "https://git.example/repo", "files": [{"path": "clusters/{{name}}/apps.yaml"}]}}
        ]}}]}}),
        &ctx,
    );
    assert_eq!(flat.len(), 1);
    assert_eq!(flat[0]["name"], "prod_eu");
    assert_eq!(flat[0]["path.basename"], "prod_eu");
}

#[test]
fn matrix_go_template_first_child_wins() {
    let ctx = GeneratorContext::new();
    let got = params(
        json!({"spec": {"goTemplate": true, "generators": [{"matrix": {"generators": [
            {"list": {"elements": [{"a": "first", "m": {"x": 1}}]}},
            {"list": {"elements": [{"a": "second", "b": "b", "m": {"x": 2, "y": 3}}]}}
        ]}}]}}),
        &ctx,
    );
    assert_eq!(
        got,
        vec![json!({"a": "first", "b": "b", "m": {"x": 1, "y": 3}})]
    );
}

#[test]
fn matrix_child_count_errors() {
    let ctx = GeneratorContext::new();
    let one = generate_params(
        &json!({"spec": {"generators": [{"matrix": {"generators": [{"list": {"elements": []}}]}}]}}),
        &ctx,
    );
    assert!(
        one.expect_err("one child")
            .to_string()
            .contains("less than two")
    );
    let three = generate_params(
        &json!({"spec": {"generators": [{"matrix": {"generators": [
            {"list": {"elements": []}}, {"list": {"elements": []}}, {"list": {"elements": []}}
        ]}}]}}),
        &ctx,
    );
    assert!(
        three
            .expect_err("three children")
            .to_string()
            .contains("more than two")
    );
}

#[test]
fn merge_go_template_deep_override_and_uniqueness() {
    let ctx = GeneratorContext::new();
    let got = params(
        json!({"spec": {"goTemplate": true, "generators": [{"merge": {"mergeKeys": ["name"], "generators": [
            {"list": {"elements": [{"name": "a", "cfg": {"x": 1, "y": 1}}, {"name": "b", "cfg": {"x": 1}}]}},
            {"list": {"elements": [{"name": "a", "cfg": {"y": 2}}, {"name": "z"}]}}
        ]}}]}}),
        &ctx,
    );
    assert_eq!(
        got,
        vec![
            json!({"name": "a", "cfg": {"x": 1, "y": 2}}),
            json!({"name": "b", "cfg": {"x": 1}})
        ]
    );
    let dup = generate_params(
        &json!({"spec": {"generators": [{"merge": {"mergeKeys": ["k"], "generators": [
            {"list": {"elements": [{"k": "1"}, {"k": "1"}]}}, {"list": {"elements": []}}
        ]}}]}}),
        &ctx,
    );
    assert!(
        dup.expect_err("duplicate")
            .to_string()
            .contains("not unique")
    );
}

#[test]
fn generate_renders_applications() {
    let tree = MemoryTree::new().with_dir("apps/web").with_dir("apps/api");
    let ctx = ctx_with(tree, vec![]);
    let appset = json!({
        "metadata": {"name": "platform", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": "https://git.example/repo", "directories": [{"path": "apps/*"}]}}],
            "template": {
                "metadata": {"name": "{{ .path.basename }}", "labels": {"app.kubernetes.io/{{ .path.basename }}": "yes"}},
                "spec": {"project": "default", "source": {"path": "{{ .path.path }}"}, "destination": {"namespace": "{{ .path.basename | upper }}"}}
            },
            "templatePatch": "spec:\n  source:\n    targetRevision: {{ .path.basename }}-rev\n"
        }
    });
    let apps = generate(&appset, &ctx).expect("generate");
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[1]["kind"], "Application");
    assert_eq!(apps[1]["metadata"]["name"], "web");
    assert_eq!(apps[1]["metadata"]["namespace"], "argocd");
    assert_eq!(
        apps[1]["metadata"]["labels"]["app.kubernetes.io/web"],
        "yes"
    );
    assert_eq!(
        apps[1]["metadata"]["finalizers"],
        json!(["resources-finalizer.argocd.argoproj.io"])
    );
    assert_eq!(apps[0]["spec"]["destination"]["namespace"], "API");
    assert_eq!(apps[0]["spec"]["source"]["targetRevision"], "api-rev");
    assert_eq!(apps[0]["spec"]["source"]["path"], "apps/api");
}

#[test]
fn generate_respects_preserve_and_rejects_duplicate_names() {
    let ctx = GeneratorContext::new();
    let preserve = generate(
        &json!({"spec": {
            "generators": [{"list": {"elements": [{"n": "a"}]}}],
            "syncPolicy": {"preserveResourcesOnDeletion": true},
            "template": {"metadata": {"name": "{{n}}"}, "spec": {}}
        }}),
        &ctx,
    )
    .expect("generate");
    assert!(preserve[0]["metadata"].get("finalizers").is_none());
    let dup = generate(
        &json!({"spec": {
            "generators": [{"list": {"elements": [{"n": "a"}, {"n": "a"}]}}],
            "template": {"metadata": {"name": "{{n}}"}, "spec": {}}
        }}),
        &ctx,
    );
    assert!(
        dup.expect_err("duplicate")
            .to_string()
            .contains("duplicate name: a")
    );
}

#[test]
fn generator_template_overrides_appset_template() {
    let ctx = GeneratorContext::new();
    let apps = generate(
        &json!({"spec": {
            "generators": [{"list": {"elements": [{"n": "a"}], "template": {"metadata": {}, "spec": {"project": "special"}}}}],
            "template": {"metadata": {"name": "{{n}}"}, "spec": {"project": "default", "source": {"path": "{{n}}"}}}
        }}),
        &ctx,
    )
    .expect("generate");
    assert_eq!(apps[0]["metadata"]["name"], "a");
    assert_eq!(apps[0]["spec"]["project"], "special");
    assert_eq!(apps[0]["spec"]["source"]["path"], "a");
}

#[test]
fn go_template_missing_key_error_fails_generation() {
    let ctx = GeneratorContext::new();
    let err = generate(
        &json!({"spec": {
            "goTemplate": true, "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": [{"n": "a"}]}}],
            "template": {"metadata": {"name": "{{ .nope }}"}, "spec": {}}
        }}),
        &ctx,
    )
    .expect_err("missing key");
    assert!(
        err.to_string()
            .contains("map has no entry for key \"nope\""),
        "{err}"
    );
}

#[test]
fn matrix_child_values_may_reference_their_own_params() {
    let ctx = GeneratorContext::new();
    let got = params(
        json!({"spec": {"goTemplate": true, "generators": [{"matrix": {"generators": [
            {"list": {"elements": [{"cluster": "c1"}]}},
            {"list": {"elements": [{"app": "web"}], "template": {"metadata": {"name": "{{ .app }}"}}}}
        ]}}]}}),
        &ctx,
    );
    assert_eq!(got, vec![json!({"cluster": "c1", "app": "web"})]);
    let missing = generate_params(
        &json!({"spec": {"goTemplate": true, "generators": [{"matrix": {"generators": [
            {"list": {"elements": [{"cluster": "c1"}]}},
            {"list": {"elements": [{"app": "{{ .nope }}"}]}}
        ]}}]}}),
        &ctx,
    );
    assert!(
        missing
            .expect_err("strict interpolation")
            .to_string()
            .contains("map has no entry for key \"nope\"")
    );
}

#[test]
fn errors_keep_their_cause_as_the_source() {
    use std::error::Error as _;
    // A git file that is not YAML: the YAML error is the file error's cause.
    let tree = MemoryTree::new().with_file("bad/config.yaml", "a: [unclosed\n");
    let ctx = ctx_with(tree, vec![]);
    let err = generate_params(
        &json!({"spec": {"generators": [{"git": {"repoURL": "https://git.example/repo", "files": [{"path": "bad/*.yaml"}]}}]}}),
        &ctx,
    )
    .expect_err("not YAML");
    assert!(
        err.to_string()
            .starts_with("error generating params from git: unable to process file 'bad/config.yaml': unable to parse file: "),
        "{err}"
    );
    // The git step's error, then the file's error, then the YAML error.
    let file = err.innermost();
    assert!(
        matches!(file, AppSetError::File { file, .. } if file == "bad/config.yaml"),
        "{file:?}"
    );
    let mut causes = Vec::new();
    let mut cause = err.source();
    while let Some(c) = cause {
        causes.push(c);
        cause = c.source();
    }
    assert!(
        causes
            .iter()
            .any(|c| c.is::<strata_sources::appset::generators::git::GitFileError>()),
        "{causes:?}"
    );
    assert!(
        causes
            .iter()
            .any(|c| c.is::<strata_core::yaml::YamlError>()),
        "{causes:?}"
    );

    // A template that does not parse: the Go template error is the cause.
    let err = generate(
        &json!({"spec": {
            "goTemplate": true,
            "generators": [{"list": {"elements": [{"n": "a"}]}}],
            "template": {"metadata": {"name": "{{ .n "}, "spec": {}}
        }}),
        &GeneratorContext::new(),
    )
    .expect_err("unclosed action");
    assert!(
        matches!(err.innermost(), AppSetError::TemplateParse { template, .. } if template == "{{ .n "),
        "{err:?}"
    );
    let cause = err
        .innermost()
        .source()
        .and_then(|c| c.downcast_ref::<strata_gotemplate::TemplateError>())
        .expect("the template error");
    assert!(cause.parse, "{cause:?}");
}
