//! The parse cache under `.strata/cache/`: a plan is the same with it and without it, whatever
//! the edits between runs; an unusable cache (corrupt, truncated, another format, another
//! stack) is rebuilt, never trusted; no secret is written to it.

#![allow(clippy::unwrap_used)] // test support code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;

fn strata(dir: &Path, args: &[&str], cache: bool, log: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("STRATA_NO_CACHE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if !cache {
        command.arg("--no-cache");
    }
    if log {
        command.env("RUST_LOG", "strata::cache=debug");
    }
    command.output().unwrap()
}

fn cache_file(dir: &Path) -> PathBuf {
    dir.join(".strata/cache/parsed.bin")
}

/// What a run showed: exit code, standard output, standard error.
fn shown(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `strata plan` (human text and JSON) with the cache and without it: the same, every byte.
fn assert_same_plans(dir: &Path) -> Result<(), TestCaseError> {
    for args in [&["plan"][..], &["plan", "-o", "json"][..]] {
        let cached = shown(&strata(dir, args, true, false));
        let uncached = shown(&strata(dir, args, false, false));
        prop_assert_eq!(&cached, &uncached, "strata {:?}", args);
        // A second cached run reads what the first one wrote.
        let again = shown(&strata(dir, args, true, false));
        prop_assert_eq!(&again, &uncached, "strata {:?} (cache warm)", args);
    }
    Ok(())
}

/// One manifest document of a generated stack.
#[derive(Debug, Clone)]
enum Doc {
    /// A ConfigMap `c<name>` in namespace `team` with one data value, maybe depending on
    /// another ConfigMap.
    ConfigMap {
        name: u8,
        value: u8,
        depends_on: Option<u8>,
    },
    /// A Secret (never cached).
    Secret { name: u8, value: u8 },
    /// A document that does not parse.
    Broken,
    /// A document without a kind.
    NoKind,
}

impl Doc {
    fn yaml(&self) -> String {
        match self {
            // Values have a fixed width, so an edit often keeps the file's length.
            Doc::ConfigMap {
                name,
                value,
                depends_on,
            } => {
                let annotations = depends_on.map_or(String::new(), |d| {
                    format!("  annotations:\n    strata.dev/depends-on: ConfigMap/team/c{d}\n")
                });
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{name}\n  namespace: team\n{annotations}data:\n  value: \"v{value}\"\n"
                )
            }
            Doc::Secret { name, value } => format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{name}\n  namespace: team\nstringData:\n  password: \"hunter{value}\"\n"
            ),
            Doc::Broken => "apiVersion: v1\nkind: [ConfigMap\n".to_owned(),
            Doc::NoKind => "apiVersion: v1\nmetadata:\n  name: nokind\n".to_owned(),
        }
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    prop_oneof![
        12 => (0u8..8, 0u8..10, proptest::option::of(0u8..8)).prop_map(|(name, value, depends_on)| Doc::ConfigMap { name, value, depends_on }),
        2 => (0u8..2, 0u8..10).prop_map(|(name, value)| Doc::Secret { name, value }),
        1 => Just(Doc::Broken),
        1 => Just(Doc::NoKind),
    ]
}

fn file() -> impl Strategy<Value = Vec<Doc>> {
    proptest::collection::vec(doc(), 0..4)
}

/// What happens between two plans.
#[derive(Debug, Clone)]
enum Edit {
    /// File `n` (modulo the files there are) gets new documents, or is created.
    WriteFile(u8, Vec<Doc>),
    /// File `n` is removed.
    RemoveFile(u8),
    /// One document of file `n` changes its value (same length).
    Touch(u8, u8),
    /// The sandbox's live ConfigMap `c<name>` is written with a value.
    SetLive(u8, u8),
    /// The sandbox's live ConfigMap `c<name>` is deleted.
    DeleteLive(u8),
    /// The stack is applied (the state then records what is live).
    Apply,
    /// The cache file is damaged: truncated at a fraction, a byte flipped, or replaced.
    Corrupt(u8, u16),
    /// A JSON file `j<n>.json` holds ConfigMap `j<name>`, or the same text as file `n`.
    WriteJson(u8, u8, bool),
    /// A Kustomize overlay `k/` over one ConfigMap file, with a name prefix and a value.
    Kustomize(u8, u8),
    /// An Application whose path `web/` holds the given documents.
    Application(Vec<Doc>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0u8..4, file()).prop_map(|(n, docs)| Edit::WriteFile(n, docs)),
        1 => (0u8..4).prop_map(Edit::RemoveFile),
        4 => (0u8..4, 0u8..10).prop_map(|(n, v)| Edit::Touch(n, v)),
        2 => (0u8..8, 0u8..10).prop_map(|(n, v)| Edit::SetLive(n, v)),
        1 => (0u8..8).prop_map(Edit::DeleteLive),
        1 => Just(Edit::Apply),
        2 => (0u8..3, any::<u16>()).prop_map(|(how, at)| Edit::Corrupt(how, at)),
        1 => (0u8..2, 0u8..10, any::<bool>()).prop_map(|(n, v, copy)| Edit::WriteJson(n, v, copy)),
        1 => (0u8..2, 0u8..10).prop_map(|(p, v)| Edit::Kustomize(p, v)),
        1 => file().prop_map(Edit::Application),
    ]
}

fn file_path(dir: &Path, n: u8) -> PathBuf {
    dir.join(format!("f{n}.yaml"))
}

fn write_file(dir: &Path, n: u8, docs: &[Doc]) {
    let text: Vec<String> = docs.iter().map(Doc::yaml).collect();
    std::fs::write(file_path(dir, n), text.join("---\n")).unwrap();
}

fn apply_edit(dir: &Path, edit: &Edit) {
    let live = |name: u8| dir.join(format!(".strata/sandbox/core/ConfigMap/team/c{name}.json"));
    match edit {
        Edit::WriteFile(n, docs) => write_file(dir, *n, docs),
        Edit::RemoveFile(n) => {
            let _ = std::fs::remove_file(file_path(dir, *n));
        }
        Edit::Touch(n, value) => {
            let path = file_path(dir, *n);
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Some(at) = text.find("value: \"v")
            {
                let start = at + "value: \"v".len();
                let mut text = text.into_bytes();
                text[start] = b'0' + value % 10;
                std::fs::write(&path, text).unwrap();
            }
        }
        Edit::SetLive(name, value) => {
            let path = live(*name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let object = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("c{name}"), "namespace": "team"},
                "data": {"value": format!("v{value}")}
            });
            std::fs::write(path, serde_json::to_vec_pretty(&object).unwrap()).unwrap();
        }
        Edit::DeleteLive(name) => {
            let _ = std::fs::remove_file(live(*name));
        }
        Edit::Apply => {
            strata(dir, &["apply", "--auto-approve"], true, false);
        }
        Edit::WriteJson(n, value, copy) => {
            let path = dir.join(format!("j{n}.json"));
            let text = match std::fs::read_to_string(file_path(dir, *n)) {
                Ok(text) if *copy => text,
                _ => serde_json::json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("j{n}"), "namespace": "team"},
                    "data": {"value": format!("v{value}"), "n": 1.5e3}
                })
                .to_string(),
            };
            std::fs::write(path, text).unwrap();
        }
        Edit::Kustomize(prefix, value) => {
            let k = dir.join("k");
            std::fs::create_dir_all(&k).unwrap();
            std::fs::write(
                k.join("kustomization.yaml"),
                format!("resources: [cm.yaml]\nnamePrefix: p{prefix}-\n"),
            )
            .unwrap();
            std::fs::write(
                k.join("cm.yaml"),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: team\ndata:\n  value: \"v{value}\"\n"),
            )
            .unwrap();
        }
        Edit::Application(docs) => {
            std::fs::write(
                dir.join("app.yaml"),
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  source:\n    path: web\n  destination:\n    namespace: web\n",
            )
            .unwrap();
            let web = dir.join("web");
            std::fs::create_dir_all(&web).unwrap();
            let text: Vec<String> = docs.iter().map(Doc::yaml).collect();
            std::fs::write(web.join("w.yaml"), text.join("---\n")).unwrap();
        }
        Edit::Corrupt(how, at) => {
            let path = cache_file(dir);
            let Ok(mut bytes) = std::fs::read(&path) else {
                return;
            };
            if bytes.is_empty() {
                return;
            }
            let at = usize::from(*at) % bytes.len();
            match how {
                0 => bytes.truncate(at),
                1 => bytes[at] ^= 0x5A,
                _ => bytes = b"not a cache at all".to_vec(),
            }
            std::fs::write(path, bytes).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random stacks and random edits: after each edit the plan with the cache is the plan
    /// without it (human text and JSON, output, errors and exit code).
    #[test]
    fn the_plan_is_the_same_with_and_without_the_cache(
        files in proptest::collection::vec(file(), 1..4),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("stack");
        std::fs::create_dir(&dir).unwrap();
        for (n, docs) in files.iter().enumerate() {
            write_file(&dir, u8::try_from(n).unwrap(), docs);
        }
        assert_same_plans(&dir)?;
        for edit in &edits {
            apply_edit(&dir, edit);
            assert_same_plans(&dir)?;
        }
    }
}

/// A stack of two ConfigMap files and one Secret file.
fn small_stack() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("stack");
    std::fs::create_dir(&dir).unwrap();
    let cm = |name: u8, value: u8| Doc::ConfigMap {
        name,
        value,
        depends_on: None,
    };
    write_file(&dir, 0, &[cm(0, 1), cm(1, 2)]);
    write_file(&dir, 1, &[cm(2, 3)]);
    write_file(&dir, 2, &[Doc::Secret { name: 0, value: 7 }, cm(3, 4)]);
    (root, dir)
}

fn debug_log(dir: &Path) -> String {
    shown(&strata(dir, &["plan"], true, true)).2
}

#[test]
fn a_warm_cache_is_read_and_an_edit_reparses_only_its_file() {
    let (_root, dir) = small_stack();
    assert!(debug_log(&dir).contains("no parse cache yet"));
    assert!(cache_file(&dir).is_file());
    let log = debug_log(&dir);
    // Two of the three files are cached (the third holds a Secret).
    assert!(
        log.contains("read the parse cache") && log.contains("entries=2"),
        "{log}"
    );
    let before = std::fs::metadata(cache_file(&dir))
        .unwrap()
        .modified()
        .unwrap();
    // Nothing changed: the cache is not written again.
    debug_log(&dir);
    assert_eq!(
        std::fs::metadata(cache_file(&dir))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    apply_edit(&dir, &Edit::Touch(0, 9));
    let uncached = shown(&strata(&dir, &["plan"], false, false));
    assert!(uncached.1.contains("v9"), "{uncached:?}");
    assert_eq!(shown(&strata(&dir, &["plan"], true, false)), uncached);
}

#[test]
fn corrupt_or_truncated_caches_are_rebuilt() {
    let (_root, dir) = small_stack();
    let expected = shown(&strata(&dir, &["plan", "-o", "json"], false, false));
    shown(&strata(&dir, &["plan"], true, false));
    let good = std::fs::read(cache_file(&dir)).unwrap();
    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 3].to_vec()),
        ("empty", Vec::new()),
        ("a byte flipped in an entry", {
            let mut b = good.clone();
            let at = b.len() - 10;
            b[at] ^= 0x01;
            b
        }),
        ("a byte flipped in the header", {
            let mut b = good.clone();
            b[20] ^= 0x01;
            b
        }),
        ("another format", {
            let mut b = good.clone();
            b[8] = 99;
            b
        }),
    ];
    for (what, bytes) in damages {
        std::fs::write(cache_file(&dir), &bytes).unwrap();
        let out = strata(&dir, &["plan", "-o", "json"], true, true);
        let (code, stdout, log) = shown(&out);
        assert_eq!((code, &stdout), (expected.0, &expected.1), "{what}");
        assert!(
            log.contains("rebuilding it") || log.contains("a parse cache entry is corrupt"),
            "{what}: {log}"
        );
        // Rebuilt: the next run reads a whole cache again.
        let log = debug_log(&dir);
        assert!(
            log.contains("read the parse cache") && log.contains("entries=2"),
            "{what}: {log}"
        );
    }
}

#[test]
fn the_cache_of_another_stack_is_not_used() {
    let (_root, dir) = small_stack();
    strata(&dir, &["plan"], true, false);
    let (_other_root, other) = small_stack();
    std::fs::create_dir_all(cache_file(&other).parent().unwrap()).unwrap();
    std::fs::copy(cache_file(&dir), cache_file(&other)).unwrap();
    let log = debug_log(&other);
    assert!(log.contains("the cache of the stack"), "{log}");
    assert!(!log.contains("read the parse cache"), "{log}");
}

#[test]
fn no_secret_is_written_to_the_cache() {
    let (_root, dir) = small_stack();
    strata(&dir, &["plan"], true, false);
    let bytes = std::fs::read(cache_file(&dir)).unwrap();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("v1") && contains("c2"), "ConfigMaps are cached");
    assert!(!contains("hunter7"), "the Secret's value is not");
}

#[test]
fn no_cache_and_its_variable_write_no_cache() {
    let (_root, dir) = small_stack();
    strata(&dir, &["plan"], false, false);
    assert!(!dir.join(".strata/cache").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["plan"])
        .arg(&dir)
        .env("STRATA_NO_CACHE", "true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", shown(&out));
    assert!(!dir.join(".strata/cache").exists());
}
