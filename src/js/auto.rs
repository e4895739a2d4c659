//! `startAutoSync()`: a page that syncs by itself, at the moments that matter.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use super::outbox::Outbox;
use super::run::sync_once;
use crate::core::OutboxStore;
use crate::engine::broadcast::channel_name;
use crate::net::browser_online;
use crate::store::IdbOutbox;
use crate::timer::{clear_timeout, set_timeout};

/// The longest single timer: browsers run longer ones at once.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// How long auto-sync waits after a saved change for the next one before it
/// syncs: a burst of saves goes out together, and no sync work sits between
/// one save and the next.
const AFTER_CHANGE_MS: f64 = 50.0;

/// The longest a change waits for the burst around it to end.
const MAX_AFTER_CHANGE_MS: f64 = 1_000.0;

/// While the browser says it is offline, syncing waits for its `online`
/// event; this slow probe tries anyway now and then, for the setups where
/// `navigator.onLine` stays false on a working network (some Linux VPNs and
/// virtual network adapters).
const OFFLINE_PROBE_MS: u64 = 5 * 60_000;

#[wasm_bindgen]
impl Outbox {
    /// Syncs from this page by itself: now, after every saved change, when
    /// the browser comes back online or the page is shown again (visible,
    /// focused, or back from the back-forward cache): waiting changes are
    /// retried at once then; when waiting changes fall due, and after another
    /// tab or the service worker finished a sync this page could not join.
    /// While `navigator.onLine` is false it makes no attempts (they could only
    /// fail): it waits for `online`, with a probe every 5 minutes in case the
    /// browser is wrong. Returns a function that stops it.
    ///
    /// ```ts
    /// await outbox.connect({ serverUrl, token });
    /// const stop = outbox.startAutoSync();
    /// ```
    #[wasm_bindgen(js_name = startAutoSync, unchecked_return_type = "() => void")]
    pub fn start_auto_sync(&self) -> Result<js_sys::Function, JsValue> {
        let auto = Rc::new(AutoSync {
            store: self.store.clone(),
            running: Cell::new(false),
            again: Cell::new(false),
            locked_out: Cell::new(false),
            stopped: Cell::new(false),
            timer: RefCell::new(None),
            after_change: RefCell::new(None),
        });
        let listeners = Listeners::install(&auto)?;
        auto.kick();
        let stop = Closure::once_into_js(move || {
            auto.stopped.set(true);
            auto.clear_timer();
            if let Some(((id, _), _)) = auto.after_change.borrow_mut().take() {
                clear_timeout(&id);
            }
            listeners.remove();
        });
        Ok(stop.unchecked_into())
    }
}

/// One page's automatic syncing.
struct AutoSync {
    store: Rc<IdbOutbox>,
    /// A sync is running in this page.
    running: Cell<bool>,
    /// Another reason to sync came while one was running.
    again: Cell<bool>,
    /// The last attempt found another context syncing.
    locked_out: Cell<bool>,
    stopped: Cell<bool>,
    /// The timer for waiting changes.
    timer: RefCell<Option<Timer>>,
    /// The timer that syncs once a burst of saved changes ends, with when
    /// the burst began.
    after_change: RefCell<Option<(Timer, f64)>>,
}

/// A pending `setTimeout`: its id, and its handler, kept alive with it.
type Timer = (JsValue, Closure<dyn FnMut()>);

impl AutoSync {
    /// Syncs now, or right after the sync that is running; while the
    /// browser says it is offline, waits for `online` instead.
    fn kick(self: &Rc<Self>) {
        if !browser_online() {
            self.probe_later();
            return;
        }
        self.start();
    }

    /// Offline: no attempt now; one slow probe later (replacing any timer:
    /// waiting changes are not due before the network is back).
    fn probe_later(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        self.clear_timer();
        let this = Rc::downgrade(self);
        let handler = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = this.upgrade() {
                // Not inside this handler: starting clears the timer, which owns it.
                spawn_local(async move { this.start() });
            }
        });
        let id = set_timeout(handler.as_ref().unchecked_ref(), OFFLINE_PROBE_MS as f64);
        *self.timer.borrow_mut() = Some((id, handler));
    }

    /// Syncs now (whatever the browser says), or right after the running sync.
    fn start(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        if self.running.replace(true) {
            self.again.set(true);
            return;
        }
        let this = self.clone();
        spawn_local(async move {
            loop {
                this.again.set(false);
                this.clear_timer();
                // Failures (not connected, storage) are in the status; the
                // next trigger tries again.
                if let Ok(report) = sync_once(this.store.clone()).await {
                    this.locked_out.set(!report.ran && !report.paused);
                    if let Some(at) = report.next_sync_at() {
                        this.wake_at(at);
                    }
                }
                if !this.again.get() || this.stopped.get() {
                    break;
                }
            }
            this.running.set(false);
        });
    }

    /// Syncs once saved changes stop coming for [`AFTER_CHANGE_MS`] (or
    /// [`MAX_AFTER_CHANGE_MS`] after the first of them).
    fn kick_after_change(self: &Rc<Self>) {
        let now = js_sys::Date::now();
        let began = match self.after_change.borrow_mut().take() {
            Some(((id, _handler), began)) => {
                clear_timeout(&id);
                began
            }
            None => now,
        };
        let delay = AFTER_CHANGE_MS.min((began + MAX_AFTER_CHANGE_MS - now).max(0.0));
        let this = Rc::downgrade(self);
        let handler = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = this.upgrade() {
                this.after_change.borrow_mut().take();
                this.kick();
            }
        });
        let id = set_timeout(handler.as_ref().unchecked_ref(), delay);
        *self.after_change.borrow_mut() = Some(((id, handler), began));
    }

    /// Makes every waiting change due now, then syncs: the moments when the
    /// network may be back though no timer says so (`online`; the page shown
    /// or focused again, where a browser without Background Sync may have
    /// sent no `online` while it was in the background).
    fn retry_now_and_kick(self: &Rc<Self>) {
        let this = self.clone();
        spawn_local(async move {
            let _ = this.store.retry_all_now(false).await;
            this.kick();
        });
    }

    fn wake_at(self: &Rc<Self>, at_ms: u64) {
        self.clear_timer();
        // A deadline set before the user corrected a clock that ran ahead
        // lies a day away: it is due now, not in a day.
        let now_ms = js_sys::Date::now().max(0.0) as u64;
        let delay = (self.store.config().clock.wait_ms(at_ms, now_ms) as f64).min(MAX_TIMER_MS);
        let this = Rc::downgrade(self);
        let handler = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = this.upgrade() {
                // Not inside this handler: going offline replaces the timer, which owns it.
                spawn_local(async move { this.kick() });
            }
        });
        let id = set_timeout(handler.as_ref().unchecked_ref(), delay);
        *self.timer.borrow_mut() = Some((id, handler));
    }

    fn clear_timer(&self) {
        if let Some((id, _handler)) = self.timer.borrow_mut().take() {
            clear_timeout(&id);
        }
    }
}

/// The event listeners of one [`AutoSync`], removed together.
struct Listeners {
    global: web_sys::EventTarget,
    document: Option<web_sys::EventTarget>,
    channel: Option<web_sys::BroadcastChannel>,
    on_online: Closure<dyn FnMut()>,
    on_visible: Closure<dyn FnMut()>,
    on_page_show: Closure<dyn FnMut(web_sys::Event)>,
    on_focus: Closure<dyn FnMut()>,
    on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Listeners {
    fn install(auto: &Rc<AutoSync>) -> Result<Self, JsValue> {
        let global: web_sys::EventTarget = js_sys::global().unchecked_into();
        let document = js_sys::Reflect::get(&global, &"document".into())
            .ok()
            .filter(|d| !d.is_undefined())
            .map(|d| d.unchecked_into::<web_sys::EventTarget>());
        let weak = Rc::downgrade(auto);
        let on_online = Closure::<dyn FnMut()>::new(move || {
            if let Some(auto) = weak.upgrade() {
                auto.retry_now_and_kick();
            }
        });
        let weak = Rc::downgrade(auto);
        let doc = document.clone();
        let on_visible = Closure::<dyn FnMut()>::new(move || {
            let visible = doc
                .as_ref()
                .and_then(|d| js_sys::Reflect::get(d, &"visibilityState".into()).ok());
            if visible.and_then(|v| v.as_string()).as_deref() == Some("visible") {
                if let Some(auto) = weak.upgrade() {
                    auto.retry_now_and_kick();
                }
            }
        });
        let weak = Rc::downgrade(auto);
        // A page restored from the back-forward cache: its timers and
        // listeners were frozen meanwhile.
        let on_page_show =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                let restored =
                    js_sys::Reflect::get(&event, &"persisted".into()).unwrap_or_default();
                if restored.is_truthy() {
                    if let Some(auto) = weak.upgrade() {
                        auto.retry_now_and_kick();
                    }
                }
            });
        let weak = Rc::downgrade(auto);
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let Some(auto) = weak.upgrade() else { return };
                let kind = js_sys::Reflect::get(&event.data(), &"type".into())
                    .ok()
                    .and_then(|k| k.as_string());
                match kind.as_deref() {
                    Some("changed") => auto.kick_after_change(),
                    Some("synced") if auto.locked_out.get() => auto.kick(),
                    _ => {}
                }
            },
        );
        let weak = Rc::downgrade(auto);
        // Back to this window (WebKit under test reports every window hidden,
        // so focus is what says the person looks at it again).
        let on_focus = Closure::<dyn FnMut()>::new(move || {
            if let Some(auto) = weak.upgrade() {
                auto.retry_now_and_kick();
            }
        });
        global.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref())?;
        global.add_event_listener_with_callback("focus", on_focus.as_ref().unchecked_ref())?;
        global
            .add_event_listener_with_callback("pageshow", on_page_show.as_ref().unchecked_ref())?;
        if let Some(document) = &document {
            document.add_event_listener_with_callback(
                "visibilitychange",
                on_visible.as_ref().unchecked_ref(),
            )?;
        }
        let channel = web_sys::BroadcastChannel::new(&channel_name(&auto.store.name())).ok();
        if let Some(channel) = &channel {
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        }
        Ok(Listeners {
            global,
            document,
            channel,
            on_online,
            on_visible,
            on_page_show,
            on_focus,
            on_message,
        })
    }

    fn remove(self) {
        let _ = self
            .global
            .remove_event_listener_with_callback("online", self.on_online.as_ref().unchecked_ref());
        let _ = self
            .global
            .remove_event_listener_with_callback("focus", self.on_focus.as_ref().unchecked_ref());
        let on_page_show = self.on_page_show.as_ref().unchecked_ref();
        let _ = self
            .global
            .remove_event_listener_with_callback("pageshow", on_page_show);
        if let Some(document) = &self.document {
            let handler = self.on_visible.as_ref().unchecked_ref();
            let _ = document.remove_event_listener_with_callback("visibilitychange", handler);
        }
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        drop(self.on_message);
    }
}
