//! Values files read as Helm reads them: `sigs.k8s.io/yaml` decodes YAML 1.1 with go-yaml and
//! converts the result to JSON. Plain scalars are typed as YAML 1.1 types them (`yes`, `on`,
//! `y` are `true`; `017` is octal; `0x1F`, `0b101`, `1_000`, `1e3` are numbers); every
//! number becomes a float64 (the JSON round trip); map keys that are not strings become the
//! strings Go writes for them (`on` → `"true"`, `1.0` → `"1"`, `0x10` → `"16"`); a null key,
//! an unsigned key beyond int64 and a non-finite number are errors, as in Helm.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One value as Go's YAML library and the JSON round trip give it.
struct GoValue(Value);

impl<'de> Deserialize<'de> for GoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

fn float<E: de::Error>(f: f64) -> Result<GoValue, E> {
    Number::from_f64(f)
        .map(|n| GoValue(Value::Number(n)))
        .ok_or_else(|| E::custom(format_args!("json: unsupported value: {f}")))
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = GoValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<GoValue, E> {
        Ok(GoValue(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoValue, E> {
        float(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoValue, E> {
        float(v as f64)
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<GoValue, E> {
        float(v as f64)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<GoValue, E> {
        float(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoValue, E> {
        float(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoValue, E> {
        Ok(GoValue(Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<GoValue, E> {
        Ok(GoValue(Value::String(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<GoValue, E> {
        Ok(GoValue(Value::String(
            String::from_utf8_lossy(v).into_owned(),
        )))
    }

    fn visit_unit<E: de::Error>(self) -> Result<GoValue, E> {
        Ok(GoValue(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<GoValue, E> {
        Ok(GoValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<GoValue, D::Error> {
        GoValue::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GoValue, A::Error> {
        let mut items = Vec::new();
        while let Some(GoValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(GoValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GoValue, A::Error> {
        let mut out = Map::new();
        while let Some(GoKey(key)) = map.next_key()? {
            let GoValue(v) = map.next_value()?;
            // go-yaml decodes into a Go map: a later key equal to an earlier one replaces it.
            out.insert(key, v);
        }
        Ok(GoValue(Value::Object(out)))
    }
}

/// A map key as `sigs.k8s.io/yaml` writes it into JSON.
struct GoKey(String);

impl<'de> Deserialize<'de> for GoKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

fn unsupported_key<E: de::Error>(kind: &str, key: &dyn fmt::Display) -> E {
    E::custom(format_args!(
        "error converting YAML to JSON: unsupported map key of type {kind}: {key}"
    ))
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = GoKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar map key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<GoKey, E> {
        Ok(GoKey(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoKey, E> {
        Ok(GoKey(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoKey, E> {
        // go-yaml decodes a key beyond int64 as uint64, which sigs.k8s.io/yaml refuses.
        match i64::try_from(v) {
            Ok(i) => Ok(GoKey(i.to_string())),
            Err(_) => Err(unsupported_key("uint64", &v)),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<GoKey, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(GoKey(i.to_string())),
            Err(_) => Err(unsupported_key("uint64", &v)),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<GoKey, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(GoKey(i.to_string())),
            Err(_) => Err(unsupported_key("uint64", &v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoKey, E> {
        Ok(GoKey(float32_key(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoKey, E> {
        Ok(GoKey(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<GoKey, E> {
        Ok(GoKey(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<GoKey, E> {
        Err(unsupported_key("<nil>", &"<nil>"))
    }

    fn visit_none<E: de::Error>(self) -> Result<GoKey, E> {
        Err(unsupported_key("<nil>", &"<nil>"))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<GoKey, D::Error> {
        GoKey::deserialize(deserializer)
    }
}

/// `strconv.FormatFloat(key, 'g', -1, 32)` (sigs.k8s.io/yaml's spelling of a float key), with
/// go-yaml's names for the infinities and NaN.
fn float32_key(v: f64) -> String {
    if v.is_nan() {
        return ".nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    // The shortest decimal that reads back as the same float32, laid out as Go's %g.
    let shortest: f64 = format!("{:e}", v as f32).parse().unwrap_or(v);
    strata_gotemplate::gofmt::format_float(shortest, 'g', -1)
}

/// Reads a values file (`values.yaml`, `--values`, ArgoCD's `values`) as Helm does; an empty
/// file is an empty map.
pub(crate) fn parse(text: &str) -> Result<Value, strata_core::yaml::YamlError> {
    if let Some(value) = quick(text) {
        return Ok(value);
    }
    // Helm keeps the last of duplicate keys without a word, so they are not looked for.
    let read = strata_core::yaml_go::value_from_str::<Option<GoValue>>(text)?;
    Ok(match read {
        None | Some(GoValue(Value::Null)) => Value::Object(Map::new()),
        Some(GoValue(other)) => other,
    })
}

/// [`parse`] for the common values file that needs none of the full parser's features (see
/// [`strata_core::yaml::quick_value`]), read straight from the parser's events; `None` sends the
/// text to the full parser. The quick reader's scalars resolve as Go's do but for numbers,
/// which the JSON round trip makes floats here.
fn quick(text: &str) -> Option<Value> {
    let repaired = strata_core::yaml_go::reindent_quoted_continuations(text);
    let value = strata_core::yaml::quick_value(repaired.as_deref().unwrap_or(text))?;
    Some(match value {
        Value::Null => Value::Object(Map::new()),
        other => as_go(other)?,
    })
}

/// `value` with every number a float, as after Go's JSON round trip.
fn as_go(value: Value) -> Option<Value> {
    Some(match value {
        Value::Number(n) => Value::Number(Number::from_f64(n.as_f64()?)?),
        Value::Array(items) => Value::Array(items.into_iter().map(as_go).collect::<Option<_>>()?),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Some((k, as_go(v)?)))
                .collect::<Option<_>>()?,
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_and_scalars_are_typed_as_yaml_1_1() {
        let v = parse(
            "on: yes\n\"off\": no\n1.0: a\n0x10: b\noct: 017\nbig: 12345678901234567\nn: x\n",
        )
        .expect("parsed");
        assert_eq!(
            v,
            json!({"true": true, "off": false, "1": "a", "16": "b", "oct": 15.0, "false": "x",
                   "big": 12345678901234568.0})
        );
        assert_eq!(float32_key(1e6), "1e+06");
        assert_eq!(float32_key(0.1), "0.1");
        assert!(parse("~: x\n").is_err());
        assert!(parse("18446744073709551615: x\n").is_err());
        assert_eq!(parse("").expect("empty"), json!({}));
        assert_eq!(
            parse("1__2: a\n1_0.5: b\n0x_10: c\nv: 1__0\n").expect("parsed"),
            json!({"12": "a", "10.5": "b", "16": "c", "v": 10.0})
        );
    }

    /// The full parser's reading of `text`, without the quick path.
    fn full(text: &str) -> Result<Value, strata_core::yaml::YamlError> {
        let read = strata_core::yaml_go::value_from_str::<Option<GoValue>>(text)?;
        Ok(match read {
            None | Some(GoValue(Value::Null)) => Value::Object(Map::new()),
            Some(GoValue(other)) => other,
        })
    }

    fn same_as_full(text: &str) {
        match (parse(text), full(text)) {
            (Ok(quick), Ok(full)) => {
                // Same values, same key order, same number representations.
                assert_eq!(quick, full, "{text:?}");
                assert_eq!(quick.to_string(), full.to_string(), "{text:?}");
            }
            (Err(quick), Err(full)) => assert_eq!(quick.to_string(), full.to_string(), "{text:?}"),
            (quick, full) => panic!("{text:?}: {quick:?} against {full:?}"),
        }
    }

    #[test]
    fn the_quick_path_reads_as_the_full_parser() {
        for text in [
            "a: 1\nb: -2\nc: 1.5\nd: 017\ne: 0\nf: -0\ng: 12345678901234567890123\n",
            "on: yes\nn: [y, No, OFF, ~, null, '', x]\n",
            "image:\n  repository: nginx\n  tag: \"1.25\"\n  pullPolicy: IfNotPresent\n",
            "message: 'first line\nsecond line'\nother: 2\n",
            "a: 1\na: 2\n",
            "a: &x {b: 1}\nc: *x\n",
            "list:\n  - name: a\n    port: 80\n  - {name: b, port: 1e3}\n",
            "# only a comment\n",
            "---\nx: 1\n",
            "x: 1\n---\ny: 2\n",
            "[1, 2]\n",
            "~\n",
            "a: [1\n",
            "0x10: b\n1.0: a\n",
            "v: .inf\nw: 1_000\nz: 0o17\n",
            "tag: 1.2.3\nip: 10.0.0.1\nv: 01.2.03\nw: -1.2.3\n",
        ] {
            same_as_full(text);
        }
    }

    #[test]
    fn the_test_charts_values_files_read_as_with_the_full_parser() {
        fn walk(dir: &std::path::Path, seen: &mut usize) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, seen);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    let text = std::fs::read_to_string(&path).expect("read");
                    same_as_full(&text);
                    *seen += 1;
                }
            }
        }
        let mut seen = 0;
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
            &mut seen,
        );
        assert!(seen > 50, "{seen} files");
    }
}
