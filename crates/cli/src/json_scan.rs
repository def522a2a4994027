//! Finding where values lie in JSON text without parsing them: the byte range of each value of
//! one member object of the top-level object (the state file's `resources`), for a caller that
//! reads a few of them later.
//!
//! It does not validate: the text must be JSON another reader has already accepted (the state
//! load read the same file, whose identity is checked around both reads). On text that is not
//! JSON it returns `None` or ranges that do not parse, never panics. It skips strings with
//! `memchr` (escapes included) and counts only the brackets of the value's own kind, which in
//! valid JSON balance by themselves outside strings: several times faster than a validating
//! parse of the same text.

use std::ops::Range;

/// The byte range of each value of the member `name` of the top-level object of `text`, in
/// order, when that member is an object; `None` when there is no such member or the text is
/// not shaped as expected.
pub fn member_values(text: &[u8], name: &str) -> Option<Vec<Range<usize>>> {
    let mut at = skip_whitespace(text, 0);
    expect(text, &mut at, b'{')?;
    loop {
        at = skip_whitespace(text, at);
        let key = string_at(text, at)?;
        at = skip_whitespace(text, key.end);
        expect(text, &mut at, b':')?;
        at = skip_whitespace(text, at);
        if text.get(key.start + 1..key.end - 1)? == name.as_bytes() {
            return object_values(text, at);
        }
        at = skip_whitespace(text, value_end(text, at)?);
        expect(text, &mut at, b',')?;
    }
}

/// The byte range of each value of the object starting at `at`.
fn object_values(text: &[u8], mut at: usize) -> Option<Vec<Range<usize>>> {
    expect(text, &mut at, b'{')?;
    let mut values = Vec::new();
    at = skip_whitespace(text, at);
    if text.get(at) == Some(&b'}') {
        return Some(values);
    }
    loop {
        let key = string_at(text, skip_whitespace(text, at))?;
        at = skip_whitespace(text, key.end);
        expect(text, &mut at, b':')?;
        let start = skip_whitespace(text, at);
        let end = value_end(text, start)?;
        values.push(start..end);
        at = skip_whitespace(text, end);
        match text.get(at)? {
            b',' => at += 1,
            b'}' => return Some(values),
            _ => return None,
        }
    }
}

fn expect(text: &[u8], at: &mut usize, byte: u8) -> Option<()> {
    (text.get(*at) == Some(&byte)).then(|| *at += 1)
}

fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while text
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The string starting at `at` (its quotes included).
fn string_at(text: &[u8], at: usize) -> Option<Range<usize>> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let mut from = at + 1;
    loop {
        let found = from + memchr::memchr2(b'"', b'\\', text.get(from..)?)?;
        if text[found] == b'\\' {
            // The escaped character, whatever it is, is not the end.
            from = found + 2;
        } else {
            return Some(at..found + 1);
        }
    }
}

/// Where the value starting at `at` ends (one past its last byte).
fn value_end(text: &[u8], at: usize) -> Option<usize> {
    let (open, close) = match text.get(at)? {
        b'"' => return string_at(text, at).map(|s| s.end),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let rest = text.get(at..)?;
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            return (len > 0).then_some(at + len);
        }
    };
    let mut depth = 0usize;
    let mut from = at;
    loop {
        let found = from + memchr::memchr3(b'"', open, close, text.get(from..)?)?;
        match text[found] {
            b'"' => from = string_at(text, found)?.end,
            b if b == open => {
                depth += 1;
                from = found + 1;
            }
            _ => {
                depth = depth.checked_sub(1)?;
                from = found + 1;
                if depth == 0 {
                    return Some(from);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use serde_json::value::RawValue;

    /// What serde_json finds: the raw text of each value of the member.
    fn oracle(text: &str, name: &str) -> Option<Vec<Range<usize>>> {
        let top: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
        let member = top.get(name)?;
        // Raw values in order, located in the text.
        let raw: indexmap_free::Entries<'_> = serde_json::from_str(member.get()).ok()?;
        let base = text.as_ptr() as usize;
        Some(
            raw.0
                .into_iter()
                .map(|v| {
                    let start = v.get().as_ptr() as usize - base;
                    start..start + v.get().len()
                })
                .collect(),
        )
    }

    mod indexmap_free {
        use serde_json::value::RawValue;

        /// A map's values as raw text, in order (duplicates kept).
        pub struct Entries<'a>(pub Vec<&'a RawValue>);

        impl<'de> serde::Deserialize<'de> for Entries<'de> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl<'de> serde::de::Visitor<'de> for Visit {
                    type Value = Entries<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = Vec::new();
                        while let Some((serde::de::IgnoredAny, v)) = map.next_entry()? {
                            out.push(v);
                        }
                        Ok(Entries(out))
                    }
                }
                d.deserialize_map(Visit)
            }
        }
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            // Strings with the characters a scanner can trip on.
            "[a-z{}\\[\\]\",:\\\\ \n\té]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[a-z{}\"\\\\]{0,4}", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// On any JSON, pretty or compact, the values found are those serde_json finds.
        #[test]
        fn finds_what_a_parser_finds(
            before in proptest::collection::vec(("[a-z\"]{1,6}", json()), 0..3),
            values in proptest::collection::vec(("[a-z/\"\\\\]{0,8}", json()), 0..6),
            after in proptest::collection::vec(("[a-z]{1,6}", json()), 0..3),
            pretty in any::<bool>(),
        ) {
            let mut top = serde_json::Map::new();
            for (k, v) in before {
                if k != "resources" {
                    top.insert(k, v);
                }
            }
            top.insert(
                "resources".into(),
                Value::Object(values.into_iter().collect()),
            );
            for (k, v) in after {
                if k != "resources" {
                    top.insert(k, v);
                }
            }
            let value = Value::Object(top);
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            prop_assert_eq!(
                member_values(text.as_bytes(), "resources"),
                oracle(&text, "resources")
            );
        }

        /// On bytes that are not JSON it does not panic.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = member_values(&bytes, "resources");
        }
    }

    #[test]
    fn a_missing_or_scalar_member_is_none() {
        assert_eq!(member_values(br#"{"a": 1}"#, "resources"), None);
        assert_eq!(member_values(br#"{"resources": 1}"#, "resources"), None);
        assert_eq!(
            member_values(br#"{"resources": {}}"#, "resources"),
            Some(vec![])
        );
    }
}
