//! Server-sent events: the engine's events turned into an endpoint's SSE events by a
//! converter, on a task that stops (and so cancels the engine's work) when the client
//! goes away.

use crate::engine::Event;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use tokio::sync::mpsc;

/// What the converter sees.
#[derive(Debug)]
pub(crate) enum Item {
    /// An engine event.
    Engine(Event),
    /// Every choice is done: the closing events.
    End,
}

/// What the converter answers.
pub(crate) struct Out {
    pub events: Vec<SseEvent>,
    /// No more events after these (the request failed).
    pub last: bool,
}

impl Out {
    pub fn more(events: Vec<SseEvent>) -> Self {
        Out {
            events,
            last: false,
        }
    }

    pub fn last(events: Vec<SseEvent>) -> Self {
        Out { events, last: true }
    }
}

/// Streams `opening`, then `events` of `choices` choices through `convert`.
pub(crate) fn sse(
    mut events: mpsc::UnboundedReceiver<Event>,
    choices: usize,
    opening: Vec<SseEvent>,
    mut convert: impl FnMut(Item) -> Out + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(64);
    tokio::spawn(async move {
        for e in opening {
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
        let mut open = choices;
        loop {
            let event = tokio::select! {
                _ = tx.closed() => return,
                e = events.recv() => e,
            };
            let Some(event) = event else {
                let lost = crate::error::ApiError::internal("the engine stopped mid-stream");
                let out = convert(Item::Engine(Event::Failed {
                    choice: 0,
                    error: lost,
                }));
                for e in out.events {
                    let _ = tx.send(Ok(e)).await;
                }
                return;
            };
            if matches!(event, Event::Done { .. }) {
                open = open.saturating_sub(1);
            }
            let out = convert(Item::Engine(event));
            for e in out.events {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            if out.last {
                return;
            }
            if open == 0 {
                for e in convert(Item::End).events {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
                return;
            }
        }
    });
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx)).into_response()
}

/// A data-only SSE event holding `value` as JSON.
pub(crate) fn data(value: &impl serde::Serialize) -> SseEvent {
    SseEvent::default().data(serde_json::to_string(value).unwrap_or_else(|e| {
        format!("{{\"error\":{{\"message\":\"cannot encode an event: {e}\"}}}}")
    }))
}

/// A named SSE event holding `value` as JSON.
pub(crate) fn named(name: &str, value: &impl serde::Serialize) -> SseEvent {
    data(value).event(name)
}

/// `data: [DONE]`, the end of a Chat or Completions stream.
fn done() -> SseEvent {
    SseEvent::default().data("[DONE]")
}

/// The end of a Chat or Completions stream: the usage chunk when asked for, then `[DONE]`.
pub(crate) fn data_end(usage: Option<SseEvent>) -> Out {
    Out::last(usage.into_iter().chain([done()]).collect())
}

/// A failure in a Chat or Completions stream: the error object, then `[DONE]`.
pub(crate) fn data_failure(error: &crate::error::ApiError) -> Out {
    Out::last(vec![data(&error.body()), done()])
}
