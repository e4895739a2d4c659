//! JSON text through the JavaScript engine's own `JSON`, so the wasm build
//! needs no `serde_json`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

/// `value` as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    to_json_text(value)?
        .as_string()
        .ok_or_else(|| "JSON.stringify returned no text".to_owned())
}

/// `value` as JSON text that stays a JavaScript string: a request body
/// handed to `fetch` this way is never copied into wasm memory and back
/// (a push of a hundred 1 KB events is 100 KB each way).
pub(crate) fn to_json_text<T: Serialize>(value: &T) -> Result<JsValue, String> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    stringify(value.serialize(&serializer).map_err(|e| e.to_string())?)
}

/// `js` as JSON text. Apart from [`to_json_text`], which is compiled once
/// per type, so that this part is compiled once.
#[inline(never)]
fn stringify(js: JsValue) -> Result<JsValue, String> {
    Ok(js_sys::JSON::stringify(&js)
        .map_err(|e| describe(&e))?
        .into())
}

/// The deepest answer read: the server's payload limit (32) and the
/// envelope fit many times over, and decoding stays far from the end of
/// the wasm stack, which a deeper document could reach and crash the module.
pub(crate) const MAX_ANSWER_DEPTH: usize = 128;

/// JSON `text` read as a `T`; the error says what was wrong, for a
/// `Malformed` reply.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::decode::from_value(parse(text)?).map_err(unexpected)
}

#[inline(never)]
fn unexpected(error: crate::decode::DecodeError) -> String {
    format!("unexpected JSON: {error}")
}

/// `text` parsed by JavaScript's `JSON`, within [`MAX_ANSWER_DEPTH`]. Apart
/// from [`from_json`], which is compiled once per type, so that this part is
/// compiled once.
#[inline(never)]
fn parse(text: &str) -> Result<JsValue, String> {
    let depth = outbox_sync_protocol::nesting_depth(text);
    if depth > MAX_ANSWER_DEPTH {
        return Err(format!(
            "it nests {depth} levels deep, more than the {MAX_ANSWER_DEPTH} this client reads"
        ));
    }
    js_sys::JSON::parse(text).map_err(|e| format!("not JSON: {}", describe(&e)))
}

/// A thrown JavaScript value as a sentence: an `Error`'s message, or the
/// value itself.
pub(crate) fn describe(thrown: &JsValue) -> String {
    match thrown.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => format!("{thrown:?}"),
    }
}
