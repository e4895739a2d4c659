//! `POST /v1/push`: a batch of outbox events out, a [`PushReply`] back.

use gloo_net::http::Method;
use outbox_sync_protocol::api::PUSH_PATH;
use outbox_sync_protocol::{Event, Op, PushRequest};

use super::fetch::{read_reply, send_body};
use super::json::to_json_text;
use super::Endpoint;
use crate::core::drain::PushReply;
use crate::core::event::{Operation, OutboxEvent};

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
    let request = PushRequest {
        events: events.iter().map(wire_event).collect(),
    };
    let body = match to_json_text(&request) {
        Ok(body) => body,
        // Not reachable with the protocol's types; reported rather than
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
    read_reply(send_body(endpoint, Method::POST, &endpoint.url(PUSH_PATH), body).await)
}
