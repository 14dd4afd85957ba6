//! `GET /openapi.json`: OpenAPI 3.1, the request and response schemas generated from the
//! types, and every knob's field (name, type, range, help) from its own description.

use dial_sampling::{FieldKind, SamplingParams};
use serde_json::{Map, Value, json};
use utoipa::openapi::ComponentsBuilder;

/// The request schemas that take the knobs beside their own fields.
const WITH_KNOBS: &[&str] = &[
    "ResponseRequest",
    "ChatRequest",
    "CompletionRequest",
    "ExplainRequest",
];

/// The schema of one knob field.
fn knob_schema(field: &dial_sampling::Field) -> Value {
    let mut range = Map::new();
    if let Some(r) = field.range {
        range.insert(
            if r.min_exclusive {
                "exclusiveMinimum"
            } else {
                "minimum"
            }
            .into(),
            json!(r.min),
        );
        range.insert("maximum".into(), json!(r.max));
    }
    let mut schema = match field.kind {
        FieldKind::Number => json!({"type": "number"}),
        FieldKind::Integer => json!({"type": "integer"}),
        FieldKind::Unsigned => json!({"type": "integer", "minimum": 0}),
        FieldKind::Bool => json!({"type": "boolean"}),
        FieldKind::TokenIds => json!({"type": "array", "items": {"type": "integer", "minimum": 0}}),
        FieldKind::TokenBiases => {
            let bias = Value::Object(std::mem::take(&mut range))
                .as_object()
                .map(|r| {
                    let mut s = r.clone();
                    s.insert("type".into(), json!("number"));
                    json!({"anyOf": [Value::Object(s), {"const": false}]})
                });
            json!({"anyOf": [
                {"type": "object", "additionalProperties": bias},
                {"type": "array", "items": {"type": "array", "prefixItems": [
                    {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}, bias,
                ], "minItems": 2, "maxItems": 2}},
            ]})
        }
        FieldKind::SequenceBiases => json!({"type": "array", "items": {
            "type": "array", "prefixItems": [
                {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
                Value::Object(std::mem::take(&mut range)).as_object().map(|r| {
                    let mut s = r.clone();
                    s.insert("type".into(), json!("number"));
                    Value::Object(s)
                }),
            ], "minItems": 2, "maxItems": 2,
        }}),
        FieldKind::Strings => json!({"type": "array", "items": {"type": "string"}}),
        FieldKind::Text => json!({"type": "string"}),
    };
    if let Some(obj) = schema.as_object_mut() {
        obj.extend(range);
        obj.insert("description".into(), json!(field.help));
        if let Some(d) = field.default {
            obj.insert("x-dial-default".into(), json!(d));
        }
        if let Some(off) = field.off {
            obj.insert("x-dial-off".into(), json!(off));
        }
        if !field.aliases.is_empty() {
            obj.insert("x-dial-aliases".into(), json!(field.aliases));
        }
    }
    schema
}

/// Every documented route of the table, with its operation.
fn paths() -> Value {
    let mut paths = Map::new();
    for route in crate::routes::routes() {
        let Some(summary) = route.summary else {
            continue;
        };
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method] = operation(summary, route.request, route.streams);
    }
    Value::Object(paths)
}

fn operation(summary: &str, request: Option<&str>, streams: bool) -> Value {
    let mut content = json!({"application/json": {"schema": {"type": "object"}}});
    if streams {
        content["text/event-stream"] = json!({"schema": {"type": "string"}});
    }
    let error = json!({"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let mut op = json!({
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": content},
            "400": error, "401": error, "404": error, "413": error, "429": error, "500": error,
        },
    });
    if let Some(r) = request {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{r}")}}},
        });
    }
    op
}

/// The document.
pub fn openapi() -> Value {
    fn with<T: utoipa::ToSchema>(builder: ComponentsBuilder) -> ComponentsBuilder {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        builder.schema_from::<T>().schemas_from_iter(nested)
    }
    let mut builder = ComponentsBuilder::new();
    builder = with::<crate::responses::ResponseRequest>(builder);
    builder = with::<crate::chat::ChatRequest>(builder);
    builder = with::<crate::completions::CompletionRequest>(builder);
    builder = with::<crate::explain::ExplainRequest>(builder);
    builder = with::<crate::dial_options::DialOptions>(builder);
    builder = with::<crate::generation::TokenLogprob>(builder);
    builder = with::<crate::generation::DialReport>(builder);
    builder = with::<crate::chat::Usage>(builder);
    builder = with::<crate::error::ApiError>(builder);
    let components = builder.build();
    let mut components = serde_json::to_value(components).unwrap_or_else(|_| json!({}));
    if let Some(schemas) = components["schemas"].as_object_mut() {
        schemas.insert(
            "ErrorBody".into(),
            json!({"type": "object", "required": ["error"], "properties": {"error": {"$ref": "#/components/schemas/ApiError"}}}),
        );
        schemas.insert(
            "TextToSpeechRequest".into(),
            crate::speech::request_schema(),
        );
        schemas.insert("TakesRequest".into(), crate::takes::request_schema());
        for name in WITH_KNOBS {
            if let Some(props) = schemas
                .get_mut(*name)
                .and_then(|s| s.get_mut("properties"))
                .and_then(Value::as_object_mut)
            {
                for field in SamplingParams::fields() {
                    props.insert(field.name.into(), knob_schema(field));
                }
                props.insert(
                    "dial".into(),
                    json!({"$ref": "#/components/schemas/DialOptions"}),
                );
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dial",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sampling knobs, exact and visible, over the OpenAI APIs.",
        },
        "paths": paths(),
        "components": components,
    })
}
