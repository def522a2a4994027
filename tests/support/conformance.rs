//! Shared by the conformance harnesses of every crate (each includes this file with `#[path]`):
//! reads the case files and runs a harness over the cases of its kinds, reporting as
//! `tests/conformance/README.md` asks — one `FAIL <id>: <reason>` line per failing case, then
//! `conformance: N passed, M failed`.

use std::path::PathBuf;

use serde_json::Value;

/// `$STRATA_CONFORMANCE_DIR` when set, else the workspace's `tests/conformance/`.
pub fn conformance_dir() -> PathBuf {
    match std::env::var("STRATA_CONFORMANCE_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance"),
    }
}

/// Every case of every `*.json` file in the conformance directory, files in name order.
pub fn load_cases() -> Vec<Value> {
    let dir = conformance_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no conformance files in {}",
        dir.display()
    );
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let parsed: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        match parsed {
            Value::Array(items) => cases.extend(items),
            _ => panic!("{} is not a JSON array of cases", file.display()),
        }
    }
    cases
}

/// Runs `check(kind, case)` on every case whose `kind` is one of `kinds`, prints the report and
/// fails the test when a case failed or none was found.
pub fn run_cases(kinds: &[&str], mut check: impl FnMut(&str, &Value) -> Result<(), String>) {
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in load_cases() {
        let kind = case.get("kind").and_then(Value::as_str).unwrap_or("");
        if !kinds.contains(&kind) {
            continue;
        }
        let id = case.get("id").and_then(Value::as_str).unwrap_or("<no id>");
        match check(kind, &case) {
            Ok(()) => passed += 1,
            Err(reason) => {
                failed += 1;
                println!("FAIL {id}: {reason}");
            }
        }
    }
    println!("conformance: {passed} passed, {failed} failed");
    assert!(passed + failed > 0, "no {kinds:?} cases found");
    assert_eq!(failed, 0, "{failed} {kinds:?} conformance case(s) failed");
}

/// JSON equality with numbers compared by value (integers exactly) and object key order ignored.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
