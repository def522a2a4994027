//! Helpers shared by the targets: splitting an input into NUL-separated parts and the limits
//! the evaluators run under while fuzzing.

#![allow(dead_code)]

use std::time::Duration;

/// Splits `data` into at most `n` parts at NUL bytes; missing parts are empty.
pub fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// A JSON or YAML document, or `default` when `text` is neither.
pub fn document(text: &str, default: serde_json::Value) -> serde_json::Value {
    serde_json::from_str(text)
        .ok()
        .or_else(|| strata_core::yaml::from_str(text).ok())
        .unwrap_or(default)
}

/// Template limits an embedder might choose: every execution well inside libFuzzer's
/// `-timeout=5` and `-rss_limit_mb=1024` under AddressSanitizer (whose frames are larger and
/// whose quarantine keeps freed memory resident): 10,000 nested calls and 64 MiB of stack
/// rather than Go's 100,000 and 1 GiB.
pub fn template_limits() -> strata_gotemplate::Limits {
    strata_gotemplate::Limits::default()
        .with_max_depth(10_000)
        .with_max_total_bytes(64 << 20)
        .with_max_duration(Some(Duration::from_secs(1)))
        .with_max_output_bytes(1 << 20)
        .with_max_value_bytes(1 << 20)
        .with_max_list_len(100_000)
        .with_max_steps(1_000_000)
        .with_max_stack_bytes(64 << 20)
}
