//! The plan snapshot under `.strata/cache/plan.bin`: a settled stack re-planned after an edit
//! prints the plan a full plan prints, whatever was edited, written live or applied between
//! runs; the snapshot is used only when nothing but manifests' content changed.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const FROM_SNAPSHOT: &str = "planned from the plan snapshot";

fn strata(dir: &Path, args: &[&str], cache: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("STRATA_NO_CACHE")
        .env("RUST_LOG", "strata::replan=debug")
        .stdin(Stdio::null());
    if !cache {
        command.arg("--no-cache");
    }
    command.output().unwrap()
}

/// Exit code, standard output, and standard error without the debug log lines.
fn shown(o: &Output) -> (Option<i32>, String, String) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("strata::replan"))
        .collect();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        kept.join("\n"),
    )
}

fn log(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn snapshot_file(dir: &Path) -> PathBuf {
    dir.join(".strata/cache/plan.bin")
}

/// One document: a ConfigMap with a value, or a Deployment whose image tag is the value and
/// which refers to its file's first ConfigMap (`envFrom[].configMapRef`, and a
/// `nodeSelector`: reference-like fields, edges of the graph); an optional label (part of its
/// metadata).
#[derive(Debug, Clone)]
struct Doc {
    value: u8,
    label: Option<u8>,
    depends_on_previous: bool,
    deployment: bool,
    /// The document (of the same file) a Deployment's `configMapRef` names.
    refers_to: u8,
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        0u8..10,
        proptest::option::of(0u8..3),
        any::<bool>(),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(value, label, depends_on_previous, deployment)| Doc {
            value,
            label,
            depends_on_previous,
            deployment,
            refers_to: 0,
        })
}

/// The text of file `n`: document `i` is ConfigMap `c<n>x<i>`, maybe depending on the one
/// before it.
fn file_text(n: usize, docs: &[Doc], comment: u8) -> String {
    let mut parts = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let labels = d
            .label
            .map_or(String::new(), |l| format!("  labels:\n    tier: t{l}\n"));
        let annotations = if d.depends_on_previous && i > 0 {
            format!(
                "  annotations:\n    strata.dev/depends-on: ConfigMap/team/c{n}x{}\n",
                i - 1
            )
        } else {
            String::new()
        };
        parts.push(if d.deployment {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: c{n}x{i}\n  namespace: team\n{labels}{annotations}spec:\n  selector:\n    matchLabels:\n      app: c{n}x{i}\n  template:\n    metadata:\n      labels:\n        app: c{n}x{i}\n    spec:\n      nodeSelector:\n        pool: general\n      containers:\n      - name: app\n        image: \"nginx:1.{}\"\n        envFrom:\n        - configMapRef:\n            name: c{n}x{}\n",
                d.value, d.refers_to
            )
        } else {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{n}x{i}\n  namespace: team\n{labels}{annotations}data:\n  value: \"v{}\"\n",
                d.value
            )
        });
    }
    let mut text = parts.join("---\n");
    if comment > 0 {
        text.push_str(&format!("# note {comment}\n"));
    }
    text
}

#[derive(Debug, Clone)]
struct Stack {
    files: Vec<Vec<Doc>>,
    comments: Vec<u8>,
}

impl Stack {
    fn write(&self, dir: &Path) {
        for (n, docs) in self.files.iter().enumerate() {
            let path = dir.join(format!("f{n}.yaml"));
            let text = file_text(n, docs, self.comments[n]);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(path, text).unwrap();
            }
        }
    }
}

/// What happens between two plans.
#[derive(Debug, Clone)]
enum Edit {
    /// A document's value changes (its content, not its metadata).
    Value(u8, u8, u8),
    /// A document's label changes (its metadata).
    Label(u8, u8, Option<u8>),
    /// A Deployment's `configMapRef` names another document (an edge of the graph).
    Retarget(u8, u8, u8),
    /// A comment in a file changes (its text, not its manifests).
    Comment(u8, u8),
    /// A document is added to a file.
    Add(u8, u8),
    /// A file's last document is removed.
    Remove(u8),
    /// A live object is written in place with a value.
    SetLive(u8, u8, u8),
    /// A live object is deleted.
    DeleteLive(u8, u8),
    /// The stack is applied.
    Apply,
    /// A resource is forgotten by the state (`strata state rm`): the state changes, the
    /// live objects do not.
    Forget(u8, u8),
    /// The snapshot is damaged: truncated, a byte flipped, or replaced.
    Damage(u8, u16),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (0u8..3, 0u8..4, 0u8..10).prop_map(|(f, d, v)| Edit::Value(f, d, v)),
        1 => (0u8..3, 0u8..4, proptest::option::of(0u8..3)).prop_map(|(f, d, l)| Edit::Label(f, d, l)),
        2 => (0u8..3, 0u8..5).prop_map(|(f, c)| Edit::Comment(f, c)),
        1 => (0u8..3, 0u8..4, 0u8..4).prop_map(|(f, d, t)| Edit::Retarget(f, d, t)),
        1 => (0u8..3, 0u8..10).prop_map(|(f, v)| Edit::Add(f, v)),
        1 => (0u8..3).prop_map(Edit::Remove),
        2 => (0u8..3, 0u8..4, 0u8..10).prop_map(|(f, d, v)| Edit::SetLive(f, d, v)),
        1 => (0u8..3, 0u8..4).prop_map(|(f, d)| Edit::DeleteLive(f, d)),
        2 => Just(Edit::Apply),
        2 => (0u8..3, 0u8..4).prop_map(|(f, d)| Edit::Forget(f, d)),
        1 => (0u8..3, any::<u16>()).prop_map(|(how, at)| Edit::Damage(how, at)),
    ]
}

fn live_path(dir: &Path, file: usize, doc: usize) -> PathBuf {
    dir.join(format!(
        ".strata/sandbox/core/ConfigMap/team/c{file}x{doc}.json"
    ))
}

fn apply_edit(dir: &Path, stack: &mut Stack, edit: &Edit) {
    let files = stack.files.len();
    let pick = |f: u8| usize::from(f) % files;
    match edit {
        Edit::Value(f, d, v) => {
            let docs = &mut stack.files[pick(*f)];
            if !docs.is_empty() {
                let at = usize::from(*d) % docs.len();
                docs[at].value = *v;
            }
        }
        Edit::Label(f, d, l) => {
            let docs = &mut stack.files[pick(*f)];
            if !docs.is_empty() {
                let at = usize::from(*d) % docs.len();
                docs[at].label = *l;
            }
        }
        Edit::Comment(f, c) => stack.comments[pick(*f)] = *c,
        Edit::Retarget(f, d, t) => {
            let docs = &mut stack.files[pick(*f)];
            if !docs.is_empty() {
                let at = usize::from(*d) % docs.len();
                docs[at].refers_to = *t;
            }
        }
        Edit::Add(f, v) => stack.files[pick(*f)].push(Doc {
            value: *v,
            label: None,
            depends_on_previous: false,
            deployment: false,
            refers_to: 0,
        }),
        Edit::Remove(f) => {
            stack.files[pick(*f)].pop();
        }
        Edit::SetLive(f, d, v) => {
            let file = pick(*f);
            let doc = usize::from(*d) % 4;
            let path = live_path(dir, file, doc);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let object = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("c{file}x{doc}"), "namespace": "team"},
                "data": {"value": format!("v{v}")}
            });
            // In place, as an editor or another tool would.
            std::fs::write(path, serde_json::to_vec_pretty(&object).unwrap()).unwrap();
        }
        Edit::DeleteLive(f, d) => {
            let _ = std::fs::remove_file(live_path(dir, pick(*f), usize::from(*d) % 4));
        }
        Edit::Apply => {
            // It may fail (a stack left empty): the plans after it are compared all the same.
            strata(dir, &["apply", "--auto-approve"], true);
        }
        Edit::Forget(f, d) => {
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(["state", "rm"])
                .arg(dir)
                .arg(format!(
                    "ConfigMap/team/c{}x{}",
                    pick(*f),
                    usize::from(*d) % 4
                ))
                .stdin(Stdio::null())
                .output()
                .unwrap();
        }
        Edit::Damage(how, at) => {
            let path = snapshot_file(dir);
            let Ok(mut bytes) = std::fs::read(&path) else {
                return;
            };
            if bytes.is_empty() {
                return;
            }
            let at = usize::from(*at) % bytes.len();
            match how {
                0 => bytes.truncate(at),
                1 => bytes[at] ^= 0x21,
                _ => bytes = b"not a snapshot".to_vec(),
            }
            std::fs::write(path, bytes).unwrap();
        }
    }
    stack.write(dir);
}

/// `strata plan` with the snapshot and without it print the same; returns whether the run
/// with it planned from the snapshot.
fn assert_same_plans(dir: &Path) -> Result<bool, TestCaseError> {
    let cached = strata(dir, &["plan", "--detailed-exitcode"], true);
    let full = strata(dir, &["plan", "--detailed-exitcode"], false);
    prop_assert_eq!(shown(&cached), shown(&full));
    Ok(log(&cached).contains(FROM_SNAPSHOT))
}

fn stack_strategy() -> impl Strategy<Value = Vec<Vec<Doc>>> {
    proptest::collection::vec(proptest::collection::vec(doc(), 1..4), 1..4)
}

/// Random settled stacks, random edits: after each edit, the plan from the snapshot is the
/// full plan (text, errors, exit code), and over the cases the snapshot is really used.
#[test]
fn plans_from_the_snapshot_are_the_full_plans() {
    let used = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 20,
        ..Config::default()
    });
    let strategy = (stack_strategy(), proptest::collection::vec(edit(), 1..8));
    runner
        .run(&strategy, |(files, edits)| {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("stack");
            std::fs::create_dir(&dir).unwrap();
            let mut stack = Stack {
                comments: vec![0; files.len()],
                files,
            };
            stack.write(&dir);
            apply_edit(&dir, &mut stack, &Edit::Apply);
            assert_same_plans(&dir)?;
            for edit in &edits {
                apply_edit(&dir, &mut stack, edit);
                if assert_same_plans(&dir)? {
                    used.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        used.load(Ordering::Relaxed) > 0,
        "no run planned from the snapshot"
    );
}

fn settled_stack() -> (tempfile::TempDir, PathBuf, Stack) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("stack");
    std::fs::create_dir(&dir).unwrap();
    let d = |value| Doc {
        value,
        label: None,
        depends_on_previous: true,
        deployment: false,
        refers_to: 0,
    };
    let deployment = |value| Doc {
        deployment: true,
        ..d(value)
    };
    let stack = Stack {
        files: vec![
            vec![d(1), d(2)],
            vec![d(3)],
            vec![d(4), d(5), d(6), deployment(7)],
        ],
        comments: vec![0; 3],
    };
    stack.write(&dir);
    let out = strata(&dir, &["apply", "--auto-approve"], true);
    assert_eq!(out.status.code(), Some(0), "{:?}", shown(&out));
    // The snapshot trusts only objects older than the run that keeps it.
    std::thread::sleep(std::time::Duration::from_millis(50));
    (root, dir, stack)
}

#[test]
fn an_edit_of_a_settled_stack_is_planned_from_the_snapshot() {
    let (_root, dir, mut stack) = settled_stack();
    let first = strata(&dir, &["plan", "--detailed-exitcode"], true);
    assert!(!log(&first).contains(FROM_SNAPSHOT), "{}", log(&first));
    assert!(snapshot_file(&dir).is_file());

    apply_edit(&dir, &mut stack, &Edit::Value(2, 1, 9));
    let edited = strata(&dir, &["plan", "--detailed-exitcode"], true);
    assert!(
        log(&edited).contains(FROM_SNAPSHOT) && log(&edited).contains("edited=1"),
        "{}",
        log(&edited)
    );
    let full = strata(&dir, &["plan", "--detailed-exitcode"], false);
    assert_eq!(shown(&edited), shown(&full));
    assert_eq!(edited.status.code(), Some(2));
    assert!(
        shown(&edited).1.contains("\"v5\" -> \"v9\""),
        "{:?}",
        shown(&edited)
    );

    // Edited back: planned from the snapshot again, with nothing to do.
    apply_edit(&dir, &mut stack, &Edit::Value(2, 1, 5));
    let back = strata(&dir, &["plan", "--detailed-exitcode"], true);
    assert!(log(&back).contains(FROM_SNAPSHOT), "{}", log(&back));
    assert_eq!(back.status.code(), Some(0));
    assert!(
        shown(&back).1.starts_with("No changes."),
        "{:?}",
        shown(&back)
    );
}

#[test]
fn anything_but_an_edited_manifest_plans_everything() {
    let (_root, dir, mut stack) = settled_stack();
    strata(&dir, &["plan"], true);
    let cases: Vec<(Edit, &str)> = vec![
        (Edit::SetLive(0, 0, 7), "live objects were written"),
        (Edit::Label(1, 0, Some(2)), "changed in its metadata"),
        (Edit::Add(1, 3), "changed in its metadata"),
        (
            Edit::Retarget(2, 3, 1),
            "changed in its metadata or references",
        ),
        (Edit::Apply, "the state was written"),
        (Edit::Forget(0, 1), "the state was written"),
    ];
    for (edit, why) in cases {
        // A snapshot of the settled stack first.
        std::thread::sleep(std::time::Duration::from_millis(50));
        strata(&dir, &["plan"], true);
        apply_edit(&dir, &mut stack, &edit);
        let cached = strata(&dir, &["plan"], true);
        assert!(
            !log(&cached).contains(FROM_SNAPSHOT),
            "{edit:?}: {}",
            log(&cached)
        );
        assert!(log(&cached).contains(why), "{edit:?}: {}", log(&cached));
        assert_eq!(
            shown(&cached),
            shown(&strata(&dir, &["plan"], false)),
            "{edit:?}"
        );
    }
}

#[test]
fn a_damaged_or_foreign_snapshot_is_not_used() {
    let (_root, dir, mut stack) = settled_stack();
    strata(&dir, &["plan"], true);
    let good = std::fs::read(snapshot_file(&dir)).unwrap();
    apply_edit(&dir, &mut stack, &Edit::Value(0, 0, 8));
    let expected = shown(&strata(&dir, &["plan"], false));
    for at in [0, 9, good.len() / 2, good.len() - 1] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x01;
        std::fs::write(snapshot_file(&dir), &bytes).unwrap();
        let out = strata(&dir, &["plan"], true);
        assert!(
            !log(&out).contains(FROM_SNAPSHOT),
            "byte {at}: {}",
            log(&out)
        );
        assert_eq!(shown(&out), expected, "byte {at}");
    }
    // Another stack's snapshot (the same files elsewhere) is not this one's.
    let (_other_root, other, _) = settled_stack();
    std::fs::copy(snapshot_file(&dir), snapshot_file(&other)).unwrap();
    let out = strata(&other, &["plan"], true);
    assert!(!log(&out).contains(FROM_SNAPSHOT), "{}", log(&out));
}

#[test]
fn other_flags_do_not_use_the_snapshot() {
    let (_root, dir, mut stack) = settled_stack();
    strata(&dir, &["plan"], true);
    apply_edit(&dir, &mut stack, &Edit::Value(1, 0, 8));
    // Flags other than the snapshot's: planned in full (and a snapshot kept for them).
    let other = strata(&dir, &["plan", "--detailed-exitcode"], true);
    assert!(
        log(&other).contains("other flags or configuration"),
        "{}",
        log(&other)
    );
    // Flags a snapshot cannot vouch for never keep one, nor use one.
    for args in [
        &["plan", "-o", "json"][..],
        &["plan", "--target", "ConfigMap/team/c1x0"][..],
        &["plan", "--repo-refresh", "always"][..],
    ] {
        std::fs::remove_file(snapshot_file(&dir)).unwrap_or(());
        strata(&dir, args, true);
        assert!(!snapshot_file(&dir).exists(), "{args:?} kept a snapshot");
        apply_edit(&dir, &mut stack, &Edit::Value(1, 0, 7));
        let out = strata(&dir, args, true);
        assert!(
            !log(&out).contains(FROM_SNAPSHOT),
            "{args:?}: {}",
            log(&out)
        );
        assert_eq!(shown(&out), shown(&strata(&dir, args, false)), "{args:?}");
    }
}

#[test]
fn another_configuration_does_not_use_the_snapshot() {
    let (_root, dir, mut stack) = settled_stack();
    std::fs::write(dir.join("strata.yaml"), "parallelism: 4\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    strata(&dir, &["plan"], true);
    apply_edit(&dir, &mut stack, &Edit::Value(0, 1, 8));
    let used = strata(&dir, &["plan"], true);
    assert!(log(&used).contains(FROM_SNAPSHOT), "{}", log(&used));
    // The same files, another configuration: the plan is made again.
    std::fs::write(dir.join("strata.yaml"), "parallelism: 5\n").unwrap();
    let out = strata(&dir, &["plan"], true);
    assert!(
        log(&out).contains("other flags or configuration"),
        "{}",
        log(&out)
    );
    assert_eq!(shown(&out), shown(&strata(&dir, &["plan"], false)));
}

/// A state whose map names one key twice (a hand-resolved merge): the state keeps the last
/// record only, so a snapshot, which would find both, is not kept.
#[test]
fn a_state_with_a_key_written_twice_keeps_no_snapshot() {
    let (_root, dir, mut stack) = settled_stack();
    let path = dir.join(".strata/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let resources = state["resources"].as_object_mut().unwrap();
    let moved = resources.remove("ConfigMap/team/c0x0").unwrap();
    let text = serde_json::to_string_pretty(&state).unwrap();
    let entry = "\"ConfigMap/team/c0x1\": {";
    assert_eq!(text.matches(entry).count(), 1);
    let twice = text.replacen(
        entry,
        &format!("\"ConfigMap/team/c0x1\": {moved},\n    {entry}"),
        1,
    );
    std::fs::write(&path, twice).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let full = strata(&dir, &["plan"], true);
    assert!(!snapshot_file(&dir).exists(), "{}", log(&full));
    apply_edit(&dir, &mut stack, &Edit::Value(0, 0, 9));
    assert_eq!(
        shown(&strata(&dir, &["plan"], true)),
        shown(&strata(&dir, &["plan"], false))
    );
}

/// A Deployment referring to a ConfigMap (`configMapRef`, `nodeSelector`: edges of the graph,
/// no value written into it) is planned alone when its image changes.
#[test]
fn an_edited_resource_with_references_is_planned_from_the_snapshot() {
    let (_root, dir, mut stack) = settled_stack();
    strata(&dir, &["plan"], true);
    apply_edit(&dir, &mut stack, &Edit::Value(2, 3, 9));
    let edited = strata(&dir, &["plan"], true);
    assert!(
        log(&edited).contains(FROM_SNAPSHOT) && log(&edited).contains("edited=1"),
        "{}",
        log(&edited)
    );
    assert!(
        shown(&edited).1.contains("nginx:1.9"),
        "{:?}",
        shown(&edited)
    );
    assert_eq!(shown(&edited), shown(&strata(&dir, &["plan"], false)));
}
