//! The corners of Helm's dialect where Go's types show through, against the real
//! `helm template`: values files read as YAML 1.1 through a JSON round trip (`yes`/`on` are
//! booleans, every number a float64), `.Files.GetBytes` (a `[]byte`), `.Capabilities`
//! printed and compared, and Go's shared maps (`set` on `.`/`$`/`.Values`, seen by every later
//! action, `include` and template file). Each ConfigMap of the test charts must be equal key by
//! key; what Strata does not do is refused by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use strata_core::source::FsTree;
use strata_sources::helm::{self, HelmOptions};
use strata_testkube::helm::{TemplateArgs, ensure, template};

const RELEASE: &str = "probe";
const NAMESPACE: &str = "probe-ns";

fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_charts")
}

/// `name -> data` of every ConfigMap.
fn config_maps(objects: impl Iterator<Item = Value>) -> BTreeMap<String, Value> {
    objects
        .map(|o| {
            (
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                o.get("data").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Renders `chart` (with `values`, files of the chart) with both and returns the
/// ConfigMaps' data of each: (helm, strata).
#[allow(clippy::type_complexity)]
fn both(
    chart: &str,
    values: &[&str],
) -> (
    BTreeMap<String, Value>,
    Result<BTreeMap<String, Value>, helm::HelmError>,
) {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = charts_dir().join(chart);
    let args = TemplateArgs::new(RELEASE)
        .with_namespace(NAMESPACE)
        .with_value_files(values.iter().map(|f| dir.join(f)).collect());
    let stdout = template(&program, &dir, &args)
        .expect("helm ran")
        .expect("helm rendered");
    let expected = config_maps(
        strata_core::yaml::documents(&stdout)
            .into_iter()
            .filter(|d| !d.is_blank())
            .map(|d| strata_core::yaml::from_str::<Value>(&d.text).expect("helm printed YAML"))
            .filter(|v| !v.is_null()),
    );
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    for file in values {
        let text = std::fs::read_to_string(dir.join(file)).expect("values file");
        options.value_files.push(((*file).to_string(), text));
    }
    let tree = FsTree::new(charts_dir());
    let actual = helm::render(&tree, chart, &options)
        .map(|manifests| config_maps(manifests.into_iter().map(|m| m.object)));
    (expected, actual)
}

/// Every key of ConfigMap `name` that differs, as `key: helm != strata`.
fn differences(
    expected: &BTreeMap<String, Value>,
    actual: &BTreeMap<String, Value>,
    name: &str,
) -> Vec<String> {
    let empty = serde_json::Map::new();
    let e = expected
        .get(name)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let a = actual
        .get(name)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    assert!(!e.is_empty(), "helm rendered ConfigMap {name}");
    let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| e.get(*k) != a.get(*k))
        .map(|k| format!("{name}.{k}: helm {:?} != strata {:?}", e.get(k), a.get(k)))
        .collect()
}

fn assert_equal(chart: &str, values: &[&str], name: &str) {
    let (expected, actual) = both(chart, values);
    let actual = actual.expect("strata rendered");
    let diffs = differences(&expected, &actual, name);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn values_files_are_read_as_helm_reads_them() {
    assert_equal("dialect", &[], "values");
}

#[test]
fn files_get_bytes_is_a_byte_slice() {
    assert_equal("dialect", &[], "files");
}

#[test]
fn b64enc_of_bytes_fails_in_both() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = charts_dir().join("dialect");
    let args = TemplateArgs::new(RELEASE).with_value_files(vec![dir.join("ci/b64.yaml")]);
    let helm_error = template(&program, &dir, &args)
        .expect("helm ran")
        .expect_err("helm fails");
    assert!(
        helm_error.message.contains("expected string; got []uint8"),
        "{}",
        helm_error.message
    );
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    options
        .value_files
        .push(("ci/b64.yaml".to_string(), "bytesB64: true\n".to_string()));
    let err =
        helm::render(&FsTree::new(charts_dir()), "dialect", &options).expect_err("strata fails");
    assert!(
        err.to_string().contains("expected string; got []uint8"),
        "{err}"
    );
}

/// Sprig's `semver`: a `*semver.Version` with its methods, printed and encoded through its
/// `String` method, as the bitnami `common` library chart uses it for image versions.
#[test]
fn semver_objects_behave_as_in_helm() {
    assert_equal("dialect", &[], "semver");
}

/// Sprig's path, URL, base32, duration, predicate and `must…` functions, `.Files.Glob` as a
/// map (empty, `len`, `range`), a constraint with a space after its operator, and `toYaml` of
/// a text of several lines, as the public charts use them.
#[test]
fn more_sprig_functions_behave_as_in_helm() {
    assert_equal("dialect", &[], "more");
}

/// A dependency is served only by a subchart whose version is in its range: an alias of an
/// out-of-range subchart is left out, and the subchart is rendered under its own name, as a
/// subchart `Chart.yaml` does not list.
#[test]
fn dependencies_are_served_by_subcharts_in_their_version_range() {
    for name in ["parent", "sub", "other"] {
        assert_equal("dep-ranges", &[], name);
    }
}

/// An unpacked subchart is read with the top chart's `.helmignore` (paths from the top chart),
/// not its own, as Helm reads it.
#[test]
fn unpacked_subcharts_are_read_with_the_top_charts_helmignore() {
    let (expected, actual) = both("dep-ranges", &[]);
    let actual = actual.expect("strata rendered");
    assert!(expected.contains_key("other-test"), "{expected:?}");
    assert!(!expected.contains_key("other-extra"), "{expected:?}");
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>()
    );
    assert_equal("dep-ranges", &[], "other-test");
}

/// `NOTES.txt` is executed like every template: its `fail` stops the render in both, though
/// it is no manifest.
#[test]
fn a_failing_notes_file_fails_in_both() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = charts_dir().join("dialect");
    let args = TemplateArgs::new(RELEASE).with_value_files(vec![dir.join("ci/notes.yaml")]);
    let helm_error = template(&program, &dir, &args)
        .expect("helm ran")
        .expect_err("helm fails");
    assert!(
        helm_error.message.contains("the notes refuse these values"),
        "{}",
        helm_error.message
    );
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    options
        .value_files
        .push(("ci/notes.yaml".to_string(), "notesFail: true\n".to_string()));
    let err =
        helm::render(&FsTree::new(charts_dir()), "dialect", &options).expect_err("strata fails");
    assert!(
        err.to_string().contains("the notes refuse these values"),
        "{err}"
    );
    // Without the value both render, and the notes are no manifest.
    let (expected, actual) = both("dialect", &[]);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.expect("strata rendered").keys().collect::<Vec<_>>()
    );
}

#[test]
fn capabilities_print_and_compare_as_in_helm() {
    assert_equal("dialect", &[], "caps");
    assert_equal("dialect", &[], "apis");
}

#[test]
fn set_on_variables_is_seen_through_every_alias() {
    assert_equal("shared-top", &[], "setp");
    assert_equal("shared-top", &[], "later");
}

/// `set` on `.`, `$`, `.Values`, a variable holding `.`, or `.Values` inside an `include`:
/// every later action and template file sees the change, in Helm and in Strata.
#[test]
fn set_on_the_template_data_is_seen_by_later_templates() {
    for mode in ["dot", "dollar", "values", "alias", "include"] {
        let file = format!("ci/{mode}.yaml");
        let (expected, actual) = both("shared-top", &[file.as_str()]);
        let later = expected.get("later").and_then(|d| d.get("x")).cloned();
        assert!(
            matches!(later, Some(Value::String(ref x)) if !x.is_empty()),
            "{mode}: a later template sees the change in helm: {later:?}"
        );
        let actual = actual.unwrap_or_else(|e| panic!("{mode}: strata rendered: {e}"));
        for name in ["setp", "later"] {
            let diffs = differences(&expected, &actual, name);
            assert!(diffs.is_empty(), "{mode}: {}", diffs.join("\n"));
        }
    }
}

/// Maps are shared as Go shares them: through variables, `dict`, `list`, `default`, `get`,
/// `ternary`, `index` and `first`; `merge` into a new map changes the first source's nested
/// maps (mergo assigns them, then merges into them); `mergeOverwrite` and `unset` in place;
/// `deepCopy` copies; a subchart's `.Values` is its entry in the parent's; `.Template` is set
/// per file on the chart's one data map.
#[test]
fn maps_are_shared_as_go_shares_them() {
    for name in ["mutate", "later", "sub"] {
        assert_equal("shared-maps", &[], name);
    }
}

/// A function result that in Go shares maps with its arguments (`pick`), changed in place:
/// Helm renders the change into `.Values`; Strata's result is a copy, so it refuses by name
/// rather than rendering something else.
#[test]
fn changing_a_copied_function_result_is_refused_by_name() {
    let (expected, actual) = both("shared-maps", &["ci/pick.yaml"]);
    let left = expected.get("later").and_then(|d| d.get("left")).cloned();
    assert!(
        matches!(&left, Some(Value::String(s)) if s.contains("fromPick")),
        "helm changes .Values through pick's result: {left:?}"
    );
    match actual {
        Err(helm::HelmError::Unsupported {
            feature:
                helm::UnsupportedFeature::Function {
                    function,
                    reason,
                    file,
                    line,
                    ..
                },
            chart,
        }) => {
            assert_eq!(function, "set");
            assert_eq!(chart, "shared-maps");
            assert!(reason.contains("pick"), "{reason}");
            assert_eq!(
                (file.as_str(), line),
                ("shared-maps/templates/b-mutate.yaml", 32)
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A `.helmignore` negation (`!pattern`) ignores every name it does not match, as Helm's
/// `pkg/ignore` reads it: here only names with a `.` or an `s` are kept (`config/`, `LICENSE`
/// dropped), after a plain pattern that drops `notes-1.txt`.
#[test]
fn helmignore_negations_are_read_as_helm_reads_them() {
    assert_equal("ignore-negation", &[], "files");
}

/// Helm fails both ways a `.helmignore` can break a chart: a negation not matching
/// `Chart.yaml` (which is then ignored) and `**`; Strata fails with the same words.
#[test]
fn helmignore_that_helm_refuses_is_refused() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    for (chart, words) in [
        ("ignore-chart-yaml", "Chart.yaml file is missing"),
        (
            "ignore-double-star",
            "double-star (**) syntax is not supported",
        ),
    ] {
        let helm_error = template(
            &program,
            &charts_dir().join(chart),
            &TemplateArgs::new(RELEASE),
        )
        .expect("helm ran")
        .expect_err("helm fails");
        assert!(helm_error.message.contains(words), "{}", helm_error.message);
        let err = helm::render(
            &FsTree::new(charts_dir()),
            chart,
            &HelmOptions::new(RELEASE, NAMESPACE),
        )
        .expect_err("strata fails");
        assert!(err.to_string().contains(words), "{chart}: {err}");
    }
}

/// `durationRound`, `abbrevboth` and `abbrev` (bytes, as goutils cuts them), equal to Helm's.
#[test]
fn duration_round_and_abbreviations_are_sprigs() {
    let (expected, actual) = both("dialect", &[]);
    let actual = actual.expect("strata rendered");
    for key in ["durationRound", "abbrevboth", "abbrev"] {
        assert_eq!(expected["more"][key], actual["more"][key], "{key}");
    }
}

/// `fromJson`, `fromJsonArray`: Go's `encoding/json` messages for each kind of syntax error.
#[test]
fn from_json_errors_are_gos_messages() {
    let (expected, actual) = both("dialect", &[]);
    let actual = actual.expect("strata rendered");
    for key in ["fromJsonErrors", "fromJsonArrayErrors"] {
        assert_eq!(expected["more"][key], actual["more"][key], "{key}");
    }
}

/// Sprig's integer functions (`int64`, `add`, `sub`, `mul`, `div`, `mod`, `max`, `min`,
/// `add1`, `biggest`, `toDecimal`) return Go `int64`s, the template's integers are `int`s:
/// `typeOf`, `kindOf`, `kindIs`, `typeIs`, `%T`, fmt's mismatch markers, `duration`,
/// `deepEqual`, `uniq`, `has` and `without` tell them apart as Helm does, the functions that
/// keep their arguments keep the type, and everything else sees the number.
#[test]
fn int64_values_are_told_from_ints_as_in_helm() {
    assert_equal("dialect", &[], "int64");
}

/// A function whose parameter is a Go `int` (`indent`) refuses an `int64` (`add`'s result),
/// in both.
#[test]
fn an_int64_for_an_int_parameter_fails_in_both() {
    let program = ensure(&strata_testkube::target_dir()).expect("helm");
    let dir = charts_dir().join("dialect");
    let args = TemplateArgs::new(RELEASE).with_value_files(vec![dir.join("ci/int64-indent.yaml")]);
    let helm_error = template(&program, &dir, &args)
        .expect("helm ran")
        .expect_err("helm fails");
    assert!(
        helm_error
            .message
            .contains("wrong type for value; expected int; got int64"),
        "{}",
        helm_error.message
    );
    let mut options = HelmOptions::new(RELEASE, NAMESPACE);
    options.value_files.push((
        "ci/int64-indent.yaml".to_string(),
        "int64Indent: true\n".to_string(),
    ));
    let err =
        helm::render(&FsTree::new(charts_dir()), "dialect", &options).expect_err("strata fails");
    assert!(
        err.to_string()
            .contains("wrong type for value; expected int; got int64"),
        "{err}"
    );
}
