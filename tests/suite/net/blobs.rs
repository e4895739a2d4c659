//! Files in record fields, through the JavaScript API: stored natively as
//! `Blob`s with their change, uploaded in chunks before the change is
//! pushed, resumed from the server's offset after a lost answer, and intact
//! on the server.

use gloo_net::http::Request;
use js_sys::{Array, Object, Reflect, Uint8Array};
use outbox_sync::core::{EventState, OutboxStore, StoreConfig};
use outbox_sync::js::Outbox;
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::blob::UploadStatus;
use outbox_sync_protocol::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{reset_faults, server, set_faults, TOKEN};
use crate::suite::db_name;

/// SHA-256 of "abc".
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const MIB: usize = 1024 * 1024;

fn blob_of(bytes: &[u8], media_type: &str) -> web_sys::Blob {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).unwrap()
}

async fn bytes_of(blob: &JsValue) -> Vec<u8> {
    let blob: &web_sys::Blob = blob.dyn_ref().expect("a Blob");
    let buffer = JsFuture::from(blob.array_buffer()).await.unwrap();
    Uint8Array::new(&buffer).to_vec()
}

/// Bytes no test repeats (so the server holds no earlier upload of them).
fn unique_bytes(len: usize) -> Vec<u8> {
    let seed = uuid::Uuid::now_v7().as_u128();
    (0..len)
        .map(|i| ((seed >> ((i % 16) * 8)) as u8) ^ (i as u8) ^ ((i >> 11) as u8))
        .collect()
}

async fn sha256_hex(bytes: &[u8]) -> String {
    let subtle = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    let subtle = Reflect::get(&subtle, &"subtle".into()).unwrap();
    let digest: js_sys::Function = Reflect::get(&subtle, &"digest".into())
        .unwrap()
        .unchecked_into();
    let promise: js_sys::Promise = digest
        .call2(&subtle, &"SHA-256".into(), &Uint8Array::from(bytes))
        .unwrap()
        .unchecked_into();
    let hash = JsFuture::from(promise).await.unwrap();
    Uint8Array::new(&hash)
        .to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in pairs {
        Reflect::set(&object, &(*key).into(), value).unwrap();
    }
    object.into()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

async fn run(promise: js_sys::Promise) -> JsValue {
    match JsFuture::from(promise).await {
        Ok(value) => value,
        Err(error) => panic!(
            "the call failed: {error:?} (detail: {:?})",
            Reflect::get(&error, &"detail".into()).unwrap_or_default()
        ),
    }
}

/// The first result `watch(collection)` calls back with (every record of
/// it); the watch is stopped once it came.
async fn first_watched(outbox: &Outbox, collection: &str) -> JsValue {
    let mut resolve = None;
    let delivered = js_sys::Promise::new(&mut |ok, _| resolve = Some(ok));
    let resolve = resolve.unwrap();
    let callback = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue)>::new(move |result| {
        let _ = resolve.call1(&JsValue::NULL, &result);
    });
    let stop = outbox
        .watch(
            collection.into(),
            JsValue::UNDEFINED,
            callback
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
            None,
        )
        .unwrap();
    let watched = JsFuture::from(delivered).await.unwrap();
    stop.call0(&JsValue::NULL).unwrap();
    watched
}

/// A reference to a file that neither this device nor the server holds.
fn unknown_file_reference() -> JsValue {
    object(&[(
        "$blob",
        object(&[("sha256", "0".repeat(64).into()), ("size", 1.into())]),
    )])
}

async fn open(name: &str) -> Outbox {
    Outbox::open(name.into(), JsValue::UNDEFINED)
        .await
        .expect("the outbox opens")
}

async fn connected(name: &str) -> Outbox {
    let outbox = open(name).await;
    let options = object(&[
        ("serverUrl", server().into()),
        ("token", TOKEN.into()),
        ("debug", true.into()),
    ]);
    run(outbox.connect(options)).await;
    outbox
}

/// The first queued-or-later event's payload field `field`, as stored.
async fn stored_field(name: &str, field: &str) -> Value {
    let store = IdbOutbox::open(name, StoreConfig::default()).await.unwrap();
    let events = store.unsent(10).await.unwrap();
    store.close();
    match &events[0].payload {
        Value::Object(map) => map[field].clone(),
        other => panic!("a payload object, got {other:?}"),
    }
}

async fn server_status(sha256: &str) -> UploadStatus {
    let url = format!("{}/v1/blobs/{sha256}/upload", server());
    let response = Request::get(&url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    serde_wasm_bindgen::from_value(js_sys::JSON::parse(&text).unwrap()).unwrap()
}

async fn server_bytes(sha256: &str) -> Vec<u8> {
    let url = format!("{}/v1/blobs/{sha256}", server());
    let response = Request::get(&url)
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the server has the file");
    response.binary().await.unwrap()
}

fn collection() -> String {
    super::fresh_collection()
}

#[wasm_bindgen_test]
async fn a_file_in_a_field_is_stored_as_a_blob_and_read_back_through_its_reference() {
    let name = db_name();
    let outbox = open(&name).await;
    let photo = blob_of(b"abc", "image/jpeg");
    let fields = object(&[("title", "Pump 3".into()), ("photo", photo.into())]);
    run(outbox.put("notes".into(), "n1".into(), fields)).await;

    // The change holds the protocol's reference, never the bytes.
    let reference = stored_field(&name, "photo").await;
    let Value::Object(outer) = &reference else {
        panic!("a reference object: {reference:?}")
    };
    let Value::Object(inner) = &outer["$blob"] else {
        panic!("$blob: {reference:?}")
    };
    assert_eq!(inner["sha256"], Value::from(ABC_SHA256));
    assert_eq!(inner["size"], Value::from(3.0));
    assert_eq!(inner["type"], Value::from("image/jpeg"));
    // The file itself is a Blob in IndexedDB (structured clone), queued.
    let store = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let stored = store.blob(ABC_SHA256).await.unwrap().expect("stored");
    assert_eq!(bytes_of(&stored.blob.clone().into()).await, b"abc");
    assert_eq!(stored.state.as_str(), "queued");
    let progress = store.upload_progress().await.unwrap();
    assert_eq!((progress.total, progress.sent), (3, 0));
    store.close();

    // get() gives a reference object with the file's state and blob().
    let record = run(outbox.get("notes".into(), "n1".into())).await;
    let photo = get(&get(&record, "fields"), "photo");
    assert_eq!(get(&photo, "sha256"), JsValue::from(ABC_SHA256));
    assert_eq!(get(&photo, "size"), JsValue::from(3.0));
    assert_eq!(get(&photo, "type"), JsValue::from("image/jpeg"));
    assert_eq!(get(&photo, "state"), JsValue::from("queued"));
    let blob_fn: js_sys::Function = get(&photo, "blob").unchecked_into();
    let blob = run(blob_fn.call0(&photo).unwrap().unchecked_into()).await;
    assert_eq!(bytes_of(&blob).await, b"abc");
    let json = js_sys::JSON::stringify(&photo).unwrap();
    assert!(String::from(json).contains(ABC_SHA256));

    // Saving the record back keeps the same reference (and one stored file).
    let fields = object(&[("title", "Pump 3 fixed".into()), ("photo", photo)]);
    run(outbox.put("notes".into(), "n1".into(), fields)).await;
    let listed = run(outbox.list("notes".into(), None)).await;
    let listed = Array::from(&listed).get(0);
    let photo = get(&get(&listed, "fields"), "photo");
    assert_eq!(get(&photo, "sha256"), JsValue::from(ABC_SHA256));
    // query() and watch() give handles too (they skip the walk for files
    // only when the result's JSON names none).
    let page = run(outbox.query("notes".into(), JsValue::UNDEFINED)).await;
    let queried = Array::from(&get(&page, "records")).get(0);
    let photo = get(&get(&queried, "fields"), "photo");
    assert_eq!(get(&photo, "sha256"), JsValue::from(ABC_SHA256));
    assert!(
        get(&photo, "blob").is_function(),
        "a handle, not the stored reference"
    );
    let watched = first_watched(&outbox, "notes").await;
    let watched = Array::from(&get(&watched, "records")).get(0);
    let photo = get(&get(&watched, "fields"), "photo");
    assert_eq!(get(&photo, "state"), JsValue::from("queued"));
    assert!(get(&photo, "blob").is_function());
    // Each pending change lists its files; a change without files has none.
    run(outbox.put(
        "notes".into(),
        "n2".into(),
        object(&[("title", "No photo".into())]),
    ))
    .await;
    let changes = Array::from(&run(outbox.pending_changes(None)).await);
    assert_eq!(changes.length(), 3);
    for i in 0..2 {
        let files = get(&changes.get(i), "files");
        assert_eq!(get(&files, "count"), JsValue::from(1.0));
        assert_eq!(get(&files, "bytes"), JsValue::from(3.0));
        assert_eq!(get(&files, "sentBytes"), JsValue::from(0.0));
    }
    assert!(get(&changes.get(2), "files").is_undefined());
    let status = run(outbox.status()).await;
    assert_eq!(get(&status, "uploadingBytes"), JsValue::from(3.0));
    assert_eq!(get(&status, "uploadedBytes"), JsValue::from(0.0));
    assert_eq!(
        get(&status, "uploadMessage"),
        JsValue::from("Sending a file… 0 %")
    );
    // How much of the device's quota is used, and whether it is persisted.
    // (`null` where the browser has no `navigator.storage.estimate`, as WebKitGTK.)
    let storage = get(&status, "storage");
    let manager = get(&get(&js_sys::global(), "navigator"), "storage");
    let has_estimate = manager.is_object() && get(&manager, "estimate").is_function();
    let usage = get(&storage, "usage");
    let quota = get(&storage, "quota");
    if has_estimate {
        assert!(usage.as_f64().is_some_and(|b| b >= 0.0), "{usage:?}");
        assert!(quota.as_f64().is_some_and(|b| b > 0.0), "{quota:?}");
    } else {
        assert!(usage.is_null() && quota.is_null());
    }
    let persisted = get(&storage, "persisted");
    assert!(persisted.as_bool().is_some() || persisted.is_null());
    outbox.close();
}

#[wasm_bindgen_test]
async fn a_change_is_pushed_after_its_file_and_the_file_is_intact_on_the_server() {
    let name = db_name();
    let outbox = connected(&name).await;
    let collection = collection();
    let bytes = unique_bytes(2 * MIB + 12_345);
    let sha256 = sha256_hex(&bytes).await;
    let fields = object(&[("photo", blob_of(&bytes, "video/mp4").into())]);
    run(outbox.put(collection.as_str().into(), "v1".into(), fields)).await;

    let report = run(outbox.sync_now()).await;
    assert_eq!(
        get(&report, "synced"),
        JsValue::from(1.0),
        "pushed once the file was complete"
    );
    assert_eq!(get(&report, "filesSent"), JsValue::from(1.0));
    assert_eq!(
        get(&report, "uploadedBytes"),
        JsValue::from(bytes.len() as f64)
    );
    let status = server_status(&sha256).await;
    assert!(status.complete);
    assert_eq!(server_bytes(&sha256).await, bytes, "intact, by its SHA-256");
    let record = run(outbox.get(collection.as_str().into(), "v1".into())).await;
    assert_eq!(get(&record, "state"), JsValue::from("synced"));
    let photo = get(&get(&record, "fields"), "photo");
    assert_eq!(get(&photo, "state"), JsValue::from("synced"));
    let status = run(outbox.status()).await;
    assert_eq!(get(&status, "uploadingBytes"), JsValue::from(0.0));
    assert!(get(&status, "uploadMessage").is_null());
    outbox.close();
}

#[wasm_bindgen_test]
async fn a_lost_chunk_answer_keeps_the_change_queued_and_the_upload_resumes_from_the_servers_offset(
) {
    let name = db_name();
    let outbox = connected(&name).await;
    let collection = collection();
    let bytes = unique_bytes(3 * MIB);
    let sha256 = sha256_hex(&bytes).await;
    let fields = object(&[("photo", blob_of(&bytes, "image/jpeg").into())]);
    run(outbox.put(collection.as_str().into(), "p1".into(), fields)).await;

    // The first chunk is stored, its answer lost (a gateway fails; a
    // broken connection is retried by the browser itself, PUT being
    // idempotent, and the retry follows the server's 409).
    set_faults(r#"{"drop_next": 1, "drop_mode": "bad_gateway"}"#).await;
    let report = run(outbox.sync_now()).await;
    reset_faults().await;
    assert_eq!(get(&report, "synced"), JsValue::from(0.0));
    assert_eq!(get(&report, "filesSent"), JsValue::from(0.0));
    assert_eq!(server_status(&sha256).await.offset, MIB as u64);
    // The change was not pushed as failed: it waits for its file.
    let store = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let waiting = store.unsent(10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].state, EventState::Queued);
    store.close();

    run(outbox.retry_now(None)).await;
    let report = run(outbox.sync_now()).await;
    assert_eq!(get(&report, "synced"), JsValue::from(1.0));
    assert_eq!(
        get(&report, "uploadedBytes"),
        JsValue::from((2 * MIB) as f64),
        "only the chunks the server lacked were sent"
    );
    assert_eq!(server_bytes(&sha256).await, bytes);
    outbox.close();
}

#[wasm_bindgen_test]
async fn a_change_pushed_while_its_file_cannot_be_sent_waits_instead_of_failing() {
    let name = db_name();
    let outbox = connected(&name).await;
    let collection = collection();
    let bytes = unique_bytes(10_000);
    let fields = object(&[("photo", blob_of(&bytes, "").into())]);
    run(outbox.put(collection.as_str().into(), "w1".into(), fields)).await;
    // The server refuses the upload's first question (busy); the push goes
    // through and the server answers blob_missing.
    set_faults(r#"{"fail_next": 1, "fail_status": 500}"#).await;
    let report = run(outbox.sync_now()).await;
    reset_faults().await;
    assert_eq!(get(&report, "synced"), JsValue::from(0.0));
    assert_eq!(get(&report, "failed"), JsValue::from(0.0));
    let changes = run(outbox.pending_changes(None)).await;
    let change = Array::from(&changes).get(0);
    assert_eq!(get(&change, "state"), JsValue::from("queued"));
    let reason = get(&change, "lastError").as_string().unwrap();
    assert!(reason.contains("file"), "{reason}");
    assert!(
        !reason.contains("blob_missing"),
        "no codes for people: {reason}"
    );
    assert!(get(&change, "canRetry").as_bool().unwrap());

    run(outbox.retry_now(None)).await;
    let report = run(outbox.sync_now()).await;
    assert_eq!(get(&report, "synced"), JsValue::from(1.0));
    outbox.close();
}

async fn blob_of_ref(photo: &JsValue) -> Result<JsValue, JsValue> {
    let blob_fn: js_sys::Function = get(photo, "blob").unchecked_into();
    JsFuture::from(
        blob_fn
            .call0(photo)
            .unwrap()
            .unchecked_into::<js_sys::Promise>(),
    )
    .await
}

#[wasm_bindgen_test]
async fn another_device_downloads_a_file_on_demand_and_keeps_it() {
    let (phone, tablet) = (db_name(), db_name());
    let collection = collection();
    let bytes = unique_bytes(MIB + 5);
    let sha256 = sha256_hex(&bytes).await;
    let a = connected(&phone).await;
    let fields = object(&[("photo", blob_of(&bytes, "image/png").into())]);
    run(a.put(collection.as_str().into(), "d1".into(), fields)).await;
    assert_eq!(get(&run(a.sync_now()).await, "synced"), JsValue::from(1.0));
    a.close();

    let b = connected(&tablet).await;
    run(b.sync_now()).await;
    let record = run(b.get(collection.as_str().into(), "d1".into())).await;
    let photo = get(&get(&record, "fields"), "photo");
    assert_eq!(get(&photo, "state"), JsValue::from("synced"));
    let store = IdbOutbox::open(&tablet, StoreConfig::default())
        .await
        .unwrap();
    assert!(
        store.blob(&sha256).await.unwrap().is_none(),
        "not here before it is asked for"
    );
    let blob = blob_of_ref(&photo).await.expect("downloaded");
    assert_eq!(bytes_of(&blob).await, bytes);
    assert_eq!(get(&blob, "type"), JsValue::from("image/png"));
    let kept = store
        .blob(&sha256)
        .await
        .unwrap()
        .expect("kept on this device");
    assert_eq!(kept.state.as_str(), "synced");
    let status = run(b.status()).await;
    assert_eq!(
        get(&status, "uploadingBytes"),
        JsValue::from(0.0),
        "nothing to send back"
    );
    store.close();
    b.close();
}

#[wasm_bindgen_test]
async fn a_file_that_cannot_be_downloaded_is_a_clear_error() {
    let name = db_name();
    let outbox = open(&name).await;
    let reference = unknown_file_reference();
    run(outbox.put("notes".into(), "r1".into(), object(&[("photo", reference)]))).await;
    let record = run(outbox.get("notes".into(), "r1".into())).await;
    let photo = get(&get(&record, "fields"), "photo");
    let error = blob_of_ref(&photo).await.expect_err("no server, no file");
    assert_eq!(get(&error, "code"), JsValue::from("blob_unavailable"));
    let message = get(&error, "message").as_string().unwrap();
    assert!(message.contains("another device"), "{message}");
    outbox.close();
}

/// Resolves after `ms` milliseconds: two reads a few ms apart have distinct
/// "last used" times (the clock counts whole milliseconds).
async fn tick(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function = Reflect::get(&js_sys::global(), &"setTimeout".into())
            .unwrap()
            .unchecked_into();
        set_timeout
            .call2(&JsValue::NULL, &resolve, &JsValue::from(ms))
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Opens the outbox `name` with `fileCacheBytes: cap`, connected.
async fn connected_with_cap(name: &str, cap: f64) -> Outbox {
    let options = object(&[("fileCacheBytes", cap.into())]);
    let outbox = Outbox::open(name.into(), options)
        .await
        .expect("the outbox opens");
    let connection = object(&[("serverUrl", server().into()), ("token", TOKEN.into())]);
    run(outbox.connect(connection)).await;
    outbox
}

/// Which of `hashes` this device holds a copy of.
async fn held(name: &str, hashes: &[&str]) -> Vec<bool> {
    let store = IdbOutbox::open(name, StoreConfig::default()).await.unwrap();
    let owned: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
    let found = store.blobs_of(&owned).await.unwrap();
    store.close();
    found.iter().map(Option::is_some).collect()
}

/// The photo field of record `id` as read now (a `BlobRef`).
async fn photo_of(outbox: &Outbox, collection: &str, id: &str) -> JsValue {
    let record = run(outbox.get(collection.into(), id.into())).await;
    get(&get(&record, "fields"), "photo")
}

#[wasm_bindgen_test]
async fn downloaded_copies_past_the_cap_go_least_recently_used_first_and_a_file_not_yet_sent_stays()
{
    let (phone, tablet) = (db_name(), db_name());
    let collection = collection();
    let size = MIB;
    let (mut files, mut hashes) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let bytes = unique_bytes(size);
        hashes.push(sha256_hex(&bytes).await);
        files.push(bytes);
    }
    let a = connected(&phone).await;
    for (n, bytes) in files.iter().enumerate() {
        let fields = object(&[("photo", blob_of(bytes, "image/png").into())]);
        run(a.put(collection.as_str().into(), format!("c{n}").into(), fields)).await;
    }
    assert_eq!(get(&run(a.sync_now()).await, "synced"), JsValue::from(3.0));
    a.close();

    // Room for three files: the tablet's own photo (not sent yet) and two copies.
    let b = connected_with_cap(&tablet, (3 * size) as f64).await;
    run(b.sync_now()).await;
    let mine = unique_bytes(size);
    let mine_sha256 = sha256_hex(&mine).await;
    let fields = object(&[("photo", blob_of(&mine, "image/png").into())]);
    run(b.put(collection.as_str().into(), "mine".into(), fields)).await;
    for n in [0, 1] {
        let blob = blob_of_ref(&photo_of(&b, &collection, &format!("c{n}")).await)
            .await
            .expect("downloaded");
        assert_eq!(bytes_of(&blob).await, files[n]);
        tick(3).await;
    }
    // c0 read again (from this device): c1 is now the least recently used.
    let again = blob_of_ref(&photo_of(&b, &collection, "c0").await)
        .await
        .unwrap();
    assert_eq!(bytes_of(&again).await, files[0]);
    tick(3).await;
    let third = blob_of_ref(&photo_of(&b, &collection, "c2").await)
        .await
        .unwrap();
    assert_eq!(
        bytes_of(&third).await,
        files[2],
        "the copy over the cap is handed back whole"
    );
    let all = [
        hashes[0].as_str(),
        hashes[1].as_str(),
        hashes[2].as_str(),
        mine_sha256.as_str(),
    ];
    assert_eq!(
        held(&tablet, &all).await,
        [true, false, true, true],
        "c1, least recently used, went; the unsent photo stayed"
    );
    // Gone from the device, still readable: downloaded again.
    let back = blob_of_ref(&photo_of(&b, &collection, "c1").await)
        .await
        .unwrap();
    assert_eq!(bytes_of(&back).await, files[1]);
    assert_eq!(held(&tablet, &all).await, [false, true, true, true]);
    b.close();

    // The cap is saved: opened without it (as the service worker does), the
    // outbox keeps it. Cap 0: every copy the server holds goes, the unsent one stays.
    let c = connected_with_cap(&tablet, 0.0).await;
    c.close();
    let d = open(&tablet).await;
    let blob = blob_of_ref(&photo_of(&d, &collection, "c0").await)
        .await
        .unwrap();
    assert_eq!(bytes_of(&blob).await, files[0]);
    assert_eq!(held(&tablet, &all).await, [false, false, false, true]);
    let status = run(d.status()).await;
    assert_eq!(
        get(&status, "uploadingBytes"),
        JsValue::from(size as f64),
        "the unsent photo is still to send"
    );
    d.close();
}

#[wasm_bindgen_test]
async fn files_made_here_are_removed_once_synced_when_past_the_cap_and_read_back_from_the_server() {
    let name = db_name();
    let collection = collection();
    let size = MIB + 5;
    let (mut files, mut hashes) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let bytes = unique_bytes(size);
        hashes.push(sha256_hex(&bytes).await);
        files.push(bytes);
    }
    for bad in [
        JsValue::from(-1.0),
        JsValue::from(1.5),
        JsValue::from("1 GB"),
    ] {
        let options = object(&[("fileCacheBytes", bad)]);
        let error = Outbox::open(name.as_str().into(), options)
            .await
            .err()
            .expect("a cap that is not a whole number of bytes is refused");
        assert_eq!(get(&error, "code"), JsValue::from("invalid_argument"));
    }
    // Room for one and a half files.
    let outbox = connected_with_cap(&name, (3 * MIB / 2) as f64).await;
    for (n, bytes) in files.iter().enumerate() {
        let fields = object(&[("photo", blob_of(bytes, "image/png").into())]);
        run(outbox.put(collection.as_str().into(), format!("m{n}").into(), fields)).await;
        tick(3).await;
    }
    let all = [hashes[0].as_str(), hashes[1].as_str(), hashes[2].as_str()];
    // Over the cap while not sent: nothing may go.
    let store = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(
        store.evict_blobs(0).await.unwrap(),
        0,
        "files not yet sent stay"
    );
    store.close();
    assert_eq!(held(&name, &all).await, [true, true, true]);

    let report = run(outbox.sync_now()).await;
    assert_eq!(get(&report, "filesSent"), JsValue::from(3.0));
    // Back near the baseline: one file's bytes kept (the newest), not three.
    assert_eq!(held(&name, &all).await, [false, false, true]);
    for (n, hash) in hashes.iter().enumerate() {
        assert_eq!(server_bytes(hash).await, files[n], "the server holds m{n}");
    }
    let photo = photo_of(&outbox, &collection, "m0").await;
    assert_eq!(get(&photo, "state"), JsValue::from("synced"));
    let back = blob_of_ref(&photo).await.expect("downloaded again");
    assert_eq!(bytes_of(&back).await, files[0]);
    outbox.close();
}

#[wasm_bindgen_test]
async fn queries_and_live_queries_give_files_as_handles_and_other_objects_as_stored() {
    let name = db_name();
    let outbox = open(&name).await;
    let reference = unknown_file_reference();
    run(outbox.put("notes".into(), "r1".into(), object(&[("photo", reference)]))).await;
    let place = object(&[
        ("lat", 1.5.into()),
        ("tags", Array::of1(&"yard".into()).into()),
    ]);
    run(outbox.put("notes".into(), "r2".into(), object(&[("place", place)]))).await;
    run(outbox.put(
        "notes".into(),
        "r3".into(),
        object(&[("title", "plain".into())]),
    ))
    .await;
    let check = |page: &JsValue| {
        let records: Array = get(page, "records").unchecked_into();
        assert_eq!(records.length(), 3);
        let fields = |i: u32| get(&records.get(i), "fields");
        assert!(
            get(&get(&fields(0), "photo"), "blob").is_function(),
            "a file is a handle"
        );
        let place = get(&fields(1), "place");
        assert_eq!(get(&place, "lat"), JsValue::from(1.5));
        assert!(
            get(&place, "blob").is_undefined(),
            "an object stays as stored"
        );
        assert_eq!(get(&fields(2), "title"), JsValue::from("plain"));
    };
    let page = run(outbox.query("notes".into(), JsValue::UNDEFINED)).await;
    check(&page);
    // Only records of plain fields: no file to look for.
    let plain = object(&[("$id", "r3".into())]);
    let page = run(outbox.query("notes".into(), object(&[("where", plain)]))).await;
    let records: Array = get(&page, "records").unchecked_into();
    assert_eq!(
        get(&get(&records.get(0), "fields"), "title"),
        JsValue::from("plain")
    );
    check(&first_watched(&outbox, "notes").await);
    outbox.close();
}
