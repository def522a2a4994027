//! Regular expressions written by users (composition transforms, schema `pattern`s, template
//! functions, Kustomize targets), compiled within fixed limits.
//!
//! Rust's `regex` runs in time linear in the input, but the size of a compiled program grows
//! with counted repetition: `(a{1000}){1000}` asks for a million states. Every user pattern is
//! therefore compiled by [`compile`], which refuses
//!
//! - a pattern longer than [`MAX_PATTERN_BYTES`] bytes,
//! - a pattern whose compiled program would exceed [`SIZE_LIMIT`] bytes (`RegexBuilder::size_limit`),
//!
//! and bounds the lazy DFA's cache to [`DFA_SIZE_LIMIT`] bytes per regex (`dfa_size_limit`;
//! past it, matching falls back to slower engines rather than failing). Callers wrap the
//! [`RegexLimitError`] in an error naming the field or function the pattern came from.

use regex::{Regex, RegexBuilder};

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 16 * 1024;

/// The largest compiled program accepted, in bytes: `regex`'s own default, stated here so
/// that it is a documented contract (Unicode classes are large: `\w{100}` needs several MiB;
/// Go's ASCII `\w`, as composition transforms translate it, far less).
pub const SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// The lazy DFA's cache per regex, in bytes (`regex`'s default).
pub const DFA_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// Why a user pattern was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegexLimitError {
    /// The pattern is longer than [`MAX_PATTERN_BYTES`].
    #[error("the regular expression is {length} bytes long, over the limit of {limit} bytes")]
    TooLong {
        /// The pattern's length in bytes.
        length: usize,
        /// The limit ([`MAX_PATTERN_BYTES`]).
        limit: usize,
    },
    /// The compiled program would be larger than [`SIZE_LIMIT`].
    #[error(
        "the regular expression compiles to more than the size limit of {limit} bytes (counted repetitions such as `x{{1000}}` multiply its size)"
    )]
    TooBig {
        /// The limit ([`SIZE_LIMIT`]).
        limit: usize,
    },
    /// The pattern is not a valid regular expression (shown as `regex` words it).
    #[error(transparent)]
    Invalid(regex::Error),
}

impl RegexLimitError {
    /// True when a limit was hit (the pattern may be valid).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            RegexLimitError::TooLong { .. } | RegexLimitError::TooBig { .. }
        )
    }
}

/// Compiles `pattern` within the limits of this module.
pub fn compile(pattern: &str) -> Result<Regex, RegexLimitError> {
    check_length(pattern)?;
    compile_within_size(pattern)
}

/// Refuses a pattern longer than [`MAX_PATTERN_BYTES`]. For callers that rewrite a pattern
/// before compiling it (Go's classes into Rust's): the length limit applies to what the user
/// wrote, then [`compile_within_size`] to the rewritten pattern.
pub fn check_length(pattern: &str) -> Result<(), RegexLimitError> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(RegexLimitError::TooLong {
            length: pattern.len(),
            limit: MAX_PATTERN_BYTES,
        });
    }
    Ok(())
}

/// Compiles `pattern` within [`SIZE_LIMIT`] and [`DFA_SIZE_LIMIT`], without the length check.
pub fn compile_within_size(pattern: &str) -> Result<Regex, RegexLimitError> {
    RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => RegexLimitError::TooBig { limit: SIZE_LIMIT },
            other => RegexLimitError::Invalid(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_patterns_compile_and_match() {
        let re = compile(r"^([a-z0-9-]+)\.example\.com$").expect("compiles");
        assert_eq!(
            re.captures("shop.example.com")
                .and_then(|c| c.get(1))
                .map(|m| m.as_str()),
            Some("shop")
        );
        assert!(compile(r"\w{100}").is_ok());
        assert!(compile("[a-z]{1000}").is_ok());
    }

    #[test]
    fn counted_repetition_bombs_are_refused() {
        for pattern in ["(a{1000}){1000}", r"\w{10000}", "((a{100}){100}){100}"] {
            let err = compile(pattern).expect_err(pattern);
            assert_eq!(
                err,
                RegexLimitError::TooBig { limit: SIZE_LIMIT },
                "{pattern}"
            );
            assert!(err.is_limit());
            assert!(err.to_string().contains("size limit"), "{err}");
        }
    }

    #[test]
    fn long_patterns_are_refused_before_compiling() {
        let pattern = "a".repeat(MAX_PATTERN_BYTES + 1);
        let err = compile(&pattern).expect_err("too long");
        assert_eq!(
            err,
            RegexLimitError::TooLong {
                length: MAX_PATTERN_BYTES + 1,
                limit: MAX_PATTERN_BYTES
            }
        );
        assert!(compile(&"a".repeat(MAX_PATTERN_BYTES)).is_ok());
    }

    #[test]
    fn invalid_patterns_keep_the_parser_error() {
        let pattern = String::from("a(");
        let err = compile(&pattern).expect_err("invalid");
        assert!(!err.is_limit());
        assert!(matches!(err, RegexLimitError::Invalid(_)));
        let direct = regex::Regex::new(&pattern).expect_err("invalid");
        assert_eq!(err.to_string(), direct.to_string());
    }
}
