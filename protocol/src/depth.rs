//! How deeply a JSON text nests, found without parsing it, so a reader can
//! refuse a document that would exhaust its stack before it decodes it.

/// The deepest nesting of arrays and objects in JSON `text`: `0` for a
/// scalar, `1` for `[]` or `{}`, and so on. Brackets inside strings do not
/// count. Any text gives an answer; for text that is not JSON it is the
/// depth a parser would reach before failing, or more.
pub fn nesting_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use proptest::prelude::*;

    #[test]
    fn counts_brackets_outside_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth("[]"), 1);
        assert_eq!(nesting_depth(r#"{"a": [[1], {"b": "[[[["}]}"#), 3);
        assert_eq!(nesting_depth(r#"["\"[[", "\\", [1]]"#), 2);
        assert_eq!(nesting_depth(&"[".repeat(100_000)), 100_000);
    }

    fn any_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<i32>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(8, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".*", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_the_parsed_depth(value in any_value()) {
            let text = serde_json::to_string(&value).unwrap();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(nesting_depth(&text), parsed.depth());
        }

        #[test]
        fn any_text_gets_an_answer(text in ".*") {
            let _ = nesting_depth(&text);
        }
    }
}
