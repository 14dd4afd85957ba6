//! `GET /v1/knobs`: every knob as its own file describes it (name, summary, fields with
//! range, default, off value, slider span and help), the voice's knobs, and the note's
//! example row, and the kinds of constraint, so clients (the playground first) hold no second
//! list of them.

use crate::explain::MAX_LOGITS;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dial_sampling::{
    Field, KnobKind, NOTE_EXAMPLE_LOGITS, NOTE_EXAMPLE_TOKENS, Order, SamplingParams,
};
use dial_voice::{Speed, Stability};
use serde_json::{Value, json};

/// One field, with the span a slider for it should take.
fn field(f: &Field) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or_else(|_| json!({}));
    v["slider"] = json!(f.slider_span());
    v
}

/// The document (also in `/openapi.json` as the `x-dial-knobs` extension's source).
pub fn knobs_document(voice_ids: &[String]) -> Value {
    let knobs: Vec<Value> = KnobKind::ALL
        .iter()
        .map(|k| {
            let spec = k.spec();
            json!({
                "name": k.name(),
                "summary": spec.summary,
                "fields": spec.fields.iter().map(field).collect::<Vec<_>>(),
                "phase": spec.phase,
                "conflicts": spec.conflicts,
                "needs_tokenizer": spec.needs_tokenizer,
            })
        })
        .collect();
    let orders = [Order::TemperatureFirst, Order::TemperatureLast];
    let named = |name: &str| SamplingParams::field(name).map(field);
    json!({
        "object": "dial.knobs",
        "knobs": knobs,
        "seed": named("seed"),
        "chain": {"fields": [named("min_keep")]},
        "order": {
            "field": named("order"),
            "default": Order::default().to_string(),
            "choices": orders.iter().map(Order::to_string).collect::<Vec<_>>(),
            "kinds": orders.iter().map(|o| (o.to_string(), json!(o.kinds()))).collect::<serde_json::Map<_, _>>(),
        },
        "constraints": {
            "field": "structured_outputs",
            "stage": "grammar",
            "summary": "What the output must match: the chain's first stage, a mask of the tokens that keep the output inside the constraint. Every knob then acts on the allowed tokens.",
            "kinds": dial_grammar::CONSTRAINT_KINDS,
            "max_bytes": dial_grammar::MAX_CONSTRAINT_BYTES,
            "formats": dial_grammar::FORMATS,
            "unsupported_keywords": dial_grammar::UNSUPPORTED_KEYWORDS,
            "also": ["response_format", "text.format", "tools"],
        },
        "playground": {"default_prompt": crate::playground::DEFAULT_PROMPT},
        "note_example": {
            "tokens": NOTE_EXAMPLE_TOKENS,
            "logits": NOTE_EXAMPLE_LOGITS,
            "max_logits": MAX_LOGITS,
        },
        "voice": {
            "voice_ids": voice_ids,
            Stability::NAME: {
                "min": Stability::CREATIVE.value(),
                "max": Stability::ROBUST.value(),
                "default": Stability::NATURAL.value(),
                "step": 0.05,
                "marks": Stability::MARKS.iter().map(|(label, s)| json!({"label": label, "value": s.value()})).collect::<Vec<_>>(),
                "help": Stability::SUMMARY,
            },
            Speed::NAME: {
                "min": Speed::MIN,
                "max": Speed::MAX,
                "default": Speed::DEFAULT.value(),
                "step": 0.05,
                "help": Speed::SUMMARY,
            },
        },
    })
}

/// The handler.
pub(crate) async fn knobs(State(state): State<AppState>) -> Response {
    axum::Json(knobs_document(&crate::speech::served_voice_ids(&state))).into_response()
}
