//! What [`strata_alloc::set_freed_memory`] changes: whether memory freed and used again is
//! faulted in afresh. Each case runs in a child process of its own (the setting is the whole
//! process's), this test binary started again with `STRATA_ALLOC_CASE` naming the case.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use strata_alloc::{FreedMemory, freed_memory, set_freed_memory};

const CASE: &str = "STRATA_ALLOC_CASE";
const BLOCK: usize = 256 << 20;
const PAGES: i64 = (BLOCK / 4096) as i64;

/// Minor page faults of this process so far.
fn minor_faults() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .unwrap()
        .minor_page_faults()
}

/// Fills a block (every page touched), frees it, waits 1.5 s (longer than mimalloc's default
/// delay, so that a setting that did not take effect shows), and returns the page faults of
/// filling a block of the same size again.
fn faults_of_reuse() -> i64 {
    let block = vec![1u8; BLOCK];
    assert_eq!(block[BLOCK - 1], 1);
    drop(block);
    std::thread::sleep(Duration::from_millis(1_500));
    // Some allocation traffic, which is where mimalloc purges what is due.
    for size in [64usize, 4096, 1 << 20] {
        drop(std::hint::black_box(vec![0u8; size]));
    }
    let before = minor_faults();
    let again = vec![1u8; BLOCK];
    let faults = minor_faults() - before;
    assert_eq!(again[BLOCK / 2], 1);
    faults
}

/// Runs `case` in a child process and returns its standard output.
fn run_case(case: &str, environment: &[(&str, &str)]) -> String {
    let test = std::env::current_exe().unwrap();
    let mut command = Command::new(test);
    // The allocator's own variables from the environment would change what is measured.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MIMALLOC_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args([
            "--exact",
            "freed_memory::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE, case)
        .envs(environment.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "case {case} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A figure the child printed as `name=value` (the test harness may print before it on the
/// same line).
fn figure(stdout: &str, name: &str) -> String {
    let prefix = format!("{name}=");
    stdout
        .lines()
        .find_map(|l| Some(&l[l.find(&prefix)? + prefix.len()..]))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .to_owned()
}

/// The child side: does what `STRATA_ALLOC_CASE` names and prints its figures. Does nothing in
/// a normal test run.
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    // Pages counted are small pages, whatever the machine's transparent-huge-page setting.
    strata_alloc::keep_small_pages();
    match case.as_str() {
        "kept" => {
            set_freed_memory(FreedMemory::KeptUntilExit);
            println!("faults={}", faults_of_reuse());
        }
        "returned" => {
            set_freed_memory(FreedMemory::ReturnedAfter(Duration::ZERO));
            println!("faults={}", faults_of_reuse());
        }
        "read" => println!("policy={:?}", freed_memory()),
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn memory_kept_until_exit_is_used_again_without_faults() {
    let kept: i64 = figure(&run_case("kept", &[]), "faults").parse().unwrap();
    let returned: i64 = figure(&run_case("returned", &[]), "faults")
        .parse()
        .unwrap();
    // Returned at once, the block's pages are all faulted in again; kept, next to none are.
    assert!(
        returned > PAGES / 2,
        "returned: {returned} of {PAGES} pages"
    );
    assert!(kept < PAGES / 20, "kept: {kept} of {PAGES} pages");
}

#[test]
fn purge_delay_is_the_option_the_environment_sets() {
    let read = run_case("read", &[("MIMALLOC_PURGE_DELAY", "1234")]);
    assert_eq!(figure(&read, "policy"), "ReturnedAfter(1.234s)");
    let read = run_case("read", &[("MIMALLOC_PURGE_DELAY", "-1")]);
    assert_eq!(figure(&read, "policy"), "KeptUntilExit");
}

#[test]
fn the_setting_reads_back() {
    set_freed_memory(FreedMemory::ReturnedAfter(Duration::from_millis(2_500)));
    assert_eq!(
        freed_memory(),
        FreedMemory::ReturnedAfter(Duration::from_millis(2_500))
    );
    set_freed_memory(FreedMemory::KeptUntilExit);
    assert_eq!(freed_memory(), FreedMemory::KeptUntilExit);
}
