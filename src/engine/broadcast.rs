//! Tells every page and the service worker of the origin that the outbox
//! changed, over a `BroadcastChannel` named after the database.

use wasm_bindgen::JsValue;

use crate::core::RecordKey;

/// The channel of the outbox database `database`.
pub fn channel_name(database: &str) -> String {
    format!("outbox-sync:{database}")
}

/// Posts `{ type: kind }` (`"changed"`, `"synced"`) to every listener of
/// `database`'s channel but this one. Best effort: where `BroadcastChannel`
/// is missing, listeners simply refresh less often.
pub fn announce(database: &str, kind: &str) {
    post(database, kind, None);
}

/// Posts `{ type: "changed", collections, keys }`: the records changed, as
/// `[collection, recordId]` pairs, so listeners of other collections (live
/// queries) can skip the message.
pub fn announce_changed(database: &str, keys: &[RecordKey]) {
    post(database, "changed", Some(keys));
}

fn post(database: &str, kind: &str, keys: Option<&[RecordKey]>) {
    let Ok(channel) = web_sys::BroadcastChannel::new(&channel_name(database)) else {
        return;
    };
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"type".into(), &JsValue::from_str(kind));
    if let Some(keys) = keys {
        let collections = js_sys::Array::new();
        let pairs = js_sys::Array::new();
        for key in keys {
            let collection = JsValue::from_str(&key.collection);
            if !collections.includes(&collection, 0) {
                collections.push(&collection);
            }
            pairs.push(&js_sys::Array::of2(&collection, &JsValue::from_str(&key.record_id)));
        }
        let _ = js_sys::Reflect::set(&message, &"collections".into(), &collections);
        let _ = js_sys::Reflect::set(&message, &"keys".into(), &pairs);
    }
    let _ = channel.post_message(&message);
    channel.close();
}
