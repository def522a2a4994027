//! The manifest loader: YAML (and JSON) documents into resources and objects.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = strata_core::loader::parse_documents(Path::new("fuzz.yaml"), text);
    let _ = strata_core::loader::parse_objects(Path::new("fuzz.yaml"), text);
    let _ = strata_core::loader::parse_values(Path::new("fuzz.json"), text);
    let _ = strata_core::yaml::from_str_multiple::<serde_json::Value>(text);
});
