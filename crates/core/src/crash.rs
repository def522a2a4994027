//! Crash points: named places in the apply path where a test can make the process die, to
//! check that what a crash leaves behind is healed by the next run.
//!
//! Only debug builds have them. `STRATA_TEST_CRASH_AT=<point>:<n>` aborts the process
//! ([`std::process::abort`], which, like `kill -9`, runs no destructor and flushes nothing) at
//! the `n`-th time (counting from 1) the point named `<point>` is reached. In release builds
//! [`reached`] is empty and the variable is never read.
//!
//! The points, in the order an apply meets them:
//!
//! | point | where |
//! |---|---|
//! | `lock-temp-written` | the operation lock's temporary file is written, not linked in place |
//! | `lock-taken` | the operation lock file is written, nothing planned yet |
//! | `intent-before-write` | a create's or update's intent is about to be queued for the state |
//! | `journal-torn` | half of a journal line is written and synced (a torn append) |
//! | `journal-appended` | a journal line is written and synced, not yet acknowledged |
//! | `intent-written` | a create's or update's intent is durable, its provider call not made |
//! | `world-temp-written` | a sandbox object's temporary file is written, not renamed |
//! | `provider-applied` | a create or update returned, its result not recorded |
//! | `provider-deleted` | a delete returned, its removal not recorded |
//! | `state-temp-written` | a state snapshot's temporary file is written, not renamed |
//! | `snapshot-renamed` | a compacted snapshot is in place, its journal not removed |

/// The crash points, as [`reached`] names them.
pub const POINTS: &[&str] = &[
    "lock-temp-written",
    "lock-taken",
    "intent-before-write",
    "journal-torn",
    "journal-appended",
    "intent-written",
    "world-temp-written",
    "provider-applied",
    "provider-deleted",
    "state-temp-written",
    "snapshot-renamed",
];

/// The variable naming the crash point and its hit count (`<point>:<n>`).
pub const CRASH_AT_VAR: &str = "STRATA_TEST_CRASH_AT";

/// Marks the crash point `point` as reached; in a debug build with `STRATA_TEST_CRASH_AT`
/// naming it, the process aborts at its `n`-th hit.
#[cfg(debug_assertions)]
pub fn reached(point: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static TARGET: OnceLock<Option<(String, u64, AtomicU64)>> = OnceLock::new();
    let target = TARGET.get_or_init(|| {
        let value = std::env::var(CRASH_AT_VAR).ok()?;
        let (name, n) = value.rsplit_once(':')?;
        Some((name.to_owned(), n.parse().ok()?, AtomicU64::new(0)))
    });
    if let Some((name, n, hits)) = target
        && name == point
        && hits.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        eprintln!("crash point {point} reached ({n}): aborting");
        std::process::abort();
    }
}

/// Marks the crash point `point` as reached (nothing in a release build).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn reached(_point: &str) {}
