//! The Go template parser and executor with each function set, within limits.
//! Input: `template \0 data \0 second file (a set's helpers)`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use strata_gotemplate::{FunctionSet, MissingKey, Template, TemplateSet};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 3);
    let (src, data, helpers) = (&p[0], &p[1], &p[2]);
    let data = common::document(
        data,
        json!({"name": "web", "replicas": 3, "list": [1, "a", {"k": "v"}], "m": {"a": 1.5}}),
    );
    let limits = common::template_limits();
    if let Ok(t) = Template::parse("base", src) {
        let _ = t.execute_with_limits(&data, MissingKey::Default, &limits);
        let _ = t.execute_with_limits(&data, MissingKey::Error, &limits);
    }
    for functions in [FunctionSet::Helm, FunctionSet::Crossplane] {
        let mut set = TemplateSet::new(functions, MissingKey::Zero).with_limits(limits.clone());
        if set.add("_helpers.tpl", helpers).is_ok() && set.add("main", src).is_ok() {
            let _ = set.execute("main", &data);
        }
    }
});
