//! `POST /v1/push`: a batch of outbox events out, a [`PushReply`] back.

use gloo_net::http::Method;
use outbox_sync_protocol::api::PUSH_PATH;
use outbox_sync_protocol::{Event, Op, PushRequest, PushResponse};

use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use super::fetch::{read_reply, send_body, Answer};
use super::json::{describe, to_json_text, MAX_ANSWER_DEPTH};
use super::Endpoint;
use crate::core::drain::PushReply;
use crate::core::event::{Operation, OutboxEvent};
use crate::store::idb_query::{push_answer, push_body};
use crate::store::outgoing::Outgoing;

/// The wire form of an outbox event.
pub fn wire_event(event: &OutboxEvent) -> Event {
    Event {
        event_id: event.event_id.to_string(),
        collection: event.collection.clone(),
        record_id: event.record_id.clone(),
        op: match event.op {
            Operation::Put => Op::Put,
            Operation::Patch => Op::Patch,
            Operation::Delete => Op::Delete,
        },
        base_version: event.base_version,
        payload: event.payload.clone(),
    }
}

/// Pushes `events` in one request and reports what the server answered.
///
/// Never fails: every outcome, including no answer at all, is a
/// [`PushReply`] for [`plan`](crate::core::drain::plan) to act on.
pub async fn push(endpoint: &Endpoint, events: &[OutboxEvent]) -> PushReply {
    push_with(endpoint, events, None).await
}

/// [`push`] of events a take may have left without their payloads
/// ([`OutboxEvent::held_payload_size`]): those are read from `outgoing`,
/// where the take held them, and the body is built in JavaScript from the
/// stored rows, the payloads never converted.
pub async fn push_held(
    endpoint: &Endpoint,
    events: &[OutboxEvent],
    outgoing: &Outgoing,
) -> PushReply {
    push_with(endpoint, events, Some(outgoing)).await
}

async fn push_with(
    endpoint: &Endpoint,
    events: &[OutboxEvent],
    outgoing: Option<&Outgoing>,
) -> PushReply {
    let body = match body_of(events, outgoing) {
        Ok(body) => body,
        // Not reachable with the protocol's types (nor for a held payload,
        // which the take keeps until its push); reported rather than
        // panicking so the events stay queued.
        Err(why) => {
            return PushReply::Malformed(format!("the request could not be encoded: {why}"))
        }
    };
    if endpoint.debug {
        for event in events {
            let line = format!("outbox-sync: pushing event_id={}", event.event_id);
            web_sys::console::debug_1(&line.into());
        }
    }
    let body = Some((body, "application/json"));
    match send_body(endpoint, Method::POST, &endpoint.url(PUSH_PATH), body).await {
        Answer::Response {
            status: 200, body, ..
        } => match body.and_then(|text| read_answer(&text)) {
            Ok(answer) => PushReply::Answer(answer),
            Err(why) => PushReply::Malformed(why),
        },
        other => read_reply(other),
    }
}

/// A push's `200` answer `text` as a [`PushResponse`], parsed in
/// JavaScript without copying the text into wasm; an applied record comes
/// without its `data` (null), which the client never reads: decoding the
/// fields the server echoes back cost as much as the payloads sent.
fn read_answer(text: &JsValue) -> Result<PushResponse, String> {
    let parsed = push_answer(text, MAX_ANSWER_DEPTH as u32)
        .map_err(|e| format!("not JSON: {}", describe(&e)))?;
    let parsed: js_sys::Array = parsed.unchecked_into();
    let (answer, depth) = (parsed.get(0), parsed.get(1).as_f64().unwrap_or_default());
    if answer.is_undefined() {
        return Err(format!(
            "it nests {depth} levels deep, more than the {MAX_ANSWER_DEPTH} this client reads"
        ));
    }
    crate::decode::from_value(answer).map_err(|e| format!("unexpected JSON: {e}"))
}

/// The JSON text of a push of `events`, a JavaScript string.
fn body_of(events: &[OutboxEvent], outgoing: Option<&Outgoing>) -> Result<JsValue, String> {
    if events.iter().all(|e| e.held_payload_size.is_none()) {
        let request = PushRequest {
            events: events.iter().map(wire_event).collect(),
        };
        return to_json_text(&request);
    }
    // One JSON.stringify over the stored rows: held payloads as the take
    // left them, any other event in its wire form.
    let rows = js_sys::Array::new_with_length(events.len() as u32);
    let payloads = js_sys::Array::new_with_length(events.len() as u32);
    for (i, event) in events.iter().enumerate() {
        let (row, payload) = match event.held_payload_size {
            Some(_) => outgoing
                .and_then(|held| held.take(&event.event_id))
                .ok_or_else(|| format!("the payload of event {} was not kept", event.event_id))?,
            None => {
                let serializer = serde_wasm_bindgen::Serializer::json_compatible();
                let row = wire_event(event)
                    .serialize(&serializer)
                    .map_err(|e| e.to_string())?;
                let payload = js_sys::Reflect::get(&row, &"payload".into()).unwrap_or_default();
                (row, payload)
            }
        };
        rows.set(i as u32, row);
        payloads.set(i as u32, payload);
    }
    push_body(&rows, &payloads).map_err(|e| describe(&e))
}
