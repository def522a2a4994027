//! Hostile templates stop with an error naming the limit they reached, never by crashing or
//! exhausting the process: template recursion (Go's depth limit), deep nesting, huge strings
//! and lists built by functions, long output, and endless work.

use std::time::Duration;

use serde_json::json;
use strata_core::user_regex::RegexLimitError;
use strata_gotemplate::{
    FuncError, FunctionSet, LimitExceeded, Limits, MissingKey, Template, TemplateError,
    TemplateSet, render,
};

fn fails(src: &str) -> TemplateError {
    match render(src, &json!({"a": 1}), MissingKey::Default) {
        Ok(out) => panic!("{src:?} rendered {} bytes", out.len()),
        Err(e) => e,
    }
}

fn fails_with(src: &str, limits: &Limits) -> TemplateError {
    let t = Template::parse("base", src).expect("parses");
    match t.execute_with_limits(&json!({"a": 1}), MissingKey::Default, limits) {
        Ok(out) => panic!("{src:?} rendered {} bytes", out.len()),
        Err(e) => e,
    }
}

fn ok(src: &str) -> String {
    render(src, &json!({"a": 1}), MissingKey::Default).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

#[test]
fn endless_template_recursion_stops_at_gos_depth() {
    let e = fails(r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#);
    assert_eq!(
        e.to_string(),
        "template: base:1:14: executing \"x\" at <template \"x\">: \
         exceeded maximum template depth (100000)"
    );
    assert_eq!(e.limit(), Some(&LimitExceeded::Depth(100_000)));
}

#[test]
fn recursion_through_control_structures_stops_at_the_depth_limit() {
    let src = r#"{{define "x"}}{{if true}}{{with .}}{{range list 1}}{{template "x" .}}{{end}}{{end}}{{end}}{{end}}{{template "x" .}}"#;
    let e = fails_with(src, &Limits::default().with_max_depth(20_000));
    assert_eq!(e.limit(), Some(&LimitExceeded::Depth(20_000)));
}

#[test]
fn nesting_within_recursion_stops_at_the_stack_budget() {
    // Each call nests 50 control structures: the depth limit alone would allow 5,000,000
    // nested frames.
    let src = format!(
        r#"{{{{define "x"}}}}{}{{{{template "x" .}}}}{}{{{{end}}}}{{{{template "x" .}}}}"#,
        "{{if true}}".repeat(50),
        "{{end}}".repeat(50)
    );
    let limits = Limits::default().with_max_stack_bytes(64 << 20);
    let e = fails_with(&src, &limits);
    assert_eq!(e.limit(), Some(&LimitExceeded::Stack { limit: 64 << 20 }));
    assert!(e.to_string().contains("(max_stack_bytes)"), "{e}");
}

#[test]
fn the_depth_limit_is_configurable() {
    let src = r#"{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}"#;
    let e = fails_with(src, &Limits::default().with_max_depth(10));
    assert!(
        e.to_string()
            .ends_with("exceeded maximum template depth (10)"),
        "{e}"
    );
    // Recursion that ends within the limit runs.
    let counted = r#"{{define "n"}}{{if gt . 0}}{{template "n" (sub . 1)}}{{.}}{{end}}{{end}}{{template "n" 5}}"#;
    assert_eq!(ok(counted), "12345");
}

#[test]
fn helm_include_recursion_still_stops_at_1000() {
    let mut set = TemplateSet::new(FunctionSet::Helm, MissingKey::Default);
    set.add(
        "t",
        r#"{{define "x"}}{{include "x" .}}{{end}}{{include "x" .}}"#,
    )
    .expect("parses");
    let e = set.execute("t", &json!({})).expect_err("recursion");
    assert_eq!(e.limit(), Some(&LimitExceeded::Depth(1000)));
}

#[test]
fn deeply_nested_control_structures_parse_run_and_drop() {
    let n = 20_000;
    let src = format!("{}x{}", "{{if true}}".repeat(n), "{{end}}".repeat(n));
    assert_eq!(ok(&src), "x");
}

#[test]
fn parenthesised_pipelines_nest_as_deep_as_go_allows() {
    let deep = |n: usize| format!("{{{{{}1{}}}}}", "(".repeat(n), ")".repeat(n));
    assert_eq!(ok(&deep(5_000)), "1");
    let e = Template::parse("base", &deep(10_001)).expect_err("too deep");
    assert_eq!(
        e.to_string(),
        "template: base:1: max expression depth exceeded"
    );
}

#[test]
fn repeat_refuses_a_huge_string_before_building_it() {
    let e = fails(r#"{{ repeat 2000000000 "xxxxxxxxxx" | len }}"#);
    assert_eq!(
        e.to_string(),
        "template: base:1:3: executing \"base\" at <repeat>: error calling repeat: result of \
         20000000000 bytes exceeds the limit of 16777216 bytes per value (max_value_bytes)"
    );
    assert!(matches!(
        e.limit(),
        Some(LimitExceeded::ValueBytes {
            limit: 16_777_216,
            ..
        })
    ));
}

#[test]
fn list_builders_refuse_huge_lists() {
    for src in [
        "{{ until 2000000000 | len }}",
        "{{ untilStep 0 9223372036854775807 1 | len }}",
        "{{ untilStep 0 -9223372036854775807 -1 | len }}",
    ] {
        let e = fails(src);
        assert!(
            matches!(
                e.limit(),
                Some(LimitExceeded::ListLength {
                    limit: 1_000_000,
                    ..
                })
            ),
            "{src}: {e}"
        );
        assert!(e.to_string().contains("(max_list_len)"), "{e}");
    }
}

#[test]
fn string_builders_refuse_huge_results() {
    let big = r#"{{ $x := repeat 10000000 "x" }}"#;
    for call in [
        // Doubling through the functions that copy their arguments.
        "{{ $y := print $x $x }}",
        "{{ $y := cat $x $x }}",
        "{{ $y := list $x $x }}",
        "{{ $y := dict \"a\" $x \"b\" $x }}",
        "{{ $y := join $x (list 1 2 3) }}",
        "{{ $y := indent 2000000000 \"a\\nb\" }}",
        "{{ $y := nindent 1000 (repeat 20000 \"a\\n\") }}",
        "{{ $y := replace \"x\" \"yy\" $x }}",
        "{{ $y := replace \"\" \"yy\" $x }}",
        "{{ $y := printf (repeat 100 \"%999999[1]d\") 1 }}",
        "{{ $y := printf \"%s%s\" $x $x }}",
    ] {
        let src = format!("{big}{call}");
        let e = fails(&src);
        assert!(
            matches!(e.limit(), Some(LimitExceeded::ValueBytes { .. })),
            "{call}: {e}"
        );
    }
    // Under the limit they work.
    assert_eq!(ok(r#"{{ repeat 3 "ab" }}"#), "ababab");
    assert_eq!(ok(r#"{{ join "-" (list 1 2 3) }}"#), "1-2-3");
    assert_eq!(ok(r#"{{ printf "%5d|" 42 }}"#), "   42|");
}

#[test]
fn output_is_capped() {
    let limits = Limits::default().with_max_output_bytes(1000);
    let e = fails_with(
        r#"{{ range until 100 }}{{ repeat 100 "x" }}{{ end }}"#,
        &limits,
    );
    assert_eq!(e.limit(), Some(&LimitExceeded::Output { limit: 1000 }));
    assert!(e.to_string().contains("(max_output_bytes)"), "{e}");
    let e = fails_with(&"x".repeat(1001), &limits);
    assert_eq!(e.limit(), Some(&LimitExceeded::Output { limit: 1000 }));
    // The default: 64 MiB.
    let e = fails(r#"{{ $x := repeat 16000000 "x" }}{{ range until 5 }}{{ $x }}{{ end }}"#);
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::Output {
            limit: 64 * 1024 * 1024
        })
    );
}

#[test]
fn endless_work_stops_at_the_step_budget() {
    let src = r#"{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}"#;
    let e = fails_with(src, &Limits::default().with_max_steps(100_000));
    assert_eq!(e.limit(), Some(&LimitExceeded::Steps { limit: 100_000 }));
    assert!(
        e.to_string()
            .ends_with("template execution exceeded the budget of 100000 steps (max_steps)"),
        "{e}"
    );
}

#[test]
fn endless_work_stops_at_the_time_budget() {
    let src = r#"{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}"#;
    let limits = Limits::default().with_max_duration(Some(Duration::ZERO));
    let e = fails_with(src, &limits);
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::Time {
            limit: Duration::ZERO
        })
    );
    assert!(e.to_string().contains("(max_duration)"), "{e}");
}

#[test]
fn until_and_until_step_count_as_sprig_does() {
    for (src, want) in [
        ("{{ until 5 }}", "[0 1 2 3 4]"),
        ("{{ until 0 }}", "[]"),
        ("{{ until 1 }}", "[0]"),
        ("{{ until -3 }}", "[0 -1 -2]"),
        ("{{ untilStep 0 10 3 }}", "[0 3 6 9]"),
        ("{{ untilStep 3 6 2 }}", "[3 5]"),
        ("{{ untilStep 0 10 5 }}", "[0 5]"),
        ("{{ untilStep 10 0 -3 }}", "[10 7 4 1]"),
        ("{{ untilStep -2 2 1 }}", "[-2 -1 0 1]"),
        // A step that goes the wrong way, or none, gives nothing.
        ("{{ untilStep 0 10 -1 }}", "[]"),
        ("{{ untilStep 10 0 2 }}", "[]"),
        ("{{ untilStep 0 10 0 }}", "[]"),
        ("{{ untilStep 3 3 1 }}", "[]"),
        ("{{ untilStep 3 3 -1 }}", "[]"),
        (
            "{{ range $i, $v := until 3 }}{{ $i }}={{ $v }} {{ end }}",
            "0=0 1=1 2=2 ",
        ),
        ("{{ printf \"%T\" (index (until 2) 1) }}", "int"),
    ] {
        assert_eq!(ok(src), want, "{src}");
    }
    let e = fails("{{ until \"x\" }}");
    assert!(e.to_string().contains("expected int"), "{e}");
}

/// Each level of the recursion holds a fresh 1 MiB string in its dot: every value is within
/// `max_value_bytes`, but together they would grow without bound.
const HOARDING: &str =
    r#"{{define "x"}}{{template "x" (cat . "")}}{{end}}{{template "x" (repeat 1048576 "x")}}"#;

#[test]
fn values_held_at_once_stop_at_the_total_bytes_limit() {
    let limits = Limits::default().with_max_total_bytes(64 << 20);
    let e = fails_with(HOARDING, &limits);
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::TotalBytes { limit: 64 << 20 })
    );
    assert!(
        e.to_string()
            .contains("built more than 67108864 bytes of values in all (max_total_bytes)"),
        "{e}"
    );
}

#[test]
fn the_default_total_bytes_limit_stops_hoarding_before_the_other_limits() {
    let e = fails(HOARDING);
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::TotalBytes {
            limit: Limits::default().max_total_bytes
        })
    );
}

#[test]
fn values_built_and_dropped_count_towards_the_total() {
    // 100 strings of 100 KiB, one at a time: 10 MB built in all.
    let src = r#"{{range until 100}}{{ repeat 102400 "x" | len }}{{end}}"#;
    let limits = Limits::default().with_max_total_bytes(5 << 20);
    let e = fails_with(src, &limits);
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::TotalBytes { limit: 5 << 20 })
    );
    let t = Template::parse("base", src).expect("parses");
    let out = t
        .execute_with_limits(
            &json!({}),
            MissingKey::Default,
            &Limits::default().with_max_total_bytes(20 << 20),
        )
        .expect("within 20 MiB");
    assert_eq!(out, "102400".repeat(100));
}

#[test]
fn the_total_is_shared_by_included_templates() {
    let mut set = TemplateSet::new(FunctionSet::Helm, MissingKey::Zero)
        .with_limits(Limits::default().with_max_total_bytes(1 << 20));
    set.add(
        "main",
        r#"{{define "big"}}{{ repeat 204800 "x" }}{{end}}{{range until 10}}{{ include "big" . | len }}{{end}}"#,
    )
    .expect("parses");
    let e = set
        .execute("main", &json!({}))
        .expect_err("over 1 MiB in all");
    assert_eq!(
        e.limit(),
        Some(&LimitExceeded::TotalBytes { limit: 1 << 20 })
    );
}

#[test]
fn a_regex_past_the_size_limit_is_refused_naming_the_limit() {
    let e = fails("{{ regexMatch \"(a{1000}){1000}\" \"a\" }}");
    assert!(
        matches!(
            e.function_error(),
            Some(FuncError::Regex(RegexLimitError::TooBig { .. }))
        ),
        "{e:?}"
    );
    assert!(
        e.message.starts_with("error calling regex: "),
        "{}",
        e.message
    );
    assert!(e.message.contains("size limit"), "{}", e.message);
    assert_eq!(ok("{{ regexMatch \"^a{3}$\" \"aaa\" }}"), "true");
}
