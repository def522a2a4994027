//! Crossplane field paths: parsing, reading, writing, deleting, wildcard expansion, merging.
//! Input: `path \0 document \0 value`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use strata_composition::fieldpath::{self, FieldPath, MergeOptions};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 3);
    let (path, doc, value) = (&p[0], &p[1], &p[2]);
    let doc = common::document(doc, json!({"spec": {"a": [1, {"b": "c"}]}}));
    let value = common::document(value, json!("x"));
    if let Ok(fp) = FieldPath::parse(path) {
        let printed = fieldpath::segments_string(&fp.0);
        let _ = FieldPath::parse(&printed);
        let _ = fieldpath::get_segments(&doc, &fp.0);
    }
    let _ = fieldpath::get(&doc, path);
    let _ = fieldpath::get_string(&doc, path);
    let _ = fieldpath::get_integer(&doc, path);
    let _ = fieldpath::expand_wildcards(&doc, path);
    let mut d = doc.clone();
    let _ = fieldpath::set(&mut d, path, value.clone());
    let mut d = doc.clone();
    let _ = fieldpath::delete(&mut d, path);
    for (keep_map_values, append_slice) in [(false, false), (true, true)] {
        let mut d: Value = doc.clone();
        let opts = MergeOptions {
            keep_map_values,
            append_slice,
        };
        let _ = fieldpath::merge_value(&mut d, path, value.clone(), Some(opts));
    }
});
