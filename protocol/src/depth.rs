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

    /// Strings full of what could fool a bracket counter: brackets, quotes
    /// and backslashes (serde_json escapes the quotes and backslashes).
    fn tricky_string() -> impl Strategy<Value = String> {
        prop_oneof![".*", "[\\[\\]{}\"\\\\a]{0,12}"]
    }

    fn any_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<i32>().prop_map(serde_json::Value::from),
            tricky_string().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(8, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(tricky_string(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Text that is mostly not JSON: JSON's structural pieces in any order,
    /// often behind a run of open brackets deep enough to reach a parser's
    /// recursion limit (serde_json's is 128).
    fn bracket_soup() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "[", "]", "{", "}", "\"", "\\", "\\\"", "\"[{\"", "1", ",", ":", "\"k\":", " ",
        ]);
        (
            prop_oneof![Just(0usize), 100usize..160],
            prop::collection::vec(piece, 0..300),
        )
            .prop_map(|(deep, pieces)| "[".repeat(deep) + &pieces.concat())
    }

    proptest! {
        #[test]
        fn agrees_with_the_parsed_depth(value in any_value()) {
            let text = serde_json::to_string(&value).unwrap();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(nesting_depth(&text), parsed.depth());
        }

        #[test]
        fn wrapping_a_document_adds_exactly_its_brackets(value in any_value(), n in 0usize..50) {
            let text = serde_json::to_string(&value).unwrap();
            let wrapped = format!("{}{text}{}", "[".repeat(n), "]".repeat(n));
            prop_assert_eq!(nesting_depth(&wrapped), nesting_depth(&text) + n);
        }

        #[test]
        fn a_parser_never_goes_deeper_than_the_answer(text in bracket_soup()) {
            // What readers rely on: a text whose answer is below a parser's
            // recursion limit never hits that limit, whatever else is wrong
            // with it.
            let depth = nesting_depth(&text);
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value) => {
                    let parsed: Value = serde_json::from_value(value).unwrap();
                    prop_assert_eq!(depth, parsed.depth());
                }
                Err(error) if error.to_string().contains("recursion limit") => {
                    prop_assert!(depth >= 128, "the parser went past 128 where the answer was {depth}");
                }
                Err(_) => {}
            }
        }
    }
}
