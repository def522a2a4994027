//! Differential tests: Strata's in-process composition pipelines against the real Crossplane
//! functions (function-patch-and-transform v0.10.8, function-go-templating v0.12.2,
//! function-auto-ready v0.6.0: the versions `strata_testkube::functions` pins), run as programs on 127.0.0.1 and called over gRPC the way
//! Crossplane calls them: every step gets the observed state, the previous step's desired state
//! and context, and its own input; Crossplane starts with empty desired state and no context.
//!
//! Each composition is compared after every step (the composition cut after step 1, 2, …), so
//! a difference names the first step that makes it. Compared: the desired composed resources
//! and their readiness, the desired composite (status), whether the composite was marked not
//! ready, the composite's connection details, the pipeline context, the conditions the
//! functions set, and the warnings they return.
//!
//! Normalised, and why: numbers only. The function protocol carries objects as
//! `google.protobuf.Struct`, whose numbers are doubles, so `2` and `2.0` cannot be told apart
//! on the wire; whole numbers are read back as integers on both sides (Crossplane's JSON round
//! trip of a `Struct` does the same). Nothing else is normalised: the compositions are written
//! without anything nondeterministic (no random names, no timestamps).
//!
//! The shared corpus names older function packages in its `functions.yaml`; they are not what
//! runs here (the pinned versions are).
//!
//! Readiness is compared as "ready" or not: Strata's render reports a composed resource's
//! readiness as a boolean, so an explicit `READY_FALSE` and an unspecified readiness compare
//! equal (both "not ready").
//!
//! The functions are built from the Go module proxy on first use (or named by
//! `FUNCTION_PATCH_AND_TRANSFORM`, `FUNCTION_GO_TEMPLATING`, `FUNCTION_AUTO_READY`); when it
//! runs without them it fails saying how to provide them. It is `#[ignore]`d by default because
//! the proxy CI uses does not serve the first two (see the test); `.ci/run` runs it whenever
//! they are named.
//!
//! Compositions: `../shared/corpora/crossplane/` (the shared corpus: a single P&T step, and a
//! P&T, go-templating, P&T pipeline) and `tests/data/functions/` (written for these tests in
//! the style of public configuration packages). Every one must render on both sides; a pipeline
//! that fails on either side is reported.

#[path = "support/functions.rs"]
pub(crate) mod support;

use serde_json::json;
use support::{Functions, all_cases, differences, real, strata};

/// Known differences left in place, as `(case, step count, path)`: each must still differ
/// (the test fails when one disappears, so the list stays true).
///
/// 1. Numbers inside function-patch-and-transform are doubles. function-sdk-go reads every
///    resource of the request with `structpb.Struct.AsMap` (all numbers `float64`); only the
///    value a patch writes is turned back into an integer. So a `%d` format (string transform
///    or combine) on a number prints `%!d(float64=N)`, and a `MatchInteger` readiness check
///    on an observed field fails with the warning "not a (int64) number" (the resource is then
///    not ready). Strata treats whole numbers as integers throughout.
/// 2. Sprig's `merge` (and `mergeOverwrite`) writes into its first argument in Go: merging
///    defaults into a map of the request (`merge $xr.spec.quota $defaults`) changes the request
///    every later expression sees. Strata's template values are immutable, so `merge` returns a
///    new map and leaves the request as it was.
/// 3. `kindOf`/`typeOf` of an integer from the request: `int64` in the function (it decodes the
///    request with integers as `int64`), `int` in Strata (which cannot tell a request's
///    integer from a template literal, which is `int` in Go).
const KNOWN: &[(&str, usize, &str)] = &[
    // 1.
    ("pt-connection-readiness", 1, "/composite/status/endpoint"),
    ("pt-connection-readiness", 1, "/resources/instance/ready"),
    ("pt-connection-readiness", 1, "/warnings"),
    (
        "pt-numbers-arrays",
        1,
        "/resources/securitygroup/resource/spec/forProvider/tags/portDecimal",
    ),
    // 2.
    (
        "gt-sprig-data",
        1,
        "/resources/config/resource/spec/forProvider/manifest/data/tenant.json",
    ),
    (
        "gt-sprig-data",
        1,
        "/resources/config/resource/spec/forProvider/manifest/data/checksum",
    ),
    // 3.
    (
        "gt-sprig-data",
        1,
        "/resources/config/resource/spec/forProvider/manifest/data/kinds",
    ),
];

// Not in the default run: the Go module proxy this project's CI uses refuses the modules of
// function-patch-and-transform and function-go-templating (it serves their version lists but
// answers 403 for their code), so CI cannot build them. `.ci/run` runs this test when
// FUNCTION_PATCH_AND_TRANSFORM and FUNCTION_GO_TEMPLATING name built functions, and says
// loudly that it did not run otherwise.
#[test]
#[ignore = "needs the real Crossplane functions: set FUNCTION_PATCH_AND_TRANSFORM and FUNCTION_GO_TEMPLATING, then run with --ignored"]
fn every_composition_renders_as_the_real_functions_do() {
    let cases = all_cases();
    let mut functions = Functions::start();
    let mut report = Vec::new();
    let mut known_seen = Vec::new();
    for case in &cases {
        for steps in 1..=case.steps().len() {
            let real = real(&mut functions, case, steps);
            let ours = strata(case, steps);
            if std::env::var_os("STRATA_FNDIFF_DUMP").is_some() {
                eprintln!(
                    "== {} after {steps} step(s)\nreal:   {:?}\nstrata: {:?}",
                    case.name, real, ours
                );
            }
            let lines = match (&real, &ours) {
                (Ok(r), Ok(s)) => differences(&r.0, &s.0),
                // Every composition here is meant to render.
                (Err(r), Err(s)) => vec![format!("both failed: real {r}; Strata {s}")],
                (Err(r), Ok(_)) => vec![format!("real pipeline failed: {r}; Strata rendered")],
                (Ok(_), Err(s)) => vec![format!("Strata failed: {s}; the real pipeline rendered")],
            };
            for line in lines {
                let path = line.split(':').next().unwrap_or("");
                if let Some(k) = KNOWN
                    .iter()
                    .find(|(c, n, p)| *c == case.name && *n == steps && *p == path)
                {
                    known_seen.push(*k);
                } else {
                    report.push(format!("{} after {steps} step(s): {line}", case.name));
                }
            }
        }
    }
    let gone: Vec<_> = KNOWN.iter().filter(|k| !known_seen.contains(k)).collect();
    assert!(
        report.is_empty() && gone.is_empty(),
        "Strata differs from the real functions:\n{}\nknown differences no longer seen: {gone:?}",
        report.join("\n")
    );
    assert!(cases.len() >= 15, "{} compositions", cases.len());
}

#[test]
fn the_comparison_sees_a_changed_field_a_missing_resource_and_readiness() {
    let real = json!({"resources": {"a": {"resource": {"spec": {"x": 1}}, "ready": true}, "b": {"resource": {}, "ready": false}}});
    let ours = json!({"resources": {"a": {"resource": {"spec": {"x": 2}}, "ready": false}}});
    assert_eq!(
        differences(&real, &ours),
        [
            "/resources/a/ready: real true, strata false",
            "/resources/a/resource/spec/x: real 1, strata 2",
            "/resources/b: real {\"resource\":{},\"ready\":false}, strata absent",
        ]
    );
    assert!(differences(&real, &real).is_empty());
}

#[test]
fn whole_numbers_survive_the_wire_as_integers_and_fractions_as_doubles() {
    let v = json!({"a": 3, "b": 2.5, "c": [true, null, "s"], "d": {"e": -7}});
    let back = support::from_struct(&support::to_struct(&v).expect("an object"));
    assert_eq!(back, v);
}
