//! How Strata's processes take memory from the system.
//!
//! Strata's binaries and benchmarks allocate through [mimalloc](https://github.com/microsoft/mimalloc)
//! ([`Allocator`]). Two process-wide settings decide what a large plan pays the kernel:
//!
//! - **When freed memory goes back to the system** ([`set_freed_memory`]). mimalloc returns
//!   memory unused for one second (`MADV_DONTNEED`); memory used again after that is faulted in
//!   afresh, page by page. A plan of a million resources frees and reuses gigabytes within a
//!   few seconds, and on the machines measured a fresh 4 KiB page costs about 1.3 µs of system
//!   time: the second plan in a process spent 36–41 % of its time in the kernel. A one-shot
//!   command keeps what it freed until it exits ([`FreedMemory::ONE_SHOT`]); a long-running
//!   controller keeps it long enough to span a burst of reconciliations
//!   ([`FreedMemory::CONTROLLER`]).
//! - **Page size** ([`keep_small_pages`]): the heap stays on 4 KiB pages whatever the machine's
//!   transparent-huge-page setting, so that its cost does not depend on that setting.
//!
//! ```
//! use std::time::Duration;
//! use strata_alloc::{FreedMemory, freed_memory, set_freed_memory};
//!
//! set_freed_memory(FreedMemory::ReturnedAfter(Duration::from_secs(10)));
//! assert_eq!(freed_memory(), FreedMemory::ReturnedAfter(Duration::from_secs(10)));
//! ```
//!
//! A binary declares the allocator itself:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: strata_alloc::Allocator = strata_alloc::Allocator;
//! # fn main() {}
//! ```

use std::time::Duration;

/// The global allocator of Strata's binaries and benchmarks (mimalloc, built not to ask for
/// transparent huge pages; see [`keep_small_pages`] for the kernel's side).
pub use mimalloc::MiMalloc as Allocator;

/// When memory the process frees is returned to the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreedMemory {
    /// Returned once it has been unused for this long (mimalloc's default: one second). Memory
    /// reused before then costs no page fault.
    ReturnedAfter(Duration),
    /// Kept until the process exits, for a process that ends when its work is done.
    KeptUntilExit,
}

impl FreedMemory {
    /// For a process that ends when its work is done, such as one `strata plan`: what it frees
    /// is used again, never returned and faulted in afresh.
    pub const ONE_SHOT: Self = Self::KeptUntilExit;
    /// For a long-running controller: kept ten seconds, longer than a burst of reconciliations
    /// (each reuses what the one before freed) and shorter than the default poll interval
    /// (three minutes), so that an idle controller holds only what it keeps.
    pub const CONTROLLER: Self = Self::ReturnedAfter(Duration::from_secs(10));
}

/// mimalloc's `mi_option_purge_delay`: its position in `mi_option_e` (mimalloc 3's
/// `mimalloc.h`). `libmimalloc-sys` names no constant for it; the test
/// `purge_delay_is_the_option_the_environment_sets` checks the position against the
/// `MIMALLOC_PURGE_DELAY` variable mimalloc reads into this option.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The longest delay set as a delay, in milliseconds (about 24.8 days): mimalloc adds the
/// delay to its clock in a C `long`, so a delay near the type's limit would overflow; anything
/// longer is kept until exit.
const LONGEST_DELAY_MILLIS: std::ffi::c_long = i32::MAX as std::ffi::c_long;

/// `delay` in whole milliseconds (rounded down: under one millisecond is at once), or `None`
/// past [`LONGEST_DELAY_MILLIS`].
fn delay_millis(delay: Duration) -> Option<std::ffi::c_long> {
    std::ffi::c_long::try_from(delay.as_millis())
        .ok()
        .filter(|&millis| millis <= LONGEST_DELAY_MILLIS)
}

/// Sets when memory the process frees is returned to the system, for the whole process. Call
/// it at the start of `main`, before other threads start: the setting is a plain value the
/// allocator reads without synchronisation. Delays are taken in whole milliseconds; delays
/// longer than about 24.8 days keep memory until exit.
pub fn set_freed_memory(policy: FreedMemory) {
    let millis = match policy {
        FreedMemory::ReturnedAfter(delay) => delay_millis(delay).unwrap_or(-1),
        FreedMemory::KeptUntilExit => -1,
    };
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table (a plain `long`, read
    // at each purge); it accepts any option and value (the value is bounded above, see
    // `delay_millis`) and touches no Rust memory. Callers set it before other threads allocate
    // (see above), so no thread reads the value while it is written.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, millis);
    }
}

/// When memory the process frees is returned to the system: what [`set_freed_memory`] set, or
/// mimalloc's default (or its `MIMALLOC_PURGE_DELAY` environment variable).
pub fn freed_memory() -> FreedMemory {
    // SAFETY: `mi_option_get` reads mimalloc's option table (set from the environment when
    // mimalloc starts, or by `set_freed_memory`). It touches no Rust memory.
    #[allow(unsafe_code)]
    let millis = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
    match u64::try_from(millis) {
        Ok(millis) => FreedMemory::ReturnedAfter(Duration::from_millis(millis)),
        Err(_) => FreedMemory::KeptUntilExit,
    }
}

/// Keeps the heap on small (4 KiB) pages whatever the machine's transparent-huge-page setting:
/// mimalloc is built not to ask for huge pages, but with THP `always` the kernel would still
/// back its arenas with 2 MiB pages, each zeroed whole on first touch (most of the kernel time
/// of a large plan when it was measured so). Inherited by child processes. Does nothing on
/// systems other than Linux, and on a Linux kernel without the flag (before 3.15).
pub fn keep_small_pages() {
    #[cfg(target_os = "linux")]
    {
        // A kernel without the flag keeps its own setting; nothing else changes.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_beyond_the_longest_are_kept_until_exit() {
        assert_eq!(delay_millis(Duration::from_millis(1500)), Some(1500));
        assert_eq!(delay_millis(Duration::from_micros(500)), Some(0));
        assert_eq!(
            delay_millis(Duration::from_millis(2_147_483_647)),
            Some(2_147_483_647)
        );
        assert_eq!(delay_millis(Duration::from_millis(2_147_483_648)), None);
        assert_eq!(delay_millis(Duration::from_secs(86_400 * 365)), None);
        assert_eq!(delay_millis(Duration::MAX), None);
    }
}
