//! The settings kept for syncing: one record, read and changed in one
//! transaction each.

use futures::future::join;
use outbox_sync::core::SyncStore;
use outbox_sync::js::settings::Settings;
use outbox_sync::net::Endpoint;
use outbox_sync::store::IdbOutbox;
use wasm_bindgen_test::wasm_bindgen_test;

use super::fresh;

#[wasm_bindgen_test]
async fn settings_saved_one_by_one_by_an_older_version_are_read_then_merged() {
    let (outbox, _) = fresh().await;
    let endpoint = Endpoint::new("https://sync.example.com");
    let text = serde_json_text(&endpoint);
    outbox.set_setting("endpoint", Some(&text)).await.unwrap();
    outbox.set_setting("paused", Some("true")).await.unwrap();
    outbox.set_setting("batch_size", Some("25")).await.unwrap();
    let settings = Settings::load(&outbox).await.unwrap();
    assert_eq!(settings.endpoint.as_ref(), Some(&endpoint));
    assert!(settings.paused);
    assert_eq!(settings.batch_size, Some(25));

    Settings::update(&outbox, |s| s.paused = false)
        .await
        .unwrap();
    for old in ["endpoint", "paused", "batch_size"] {
        assert_eq!(outbox.setting(old).await.unwrap(), None, "{old} merged");
    }
    let settings = Settings::load(&outbox).await.unwrap();
    assert_eq!(
        (
            settings.endpoint.as_ref(),
            settings.paused,
            settings.batch_size
        ),
        (Some(&endpoint), false, Some(25))
    );
}

#[wasm_bindgen_test]
async fn two_contexts_changing_settings_at_once_lose_neither_change() {
    let (outbox, name) = fresh().await;
    let other = IdbOutbox::open(&name, Default::default()).await.unwrap();
    let endpoint = Endpoint::new("/");
    Settings::update(&outbox, |s| s.endpoint = Some(endpoint))
        .await
        .unwrap();
    // A sync run records its state while a page refreshes the token.
    let run = Settings::update(&outbox, |s| {
        s.state
            .record_run(1_000, Some("Sign in again".into()), true, None)
    });
    let page = Settings::update(&other, |s| {
        s.endpoint.as_mut().unwrap().token = Some("fresh".into());
        s.state.credentials_updated();
    });
    let (run, page) = join(run, page).await;
    run.unwrap();
    page.unwrap();
    let settings = Settings::load(&outbox).await.unwrap();
    let token = settings.endpoint.and_then(|e| e.token);
    assert_eq!(token.as_deref(), Some("fresh"), "the page's token is kept");
    assert_eq!(
        settings.state.last_attempt_at,
        Some(1_000),
        "the run is kept"
    );
}

fn serde_json_text(endpoint: &Endpoint) -> String {
    let value = serde_wasm_bindgen::to_value(endpoint).unwrap();
    String::from(js_sys::JSON::stringify(&value).unwrap())
}
