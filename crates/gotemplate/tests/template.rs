//! Behaviour of the Go text/template engine used by ApplicationSet `goTemplate` mode.

use serde_json::{Value, json};
use strata_gotemplate::{
    CallFailure, FUNCTION_NAMES, FuncError, MissingKey, Template, b64_decode, is_function, render,
};

fn data() -> Value {
    json!({
        "name": "Web_App",
        "env": "prod",
        "replicas": 3,
        "ratio": 1.5,
        "enabled": true,
        "off": false,
        "empty": "",
        "nothing": null,
        "tags": ["a", "b", "c"],
        "labels": {"team": "core", "tier": "web"},
        "image": {"name": "busybox", "version": "latest"},
        "path": {"path": "apps/web", "basename": "web", "segments": ["apps", "web"]}
    })
}

fn r(src: &str) -> String {
    render(src, &data(), MissingKey::Default).unwrap_or_else(|e| panic!("render {src:?}: {e}"))
}

fn err(src: &str, mode: MissingKey) -> String {
    match render(src, &data(), mode) {
        Ok(out) => panic!("{src:?} should fail, rendered {out:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn text_and_fields() {
    assert_eq!(r("plain text"), "plain text");
    assert_eq!(
        r("{{ .image.name }}:{{ .image.version }}"),
        "busybox:latest"
    );
    assert_eq!(r("{{.replicas}} {{.ratio}} {{.enabled}}"), "3 1.5 true");
    assert_eq!(r("{{ .tags }}"), "[a b c]");
    assert_eq!(r("{{ .labels }}"), "map[team:core tier:web]");
    assert_eq!(r("{{ .path.segments }}"), "[apps web]");
}

#[test]
fn missing_keys_follow_the_option() {
    assert_eq!(r("--> {{.doesnotexist}} <--"), "--> <no value> <--");
    assert_eq!(r("{{ .nothing }}"), "<no value>");
    assert_eq!(r("{{ .nope.deeper }}"), "<no value>");
    assert_eq!(
        render("{{ .nope }}", &data(), MissingKey::Zero).expect("zero mode"),
        "<no value>"
    );
    assert_eq!(
        err("--> {{.doesnotexist}} <--", MissingKey::Error),
        "template: base:1:6: executing \"base\" at <.doesnotexist>: map has no entry for key \"doesnotexist\""
    );
    assert!(
        err("{{ .image.tag }}", MissingKey::Error).contains("map has no entry for key \"tag\"")
    );
    assert!(
        err("{{ .nothing.x }}", MissingKey::Default)
            .contains("nil pointer evaluating interface {}.x")
    );
    assert!(
        err("{{ .env.x }}", MissingKey::Default).contains("can't evaluate field x in type string")
    );
    assert_eq!(
        MissingKey::from_options(&["missingkey=error"]),
        Ok(MissingKey::Error)
    );
    assert_eq!(
        MissingKey::from_options(&["missingkey=zero"]),
        Ok(MissingKey::Zero)
    );
    assert_eq!(
        MissingKey::from_options::<&str>(&[]),
        Ok(MissingKey::Default)
    );
    assert!(MissingKey::from_options(&["bogus"]).is_err());
}

#[test]
fn error_positions_count_lines() {
    let e = err("line one\n  {{ .missing }}", MissingKey::Error);
    assert!(e.starts_with("template: base:2:5: executing"), "{e}");
}

#[test]
fn unknown_function_is_a_parse_error_naming_it() {
    let e = err("{{ frobnicate .name }}", MissingKey::Default);
    assert_eq!(e, "template: base:1: function \"frobnicate\" not defined");
    assert!(!is_function("frobnicate"));
    assert!(FUNCTION_NAMES.contains(&"normalize"));
}

#[test]
fn parse_errors() {
    assert!(err("{{ if .enabled }}x", MissingKey::Default).contains("unexpected EOF"));
    assert!(err("{{ end }}", MissingKey::Default).contains("unexpected {{end}}"));
    assert!(err("{{ .name", MissingKey::Default).contains("unclosed action"));
    assert!(err("{{ $undefined }}", MissingKey::Default).contains("undefined variable"));
    assert!(err("{{ break }}", MissingKey::Default).contains("outside"));
}

#[test]
fn variables_and_assignment() {
    assert_eq!(r("{{ $x := .env }}{{ $x }}"), "prod");
    assert_eq!(r("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"), "2");
    assert_eq!(
        r("{{ with .image }}{{ $.env }}-{{ .name }}{{ end }}"),
        "prod-busybox"
    );
    assert_eq!(r("{{ $v := .labels }}{{ $v.team }}"), "core");
}

#[test]
fn pipelines_and_parentheses() {
    assert_eq!(r("{{ .name | lower }}"), "web_app");
    assert_eq!(r("{{ .name | lower | upper }}"), "WEB_APP");
    assert_eq!(
        r("{{ printf \"%s-%s\" .env .image.name | upper }}"),
        "PROD-BUSYBOX"
    );
    assert_eq!(r("{{ (index .tags 1) }}"), "b");
    assert_eq!(r("{{ (dict \"a\" .labels).a.team }}"), "core");
    assert_eq!(r("{{ len (split \",\" \"x,y,z\") }}"), "3");
}

#[test]
fn if_else_chains() {
    assert_eq!(r("{{ if .enabled }}on{{ else }}off{{ end }}"), "on");
    assert_eq!(r("{{ if .off }}on{{ else }}off{{ end }}"), "off");
    assert_eq!(
        r("{{ if .off }}a{{ else if .empty }}b{{ else if .replicas }}c{{ else }}d{{ end }}"),
        "c"
    );
    assert_eq!(r("{{ if .missing }}yes{{ else }}no{{ end }}"), "no");
    assert_eq!(r("{{ if .tags }}has{{ end }}"), "has");
    assert_eq!(
        render(
            "{{ if .hpa.enabled }}{{ .hpa.maxReplicas }}{{ else }}{{ .replicas }}{{ end }}",
            &json!({"replicas": 3, "hpa": {"enabled": false, "maxReplicas": 5}}),
            MissingKey::Default
        )
        .expect("render"),
        "3"
    );
}

#[test]
fn with_and_else_with() {
    assert_eq!(r("{{ with .image }}{{ .name }}{{ end }}"), "busybox");
    assert_eq!(r("{{ with .empty }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        r("{{ with .empty }}x{{ else with .env }}{{ . }}{{ end }}"),
        "prod"
    );
}

#[test]
fn range_forms() {
    assert_eq!(r("{{ range .tags }}[{{ . }}]{{ end }}"), "[a][b][c]");
    assert_eq!(
        r("{{ range $i, $t := .tags }}{{ $i }}={{ $t }};{{ end }}"),
        "0=a;1=b;2=c;"
    );
    assert_eq!(
        r("{{ range $k, $v := .labels }}{{ $k }}:{{ $v }},{{ end }}"),
        "team:core,tier:web,"
    );
    assert_eq!(r("{{ range .missing }}x{{ else }}empty{{ end }}"), "empty");
    assert_eq!(
        r("{{ range .tags }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}"),
        "a"
    );
    assert_eq!(
        r("{{ range .tags }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}"),
        "ac"
    );
    assert_eq!(r("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert!(
        err("{{ range .env }}{{ end }}", MissingKey::Default)
            .contains("range can't iterate over prod")
    );
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(r("a  {{- .env -}}  b"), "aprodb");
    assert_eq!(r("a {{- /* comment */ -}} b"), "ab");
    assert_eq!(r("x{{/* hidden */}}y"), "xy");
    assert_eq!(r("{{- if .enabled }}\n  yes\n{{- end }}"), "\n  yes");
    // `{{-3}}` is the number -3, not a trim marker.
    assert_eq!(r("{{-3}}"), "-3");
}

#[test]
fn define_and_template() {
    assert_eq!(
        r("{{ define \"t\" }}<{{ .name }}>{{ end }}{{ template \"t\" .image }}"),
        "<busybox>"
    );
    assert_eq!(r("{{ block \"b\" .env }}[{{ . }}]{{ end }}"), "[prod]");
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(
        r("{{ eq .env \"prod\" }} {{ ne .env \"prod\" }}"),
        "true false"
    );
    assert_eq!(r("{{ eq .env \"dev\" \"prod\" }}"), "true");
    assert_eq!(
        r("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge .replicas 3 }}"),
        "true true false true"
    );
    assert_eq!(r("{{ lt \"a\" \"b\" }}"), "true");
    assert_eq!(
        r("{{ and .enabled .env }} {{ and .off .env }}"),
        "prod false"
    );
    assert_eq!(r("{{ or .empty .env }} {{ or .off .empty }}"), "prod ");
    assert_eq!(r("{{ not .enabled }} {{ not .empty }}"), "false true");
    // `and` stops before evaluating a failing operand.
    assert_eq!(r("{{ and .off (index .tags 99) }}"), "false");
    assert!(
        err("{{ eq .env 1 }}", MissingKey::Default).contains("incompatible types for comparison")
    );
    assert!(err("{{ lt .tags 1 }}", MissingKey::Default).contains("invalid type for comparison"));
}

#[test]
fn builtins_len_index_slice_print() {
    assert_eq!(
        r("{{ len .tags }} {{ len .labels }} {{ len .env }}"),
        "3 2 4"
    );
    assert_eq!(
        r("{{ index .tags 0 }} {{ index .labels \"tier\" }} {{ index . \"image\" \"name\" }}"),
        "a web busybox"
    );
    assert_eq!(r("{{ index .labels \"nope\" }}"), "<no value>");
    assert!(
        err("{{ index .tags 7 }}", MissingKey::Default)
            .contains("error calling index: index out of range: 7")
    );
    assert_eq!(r("{{ slice .env 1 3 }} {{ slice .tags 1 }}"), "ro [b c]");
    assert_eq!(r("{{ print \"a\" 1 2 \"b\" }}"), "a1 2b");
    assert_eq!(r("{{ println \"a\" 1 }}"), "a 1\n");
    assert!(err("{{ len .replicas }}", MissingKey::Default).contains("len of type int"));
}

#[test]
fn printf_formats_like_go() {
    assert_eq!(
        r("{{ printf \"%s/%d/%v\" .env .replicas .ratio }}"),
        "prod/3/1.5"
    );
    assert_eq!(r("{{ printf \"%q\" .env }}"), "\"prod\"");
    assert_eq!(r("{{ printf \"%x|%X\" 255 .env }}"), "ff|70726F64");
    assert_eq!(
        r("{{ printf \"%6s|%-6s|%03d\" .env .env .replicas }}"),
        "  prod|prod  |003"
    );
    assert_eq!(r("{{ printf \"%.1f %t\" .ratio .enabled }}"), "1.5 true");
    assert_eq!(r("{{ printf \"%v\" .tags }}"), "[a b c]");
    assert_eq!(r("{{ printf \"%d\" .env }}"), "%!d(string=prod)");
    assert_eq!(r("{{ printf \"%s %s\" .env }}"), "prod %!s(MISSING)");
}

#[test]
fn literals() {
    assert_eq!(
        r("{{ \"a\\tb\" }}|{{ `raw\\n` }}|{{ 'x' }}|{{ 0x1F }}|{{ 1.25 }}|{{ true }}"),
        "a\tb|raw\\n|120|31|1.25|true"
    );
    assert!(err("{{ nil }}", MissingKey::Default).contains("nil is not a command"));
    assert!(
        err("{{ .env 1 }}", MissingKey::Default).contains("can't give argument to non-function")
    );
}

#[test]
fn sprig_string_functions() {
    assert_eq!(
        r("{{ default \"x\" .empty }} {{ default \"x\" .env }} {{ default \"x\" .missing }}"),
        "x prod x"
    );
    assert_eq!(r("{{ .missing | default \"fallback\" }}"), "fallback");
    assert_eq!(r("{{ lower \"ABC\" }} {{ upper \"abc\" }}"), "abc ABC");
    assert_eq!(r("{{ trim \"  x  \" }}|"), "x|");
    assert_eq!(
        r("{{ trimPrefix \"apps/\" .path.path }} {{ trimSuffix \"/web\" .path.path }}"),
        "web apps"
    );
    assert_eq!(r("{{ replace \"_\" \"-\" .name }}"), "Web-App");
    assert_eq!(
        r("{{ trunc 3 .name }} {{ trunc -3 .name }} {{ trunc 99 .env }}"),
        "Web App prod"
    );
    assert_eq!(
        r("{{ quote .env .replicas }} {{ squote .env }}"),
        "\"prod\" \"3\" 'prod'"
    );
    assert_eq!(
        r("{{ join \",\" .tags }} {{ .tags | join \"-\" }}"),
        "a,b,c a-b-c"
    );
    assert_eq!(r("{{ (split \"/\" .path.path)._1 }}"), "web");
    assert_eq!(r("{{ splitList \"/\" .path.path }}"), "[apps web]");
    assert_eq!(
        r("{{ contains \"ro\" .env }} {{ hasPrefix \"pr\" .env }} {{ hasSuffix \"x\" .env }}"),
        "true true false"
    );
    assert_eq!(
        r("{{ repeat 2 \"ab\" }} {{ substr 1 3 .env }} {{ nospace \"a b c\" }}"),
        "abab ro abc"
    );
    assert_eq!(r("{{ title \"hello world\" }}"), "Hello World");
    assert_eq!(r("{{ indent 2 \"a\\nb\" }}"), "  a\n  b");
    assert_eq!(r("{{ cat \"a\" .missing \"b\" }}"), "a b");
    assert_eq!(
        r("{{ ternary \"y\" \"n\" .enabled }} {{ coalesce .empty .missing .env }}"),
        "y prod"
    );
    assert_eq!(r("{{ empty .empty }} {{ empty .tags }}"), "true false");
}

#[test]
fn argocd_functions() {
    assert_eq!(r("{{ normalize .name }}"), "web-app");
    assert_eq!(
        r("{{ normalize \"production_01/west\" }}"),
        "production-01-west"
    );
    assert_eq!(
        r("{{ slugify \"Hello World, Again!\" }}"),
        "hello-world-again"
    );
    assert_eq!(r("{{ slugify 10 true \"aaaa bbbb cccc\" }}"), "aaaa-bbbb");
    assert_eq!(r("{{ toYaml .labels }}"), "team: core\ntier: web");
    assert_eq!(r("{{ (fromYaml \"a: 1\").a }}"), "1");
}

#[test]
fn sprig_data_functions() {
    assert_eq!(
        r("{{ toJson .labels }}"),
        "{\"team\":\"core\",\"tier\":\"web\"}"
    );
    assert_eq!(r("{{ toJson \"<a&b>\" }}"), "\"\\u003ca\\u0026b\\u003e\"");
    assert_eq!(r("{{ toRawJson \"<a>\" }}"), "\"<a>\"");
    assert_eq!(
        r("{{ toPrettyJson .tags }}"),
        "[\n  \"a\",\n  \"b\",\n  \"c\"\n]"
    );
    assert_eq!(
        r("{{ list 1 \"a\" }} {{ first .tags }} {{ last .tags }}"),
        "[1 a] a c"
    );
    assert_eq!(
        r("{{ hasKey .labels \"team\" }} {{ get .labels \"tier\" }}"),
        "true web"
    );
    assert_eq!(r("{{ keys (dict \"k\" 1) }}"), "[k]");
    assert_eq!(
        r("{{ has \"b\" .tags }} {{ uniq (list 1 1 2) }}"),
        "true [1 2]"
    );
    assert_eq!(
        r("{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }}"),
        "6 3 6 3 1"
    );
    assert_eq!(r("{{ atoi \"42\" }} {{ int \"7\" }}"), "42 7");
    assert_eq!(
        r("{{ b64enc .env }} {{ b64dec \"cHJvZA==\" }}"),
        "cHJvZA== prod"
    );
    assert_eq!(
        r("{{ regexMatch \"^p.*d$\" .env }} {{ regexReplaceAll \"_(.)\" .name \"-$1\" }}"),
        "true Web-App"
    );
    assert!(err("{{ div 1 0 }}", MissingKey::Default).contains("integer divide by zero"));
}

#[test]
fn function_argument_types_are_checked() {
    assert!(
        err("{{ lower .replicas }}", MissingKey::Default)
            .contains("wrong type for value; expected string; got int")
    );
    assert!(
        err("{{ lower .missing }}", MissingKey::Default).contains("invalid value; expected string")
    );
    assert!(
        err("{{ lower }}", MissingKey::Default)
            .contains("wrong number of args for lower: want 1 got 0")
    );
}

#[test]
fn function_errors_are_typed_and_worded_as_go() {
    let e = render("{{ div 1 0 }}", &data(), MissingKey::Default).expect_err("divides by zero");
    assert_eq!(
        e.function_error(),
        Some(&FuncError::Failed {
            func: "div".to_string(),
            failure: CallFailure::DivideByZero,
        })
    );
    assert!(
        e.to_string()
            .ends_with("error calling div: runtime error: integer divide by zero")
    );
    let e = render("{{ default 1 2 3 }}", &data(), MissingKey::Default).expect_err("too many");
    assert!(matches!(
        e.function_error(),
        Some(FuncError::TooManyArgs { max: 2, got: 3, .. })
    ));
    assert_eq!(
        e.message,
        "wrong number of args for default: want at most 2 got 3"
    );
    let e =
        render("{{ regexMatch \"(\" .env }}", &data(), MissingKey::Default).expect_err("bad regex");
    assert!(matches!(e.function_error(), Some(FuncError::Regex(_))));
    assert!(e.message.starts_with("error calling regex: "));
    let e = render("{{ get .env \"k\" }}", &data(), MissingKey::Default).expect_err("not a map");
    assert_eq!(
        e.message,
        "wrong type for value; expected map[string]interface {}; got string"
    );
    let parse = render("{{ .a", &data(), MissingKey::Default).expect_err("unclosed");
    assert_eq!(parse.function_error(), None);
}

#[test]
fn options_and_base64_errors_are_typed() {
    assert_eq!(
        MissingKey::from_options(&["missingkey=zero"]),
        Ok(MissingKey::Zero)
    );
    let e = MissingKey::from_options(&["missingkey=error", "strict"]).expect_err("unknown");
    assert_eq!(e.option, "strict");
    assert_eq!(e.to_string(), "unrecognized option: strict");
    let e = b64_decode("aG!s").expect_err("not base64");
    assert_eq!(e.offset, 2);
    assert_eq!(e.to_string(), "illegal base64 data");
    assert_eq!(b64_decode("cHJvZA==").expect("valid"), b"prod");
}

#[test]
fn templates_are_reusable() {
    let t = Template::parse("base", "{{ .a }}-{{ .b }}").expect("parse");
    assert_eq!(
        t.execute(&json!({"a": 1, "b": 2}), MissingKey::Default)
            .expect("run"),
        "1-2"
    );
    assert_eq!(
        t.execute(&json!({"a": "x"}), MissingKey::Default)
            .expect("run"),
        "x-<no value>"
    );
}

proptest::proptest! {
    /// Arbitrary template text never panics the lexer, parser or executor.
    #[test]
    fn arbitrary_text_never_panics(src in "(\\{\\{|\\}\\}|-| |\\.|\\$|[a-z]|\"|`|\\(|\\)|\\||é|[0-9]|'){0,40}") {
        let _ = render(&src, &data(), MissingKey::Default);
        let _ = render(&src, &data(), MissingKey::Error);
    }
}

#[test]
fn from_yaml_reads_merge_keys_and_refuses_alias_bombs() {
    let mut bomb = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    let data = json!({
        "merged": "base: &b {a: 1, b: 2}\nout:\n  <<: *b\n  b: 3\n",
        "bomb": bomb,
        "cycle": "- &s [1, *s]\n",
    });
    let run = |src: &str| render(src, &data, MissingKey::Default).unwrap();
    assert_eq!(
        run("{{ (fromYaml .merged).out | toJson }}"),
        r#"{"a":1,"b":3}"#
    );
    let refused = run("{{ (fromYaml .bomb).Error }}");
    assert!(
        refused.starts_with("refused: ") && refused.contains("alias bomb"),
        "{refused}"
    );
    let refused = run("{{ index (fromYamlArray .cycle) 0 }}");
    assert!(refused.starts_with("refused: "), "{refused}");
}

#[test]
fn custom_delimiters_carry_trim_markers_and_comments_and_leave_braces_as_text() {
    use strata_gotemplate::{FunctionSet, TemplateSet};
    let mut set = TemplateSet::new(FunctionSet::Sprig, MissingKey::Default).with_delims("[[", "]]");
    set.add(
        "t",
        "{{ not an action }} [[ .name ]]\n   [[- /* dropped */ -]]   |[[ .env | upper -]]\n  end",
    )
    .unwrap();
    assert_eq!(
        set.execute("t", &data()).unwrap(),
        "{{ not an action }} Web_App|PRODend"
    );
    // One side empty keeps Go's default for it.
    let mut half = TemplateSet::new(FunctionSet::Sprig, MissingKey::Default).with_delims("<%", "");
    half.add("h", "<% .env }}").unwrap();
    assert_eq!(half.execute("h", &data()).unwrap(), "prod");
    // An action left open names the problem as Go does.
    let mut open =
        TemplateSet::new(FunctionSet::Sprig, MissingKey::Default).with_delims("[[", "]]");
    let e = open.add("o", "[[ .name }}").unwrap_err().to_string();
    assert!(
        e.contains("unclosed action") || e.contains("unexpected"),
        "{e}"
    );
}
