//! Many IndexedDB requests in flight at once, answered in order.
//!
//! A request goes out when its future is first polled, and IndexedDB answers
//! a transaction's requests in the order they were made. Polling every
//! future before waiting on any sends them all at once, which saves a round
//! trip per request over awaiting them one by one. (A small stand-in for
//! `futures::future::try_join_all`, whose general machinery costs the wasm
//! build more than it saves here.)

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Runs every future to its end, all in flight together, and returns their
/// outputs in order, or the first error (the others are then dropped).
pub(super) async fn all<F, T, E>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    // The first poll sends every request; later ones resume from the oldest
    // unanswered request and stop at the first still waiting: answers come in
    // order, so the rest cannot be ready yet, and a long batch is not scanned
    // again on every answer.
    let mut first_unanswered = 0;
    let mut sent = false;
    poll_fn(move |cx| {
        for index in first_unanswered..pending.len() {
            if outputs[index].is_some() {
                continue;
            }
            match pending[index].as_mut().poll(cx) {
                Poll::Ready(Ok(value)) => outputs[index] = Some(value),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending if sent => break,
                Poll::Pending => {}
            }
        }
        sent = true;
        while first_unanswered < outputs.len() && outputs[first_unanswered].is_some() {
            first_unanswered += 1;
        }
        if first_unanswered < outputs.len() {
            return Poll::Pending;
        }
        Poll::Ready(Ok(outputs
            .iter_mut()
            .map(|output| output.take().expect("every future finished"))
            .collect()))
    })
    .await
}
