//! The engine's browser adapters: `fetch` as the transport, the device clock,
//! and Web Locks so that one drainer runs at a time across every tab and the
//! service worker of an origin.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::{Environment, Transport};
use crate::core::drain::PushReply;
use crate::core::pull::PullReply;
use crate::core::OutboxEvent;
use crate::net::{self, Endpoint};
use crate::store::outgoing::Outgoing;

/// Pushes and pulls through the global `fetch`.
#[derive(Debug, Clone)]
pub struct FetchTransport {
    /// Where the server is, with the current credentials.
    pub endpoint: Endpoint,
    /// Where the store holds the payloads of the batches it took, when the
    /// drain asked it to ([`IdbOutbox::hold_payloads`](crate::store::IdbOutbox::hold_payloads)).
    pub outgoing: Option<Rc<Outgoing>>,
}

impl Transport for FetchTransport {
    async fn push(&self, events: &[OutboxEvent]) -> PushReply {
        match &self.outgoing {
            Some(outgoing) => net::push_held(&self.endpoint, events, outgoing).await,
            None => net::push(&self.endpoint, events).await,
        }
    }

    async fn pull(&self, since: Option<&str>, limit: u32) -> PullReply {
        net::pull(&self.endpoint, since, limit).await
    }
}

/// `Date.now()` and `Math.random()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserEnv;

impl Environment for BrowserEnv {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    fn log(&self, line: &str) {
        web_sys::console::debug_1(&line.into());
    }
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (Web Locks), in windows and workers alike.
    type LockManager;

    #[wasm_bindgen(method, catch)]
    fn request(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &js_sys::Function,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Runs `work` while holding the Web Lock `name`, if no one else holds it.
///
/// Returns `None` without running `work` when another tab or the service
/// worker holds the lock: it is draining already. Where Web Locks are
/// missing (old browsers), `work` runs at once; IndexedDB's leases still keep
/// two drainers from sending the same event.
pub async fn run_exclusive<T, E, F>(name: &str, work: F) -> Result<Option<T>, E>
where
    T: 'static,
    E: From<JsValue> + 'static,
    F: Future<Output = Result<T, E>> + 'static,
{
    let Some(locks) = lock_manager() else {
        return work.await.map(Some);
    };
    let result: Rc<RefCell<Option<Result<T, E>>>> = Rc::default();
    let slot = result.clone();
    let work = RefCell::new(Some(work));
    // The lock is held until the promise the callback returns settles; the
    // work's own result, error included, travels in `slot`.
    let callback = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |lock: JsValue| {
        match work.borrow_mut().take() {
            Some(work) if !lock.is_null() => {
                let slot = slot.clone();
                future_to_promise(async move {
                    *slot.borrow_mut() = Some(work.await);
                    Ok(JsValue::UNDEFINED)
                })
            }
            _ => js_sys::Promise::resolve(&JsValue::UNDEFINED),
        }
    });
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)?;
    let promise = locks.request(name, &options, callback.as_ref().unchecked_ref())?;
    JsFuture::from(promise).await?;
    drop(callback);
    let ran = result.borrow_mut().take();
    ran.transpose()
}

/// Whether this context has Web Locks, so [`run_exclusive`] really excludes.
pub fn has_web_locks() -> bool {
    lock_manager().is_some()
}

fn lock_manager() -> Option<LockManager> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = js_sys::Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}
