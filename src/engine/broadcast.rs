//! Tells every page and the service worker of the origin that the outbox
//! changed, over a `BroadcastChannel` named after the database.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::core::RecordKey;
use crate::store::IdbOutbox;

/// Something in this page or worker that follows a database's changes.
pub trait LocalListener {
    /// Called with each message this page or worker posts about the database.
    fn changed(&self, message: &JsValue);
}

/// Listeners of this page or worker, each with the database it follows and
/// the connection it reads through ([`IdbOutbox::connection`]).
type Listeners = RefCell<Vec<(String, usize, Weak<dyn LocalListener>)>>;

thread_local! {
    /// Listeners in this page or worker, by database: they hear its own
    /// changes at once, without the channel's hop through the browser.
    static LOCAL: Listeners = RefCell::default();
    /// Listeners of the other pages' and workers' messages, by database:
    /// they share the poster's channel ([`listen_to_others`]).
    static OTHERS: Listeners = RefCell::default();
    /// The channel this page or worker posts on, per database, opened once:
    /// opening and closing one for each message cost about a millisecond
    /// per write in Chromium.
    static POSTERS: RefCell<Vec<Poster>> = RefCell::default();
}

/// A database's channel in this page or worker, and its message handler
/// once something listens to the others ([`listen_to_others`]).
struct Poster {
    database: String,
    channel: web_sys::BroadcastChannel,
    on_message: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

/// The channel this page or worker posts `database`'s messages on.
fn poster(database: &str) -> Option<web_sys::BroadcastChannel> {
    POSTERS.with(|posters| {
        let mut posters = posters.borrow_mut();
        if let Some(poster) = posters.iter().find(|p| p.database == database) {
            return Some(poster.channel.clone());
        }
        let channel = web_sys::BroadcastChannel::new(&channel_name(database)).ok()?;
        posters.push(Poster {
            database: database.to_owned(),
            channel: channel.clone(),
            on_message: None,
        });
        Some(channel)
    })
}

/// Lets `listener` hear the messages the other pages and workers post
/// about `database`, for as long as it lives. Every listener of this page
/// or worker shares one channel, the one it posts on: a channel never
/// receives its own messages, so this page's are not decoded again for
/// each listener (live queries hear those at once, [`listen_locally`]).
pub fn listen_to_others(database: &str, listener: Weak<dyn LocalListener>) {
    OTHERS.with(|others| {
        let mut others = others.borrow_mut();
        others.retain(|(_, _, l)| l.strong_count() > 0);
        others.push((database.to_owned(), 0, listener));
    });
    let Some(channel) = poster(database) else {
        return;
    };
    POSTERS.with(|posters| {
        let mut posters = posters.borrow_mut();
        let Some(poster) = posters.iter_mut().find(|p| p.database == database) else {
            return;
        };
        if poster.on_message.is_some() {
            return;
        }
        let database = database.to_owned();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let listeners = live_listeners(&OTHERS, &database, None);
                if listeners.is_empty() {
                    return;
                }
                let message = event.data();
                for listener in listeners {
                    listener.changed(&message);
                }
            },
        );
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        poster.on_message = Some(on_message);
    });
}

/// The listeners of `database` in `list` still alive, but those that read
/// through the connection `heard` (which heard the change already).
fn live_listeners(
    list: &'static std::thread::LocalKey<Listeners>,
    database: &str,
    heard: Option<usize>,
) -> Vec<Rc<dyn LocalListener>> {
    list.with(|list| {
        list.borrow()
            .iter()
            .filter(|(name, connection, _)| name == database && Some(*connection) != heard)
            .filter_map(|(_, _, listener)| listener.upgrade())
            .collect()
    })
}

/// Lets `listener`, which reads through `store`, hear this page's or
/// worker's messages about `store`'s database directly, for as long as it
/// lives; but those of changes saved through `store` itself, which it
/// hears before their commit ([`crate::store::WriteListener`],
/// [`announce_saved`]).
pub fn listen_locally(store: &IdbOutbox, listener: Weak<dyn LocalListener>) {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.retain(|(_, _, l)| l.strong_count() > 0);
        local.push((store.name(), store.connection(), listener));
    });
}

/// The channel of the outbox database `database`.
pub fn channel_name(database: &str) -> String {
    format!("outbox-sync:{database}")
}

/// Posts `{ type: kind }` (`"changed"`, `"synced"`) to every listener of
/// `database`'s channel but this one. Best effort: where `BroadcastChannel`
/// is missing, listeners simply refresh less often.
pub fn announce(database: &str, kind: &str) {
    post(database, kind, None, None);
}

/// Posts `{ type: "changed", collections, keys }`: the records changed, as
/// `[collection, recordId]` pairs, so listeners of other collections (live
/// queries) can skip the message.
pub fn announce_changed(database: &str, keys: &[RecordKey]) {
    post(database, "changed", Some(keys), None);
}

/// [`announce_changed`] for changes saved through `store` (`put()` and the
/// other saves): this page's listeners that read through `store` are not
/// called, as they heard the change before its commit
/// ([`crate::store::WriteListener`]) and have read again already.
///
/// Posted from a timer of 0 ms, not at once: the save's promise resolves
/// first and the app goes on, and the message (`postMessage` cost 0.1–0.9
/// ms a save in Chromium, more with a listener in the page such as
/// `startAutoSync()`'s) goes out while the browser works on the app's next
/// request. Saves of one connection waiting together go out as one message;
/// any other message of this page or worker posts the waiting ones first,
/// so they keep their order. Only a page closed (or a worker stopped) in the
/// moment between loses the message, as one closed during the save itself
/// would: the change is saved, the other tabs show it at their next read.
pub fn announce_saved(store: &IdbOutbox, keys: &[RecordKey]) {
    WAITING.with(|waiting| {
        let mut waiting = waiting.borrow_mut();
        if waiting.saved.is_empty() {
            let timer = waiting
                .timer
                .get_or_insert_with(|| Closure::new(post_waiting));
            crate::timer::set_timeout(timer.as_ref().unchecked_ref(), 0.0);
        }
        let (database, connection) = (store.name(), store.connection());
        match waiting.saved.last_mut() {
            Some((d, k, c)) if *d == database && *c == connection => k.extend_from_slice(keys),
            _ => waiting.saved.push((database, keys.to_vec(), connection)),
        }
    });
}

/// Saved changes not announced yet ([`announce_saved`]), and the timer's
/// handler that posts them (made once).
#[derive(Default)]
struct Waiting {
    saved: Vec<(String, Vec<RecordKey>, usize)>,
    timer: Option<Closure<dyn FnMut()>>,
}

thread_local! {
    static WAITING: RefCell<Waiting> = RefCell::default();
}

/// Posts the announcements [`announce_saved`] left waiting, in order.
fn post_waiting() {
    let saved = WAITING.with(|waiting| std::mem::take(&mut waiting.borrow_mut().saved));
    for (database, keys, heard) in saved {
        send(&database, "changed", Some(&keys), Some(heard));
    }
}

fn post(database: &str, kind: &str, keys: Option<&[RecordKey]>, heard: Option<usize>) {
    post_waiting();
    send(database, kind, keys, heard);
}

fn send(database: &str, kind: &str, keys: Option<&[RecordKey]>, heard: Option<usize>) {
    let Some(channel) = poster(database) else {
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
            pairs.push(&js_sys::Array::of2(
                &collection,
                &JsValue::from_str(&key.record_id),
            ));
        }
        let _ = js_sys::Reflect::set(&message, &"collections".into(), &collections);
        let _ = js_sys::Reflect::set(&message, &"keys".into(), &pairs);
    }
    let _ = channel.post_message(&message);
    for listener in live_listeners(&LOCAL, database, heard) {
        listener.changed(&message);
    }
}
