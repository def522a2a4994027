//! Every kind of conformance case has a harness that owns it.
//!
//! The harnesses live next to the code they test; this test reads the case files and fails on
//! any kind no harness owns, so no case is silently dropped.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Kind → the harness (crate and test) that runs it.
const OWNERS: &[(&str, &str)] = &[
    (
        "fieldpath",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    (
        "transform",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    (
        "patch",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    (
        "readiness",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    (
        "connection",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    (
        "render",
        "strata-composition tests/conformance_crossplane.rs",
    ),
    ("appset", "strata-composition tests/conformance_appset.rs"),
    ("diff", "strata-drift tests/conformance_drift.rs"),
    ("normalize", "strata-drift tests/conformance_drift.rs"),
    ("backoff", "strata-drift tests/conformance_drift.rs"),
    ("health", "strata-k8s tests/conformance_k8s.rs"),
    ("sync-order", "strata-k8s tests/conformance_k8s.rs"),
];

fn case_dir() -> PathBuf {
    match std::env::var_os("STRATA_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance"),
    }
}

#[test]
fn conformance_coverage_every_kind_has_a_harness() {
    let dir = case_dir();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        files += 1;
        let cases: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in cases
            .as_array()
            .unwrap_or_else(|| panic!("{}: not a list", path.display()))
        {
            let kind = case["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: case without kind", path.display()));
            *kinds.entry(kind.to_owned()).or_default() += 1;
        }
    }
    assert!(files > 0, "no case files in {}", dir.display());
    let mut unowned = Vec::new();
    for (kind, count) in &kinds {
        match OWNERS.iter().find(|(k, _)| k == kind) {
            Some((_, harness)) => println!("{kind:>10}: {count:>3} cases, run by {harness}"),
            None => unowned.push(format!("{kind} ({count} cases)")),
        }
    }
    assert!(
        unowned.is_empty(),
        "kinds without a harness: {}",
        unowned.join(", ")
    );
}
