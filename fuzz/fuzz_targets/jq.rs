//! jq `ignoreDifferences` expressions: loading (validation as a path expression) and
//! evaluation on manifests. Input: `expression \0 manifest`.
#![no_main]

mod common;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use strata_drift::jq::{JqDelete, JqLimits};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let (expr, doc) = (&p[0], &p[1]);
    let doc = common::document(
        doc,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}),
    );
    let limits = JqLimits::default().with_timeout(Duration::from_secs(1));
    if let Ok(jq) = JqDelete::with_limits(expr, limits) {
        let _ = jq.apply(&doc);
    }
});
