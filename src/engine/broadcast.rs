//! Tells every page and the service worker of the origin that the outbox
//! changed, over a `BroadcastChannel` named after the database.

use wasm_bindgen::JsValue;

/// The channel of the outbox database `database`.
pub fn channel_name(database: &str) -> String {
    format!("outbox-sync:{database}")
}

/// Posts `{ type: kind }` (`"changed"`, `"synced"`) to every listener of
/// `database`'s channel but this one. Best effort: where `BroadcastChannel`
/// is missing, listeners simply refresh less often.
pub fn announce(database: &str, kind: &str) {
    let Ok(channel) = web_sys::BroadcastChannel::new(&channel_name(database)) else {
        return;
    };
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"type".into(), &JsValue::from_str(kind));
    let _ = channel.post_message(&message);
    channel.close();
}
