//! Property tests: field-path set-then-get round trips, and transforms never panic.

use proptest::prelude::*;
use serde_json::{Value, json};
use strata_composition::fieldpath::{self, Segment, segments_string};
use strata_composition::transform::{Transform, run_all};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        "[a-z0-9 %.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_segments() -> impl Strategy<Value = Vec<Segment>> {
    let seg = prop_oneof![
        "[a-z][a-z0-9_/-]{0,6}".prop_map(Segment::Field),
        "[a-z]{1,3}\\.[a-z]{1,3}".prop_map(Segment::Field),
        (0u32..6).prop_map(Segment::Index),
    ];
    // Paths start with a field: the root is always an object.
    ("[a-z]{1,5}", prop::collection::vec(seg, 0..5)).prop_map(|(first, rest)| {
        let mut v = vec![Segment::Field(first)];
        v.extend(rest);
        v
    })
}

fn transforms() -> Vec<Transform> {
    let specs = [
        json!({"type": "map", "map": {"a": "b", "1": 2}}),
        json!({"type": "match", "match": {"patterns": [{"type": "regexp", "regexp": "^a", "result": 1}], "fallbackTo": "Input"}}),
        json!({"type": "math", "math": {"type": "Multiply", "multiply": 3}}),
        json!({"type": "math", "math": {"type": "ClampMin", "clampMin": 0}}),
        json!({"type": "string", "string": {"type": "Format", "fmt": "%v-%s-%d-%5.2f-%q-%x-%[2]v-%*d"}}),
        json!({"type": "string", "string": {"type": "Convert", "convert": "ToJson"}}),
        json!({"type": "string", "string": {"type": "Convert", "convert": "FromBase64"}}),
        json!({"type": "string", "string": {"type": "Convert", "convert": "ToSha256"}}),
        json!({"type": "string", "string": {"type": "Regexp", "regexp": {"match": "([a-z]+)", "group": 1}}}),
        json!({"type": "string", "string": {"type": "Join", "join": {"separator": ","}}}),
        json!({"type": "convert", "convert": {"toType": "int64"}}),
        json!({"type": "convert", "convert": {"toType": "float64", "format": "quantity"}}),
        json!({"type": "convert", "convert": {"toType": "object", "format": "json"}}),
        json!({"type": "convert", "convert": {"toType": "string"}}),
        json!({"type": "convert", "convert": {"toType": "bool"}}),
    ];
    specs
        .iter()
        .map(|s| Transform::parse(s).expect("valid transform"))
        .collect()
}

proptest! {
    #[test]
    fn set_then_get_round_trips(segs in arb_segments(), value in arb_json()) {
        let path = segments_string(&segs);
        let mut obj = json!({});
        fieldpath::set(&mut obj, &path, value.clone()).expect("set on a fresh object succeeds");
        let got = fieldpath::get(&obj, &path).expect("get after set succeeds");
        prop_assert_eq!(got, &value);
    }

    #[test]
    fn transforms_never_panic(input in arb_json(), chain in prop::collection::vec(0usize..15, 1..4)) {
        let all = transforms();
        let picked: Vec<Transform> = chain.iter().map(|i| all[*i].clone()).collect();
        // Either a value or an error: both are fine, a panic is not.
        let _ = run_all(&picked, &input);
        for t in &all {
            let _ = t.apply(&input);
        }
    }

    #[test]
    fn parsing_arbitrary_paths_never_panics(path in "[a-z.\\[\\]'\"*0-9]{0,16}") {
        let _ = fieldpath::FieldPath::parse(&path);
        let _ = fieldpath::get(&json!({"a": [1, {"b": 2}]}), &path);
    }
}
