//! Every route once: its method and path, the API that answers it (which sets its auth
//! error and error shape), what `/openapi.json` says of it, and its handler. The router,
//! the OpenAPI paths and the metrics' route labels all read this table.

use crate::state::AppState;
use crate::{chat, completions, explain, knobs, playground, responses, speech, takes};
use axum::handler::Handler;
use axum::routing::MethodRouter;

/// Which API a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// OpenAI's shapes (and dial's own JSON routes): `{"error": {...}}`.
    OpenAi,
    /// ElevenLabs' shapes: `{"detail": ...}`.
    ElevenLabs,
    /// Open to anyone, with no API key: the playground's files and `/health`.
    Open,
}

/// One route.
pub(crate) struct Route {
    /// `get` or `post`, as OpenAPI spells it.
    pub method: &'static str,
    pub path: &'static str,
    pub api: Api,
    /// Its OpenAPI summary; `None` keeps it out of the document.
    pub summary: Option<&'static str>,
    /// Its request body's schema in `/openapi.json`.
    pub request: Option<&'static str>,
    /// Whether it can answer with server-sent events.
    pub streams: bool,
    pub handler: MethodRouter<AppState>,
}

impl Route {
    fn get<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        api: Api,
        summary: &'static str,
        handler: H,
    ) -> Route {
        Route {
            method: "get",
            path,
            api,
            summary: Some(summary),
            request: None,
            streams: false,
            handler: axum::routing::get(handler),
        }
    }

    fn post<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        api: Api,
        summary: &'static str,
        request: &'static str,
        handler: H,
    ) -> Route {
        Route {
            method: "post",
            path,
            api,
            summary: Some(summary),
            request: Some(request),
            streams: false,
            handler: axum::routing::post(handler),
        }
    }

    fn streams(mut self) -> Route {
        self.streams = true;
        self
    }

    fn undocumented(mut self) -> Route {
        self.summary = None;
        self
    }
}

/// The table.
pub(crate) fn routes() -> Vec<Route> {
    use Api::{ElevenLabs, Open, OpenAi};
    vec![
        Route::get(
            "/",
            Open,
            "The playground: knobs, distribution, generation and voice in one page; needs no API key",
            playground::index,
        ),
        Route::get("/playground.js", Open, "", playground::script).undocumented(),
        Route::get("/playground.css", Open, "", playground::style).undocumented(),
        Route::post(
            "/v1/responses",
            OpenAi,
            "OpenAI Responses",
            "ResponseRequest",
            responses::create,
        )
        .streams(),
        Route::post(
            "/v1/chat/completions",
            OpenAi,
            "OpenAI Chat Completions",
            "ChatRequest",
            chat::create,
        )
        .streams(),
        Route::post(
            "/v1/completions",
            OpenAi,
            "OpenAI Completions (legacy)",
            "CompletionRequest",
            completions::create,
        )
        .streams(),
        Route::post(
            "/v1/explain",
            OpenAi,
            "The next-token distribution, stage by stage (dial explain --json)",
            "ExplainRequest",
            explain::explain,
        ),
        Route::get(
            "/v1/knobs",
            OpenAi,
            "Every knob's fields, ranges, defaults, sliders and help; the voice's knobs; the note's example",
            knobs::knobs,
        ),
        Route::post(
            "/v1/text-to-speech/{voice_id}",
            ElevenLabs,
            "ElevenLabs text to speech: the whole take (query output_format)",
            "TextToSpeechRequest",
            speech::convert,
        ),
        Route::post(
            "/v1/text-to-speech/{voice_id}/stream",
            ElevenLabs,
            "ElevenLabs text to speech, sentence by sentence",
            "TextToSpeechRequest",
            speech::stream,
        ),
        Route::post(
            "/v1/text-to-speech/{voice_id}/with-timestamps",
            ElevenLabs,
            "ElevenLabs text to speech with character timings",
            "TextToSpeechRequest",
            speech::with_timestamps,
        ),
        Route::post(
            "/v1/text-to-speech/{voice_id}/takes",
            ElevenLabs,
            "dial: several seeded takes with their durations and pitch spread",
            "TakesRequest",
            takes::takes,
        ),
        Route::get(
            "/v1/voices",
            ElevenLabs,
            "The installed voices",
            speech::voices,
        ),
        Route::get(
            "/v1/voices/settings/default",
            ElevenLabs,
            "The default voice settings",
            speech::default_voice_settings,
        ),
        Route::get(
            "/v1/voices/{voice_id}",
            ElevenLabs,
            "One voice",
            speech::voice,
        ),
        Route::get("/v1/models", OpenAi, "The served models", crate::models),
        Route::get("/v1/models/{id}", OpenAi, "One model", crate::model),
        Route::get("/health", Open, "Liveness; needs no API key", crate::health),
        Route::get("/metrics", OpenAi, "Prometheus metrics", crate::metrics),
        Route::get(
            "/openapi.json",
            OpenAi,
            "This document",
            crate::openapi_json,
        ),
    ]
}
