//! The Helm renderer runs every template within the embedder's limits: a chart whose template
//! recurses forever or builds a gigantic string fails with an error naming the limit and the
//! file, and tighter limits set in the options apply.

use strata_core::source::MemoryTree;
use strata_gotemplate::Limits;
use strata_sources::helm::{self, HelmOptions};

fn chart(template: &str) -> MemoryTree {
    MemoryTree::new()
        .with_file("c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n")
        .with_file("c/values.yaml", "n: 3\n")
        .with_file("c/templates/cm.yaml", template)
}

fn render_error(tree: &MemoryTree, options: &HelmOptions) -> String {
    match helm::render(tree, "c", options) {
        Ok(manifests) => panic!("rendered {} manifests", manifests.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn endless_template_recursion_stops_at_helms_depth() {
    let tree = chart(r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#);
    let err = render_error(&tree, &HelmOptions::new("r", "ns"));
    assert!(err.contains("c/templates/cm.yaml"), "{err}");
    // Helm's renderer stops nesting at 1,000, below Go's 100,000.
    assert!(
        err.contains("exceeded maximum template depth (1000)"),
        "{err}"
    );
}

#[test]
fn a_gigantic_string_is_refused() {
    let tree = chart(r#"{{ repeat 2000000000 "xxxxxxxxxx" | len }}"#);
    let err = render_error(&tree, &HelmOptions::new("r", "ns"));
    assert!(err.contains("max_value_bytes"), "{err}");
}

#[test]
fn the_options_limits_apply_to_every_template() {
    let tree = chart("a: {{ repeat 100 \"x\" }}\n");
    let mut options = HelmOptions::new("r", "ns");
    assert!(helm::render(&tree, "c", &options).is_ok());
    options.limits = Limits::default().with_max_value_bytes(50);
    let err = render_error(&tree, &options);
    assert!(err.contains("exceeds the limit of 50 bytes"), "{err}");
    options.limits = Limits::default().with_max_depth(3);
    let tree = chart(
        r#"{{define "d"}}{{if gt . 0}}{{template "d" (sub . 1)}}{{end}}{{end}}{{template "d" 5}}"#,
    );
    let err = render_error(&tree, &options);
    assert!(err.contains("exceeded maximum template depth (3)"), "{err}");
}
