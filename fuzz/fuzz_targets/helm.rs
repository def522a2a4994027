//! The Helm renderer on a chart whose template, values and helpers come from the input.
//! Input: `template \0 values.yaml \0 _helpers.tpl \0 Chart.yaml`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use strata_core::source::MemoryTree;
use strata_sources::helm::{self, HelmOptions};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 4);
    let (template, values, helpers, chart) = (&p[0], &p[1], &p[2], &p[3]);
    let chart = if chart.trim().is_empty() {
        "apiVersion: v2\nname: fuzz\nversion: 0.1.0\n"
    } else {
        chart.as_str()
    };
    let tree = MemoryTree::new()
        .with_file("chart/Chart.yaml", chart)
        .with_file("chart/values.yaml", values.as_bytes())
        .with_file("chart/templates/_helpers.tpl", helpers.as_bytes())
        .with_file("chart/templates/main.yaml", template.as_bytes());
    let mut options = HelmOptions::new("release", "default");
    options.limits = common::template_limits();
    let _ = helm::render(&tree, "chart", &options);
});
