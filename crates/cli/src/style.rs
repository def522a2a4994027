//! Whether output is coloured: on a terminal, unless `--no-color` or a non-empty `NO_COLOR`
//! (no-color.org: an empty `NO_COLOR` is as if it were unset) turns colour off.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static NO_COLOR_FLAG: AtomicBool = AtomicBool::new(false);

/// Turns colour off for the rest of the process (`--no-color`).
pub fn disable() {
    NO_COLOR_FLAG.store(true, Ordering::Relaxed);
}

/// Whether the user turned colour off: `--no-color` or a non-empty `NO_COLOR`.
pub fn refused() -> bool {
    NO_COLOR_FLAG.load(Ordering::Relaxed) || refused_by(std::env::var_os("NO_COLOR").as_deref())
}

/// Whether `NO_COLOR`'s value turns colour off: any value but the empty one.
fn refused_by(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_some_and(|v| !v.is_empty())
}

/// Whether what is printed on standard output is coloured.
pub fn stdout() -> bool {
    !refused() && std::io::stdout().is_terminal()
}

/// Whether what is printed on standard error (log lines) is coloured.
pub fn stderr() -> bool {
    !refused() && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_no_color_refuses_colour() {
        assert!(!refused_by(None));
        assert!(!refused_by(Some("".as_ref())));
        assert!(refused_by(Some("1".as_ref())));
        assert!(refused_by(Some("false".as_ref())));
    }
}
