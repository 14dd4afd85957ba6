//! Structured outputs as requests state them: OpenAI's `response_format` (chat),
//! `text.format` (responses), function `tools` with `tool_choice`, and vLLM's
//! `structured_outputs` (every generation endpoint and explain). Each becomes one
//! [`Constraint`] or a 400; nothing falls back to free text silently.

use crate::error::ApiError;
use dial_grammar::{Constraint, GrammarError, ToolCallSyntax};
use serde::Deserialize;
use serde_json::{Value, json};

/// vLLM's `structured_outputs`: exactly one of its fields.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StructuredOutputs {
    /// A JSON Schema, or a string holding one. Compiled leniently: keywords the engine
    /// does not enforce are relaxed and listed in the response.
    #[schema(value_type = Option<Object>)]
    pub json: Option<Value>,
    /// A regular expression the whole output matches.
    pub regex: Option<String>,
    /// The output is exactly one of these strings.
    pub choice: Option<Vec<String>>,
    /// A grammar in llguidance's Lark syntax.
    pub grammar: Option<String>,
    /// `true`: any JSON object.
    pub json_object: Option<bool>,
}

impl StructuredOutputs {
    /// Its constraint.
    pub(crate) fn constraint(&self) -> Result<Requested, ApiError> {
        let mut set: Vec<(&'static str, Constraint)> = Vec::new();
        if let Some(json) = &self.json {
            let schema = match json {
                Value::String(text) => serde_json::from_str(text).map_err(|e| {
                    ApiError::invalid(
                        "structured_outputs.json",
                        "invalid_value",
                        &format!("`structured_outputs.json` holds no JSON schema: {e}"),
                    )
                })?,
                other => other.clone(),
            };
            set.push((
                "structured_outputs.json",
                Constraint::JsonSchema {
                    schema,
                    strict: false,
                },
            ));
        }
        if let Some(rx) = &self.regex {
            set.push(("structured_outputs.regex", Constraint::Regex(rx.clone())));
        }
        if let Some(options) = &self.choice {
            set.push((
                "structured_outputs.choice",
                Constraint::Choice(options.clone()),
            ));
        }
        if let Some(g) = &self.grammar {
            set.push(("structured_outputs.grammar", Constraint::Grammar(g.clone())));
        }
        match self.json_object {
            Some(true) => set.push(("structured_outputs.json_object", Constraint::JsonObject)),
            Some(false) => {
                return Err(ApiError::invalid(
                    "structured_outputs.json_object",
                    "invalid_value",
                    "`structured_outputs.json_object` is `true` or absent",
                ));
            }
            None => {}
        }
        match set.len() {
            1 => {
                let (param, constraint) = set.remove(0);
                Ok(Requested::new(param, constraint))
            }
            0 => Err(ApiError::invalid(
                "structured_outputs",
                "invalid_value",
                "`structured_outputs` needs one of `json`, `regex`, `choice`, `grammar`, `json_object`",
            )),
            _ => Err(ApiError::invalid(
                "structured_outputs",
                "conflicting_parameters",
                &format!(
                    "`structured_outputs` takes one constraint, got `{}` and `{}`",
                    set[0].0, set[1].0
                ),
            )),
        }
    }
}

/// A `json_schema` format: chat's `response_format.json_schema`, or responses'
/// `text.format` (with `type`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaFormat {
    /// A name: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// What the output is for (shown to no model: dial has no system prompt of its own).
    pub description: Option<String>,
    /// The schema; absent means any JSON value.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Refuse keywords the engine does not enforce (a 400 naming each) rather than relax
    /// them.
    pub strict: Option<bool>,
}

impl JsonSchemaFormat {
    fn constraint(&self, param: &'static str) -> Result<Requested, ApiError> {
        check_name(&self.name, &format!("{param}.name"))?;
        Ok(Requested::new(
            param,
            Constraint::JsonSchema {
                schema: self.schema.clone().unwrap_or_else(|| json!({})),
                strict: self.strict == Some(true),
            },
        ))
    }
}

/// Chat's `response_format`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseFormat {
    /// Free text (no constraint).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

impl ResponseFormat {
    /// Its constraint; `None` for text.
    pub(crate) fn constraint(&self) -> Result<Option<Requested>, ApiError> {
        match self {
            ResponseFormat::Text => Ok(None),
            ResponseFormat::JsonObject => Ok(Some(Requested::new(
                "response_format",
                Constraint::JsonObject,
            ))),
            ResponseFormat::JsonSchema { json_schema } => json_schema
                .constraint("response_format.json_schema")
                .map(Some),
        }
    }
}

/// Responses' `text.format`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    /// Free text (no constraint).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against a schema: `name`, `schema`, `strict`, `description`.
    JsonSchema(JsonSchemaFormat),
}

impl TextFormat {
    /// Its constraint; `None` for text.
    pub(crate) fn constraint(&self) -> Result<Option<Requested>, ApiError> {
        match self {
            TextFormat::Text => Ok(None),
            TextFormat::JsonObject => {
                Ok(Some(Requested::new("text.format", Constraint::JsonObject)))
            }
            TextFormat::JsonSchema(format) => format.constraint("text.format").map(Some),
        }
    }

    /// As the response echoes it.
    pub(crate) fn echo(&self) -> Value {
        match self {
            TextFormat::Text => json!({"type": "text"}),
            TextFormat::JsonObject => json!({"type": "json_object"}),
            TextFormat::JsonSchema(f) => json!({
                "type": "json_schema",
                "name": f.name,
                "description": f.description,
                "schema": f.schema,
                "strict": f.strict,
            }),
        }
    }
}

/// A function a tool call may name.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionDefinition {
    /// Its name: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// What it does (shown to the model in the tool list dial adds to the prompt).
    pub description: Option<String>,
    /// A JSON Schema for its arguments; absent means any object.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Refuse schema keywords the engine does not enforce, rather than relax them.
    pub strict: Option<bool>,
}

/// Chat's `tools[i]`: `{"type": "function", "function": {...}}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatTool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDefinition,
}

/// Responses' `tools[i]`: `{"type": "function", "name", "parameters", "strict", ...}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsesTool {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name: letters, digits, `_` and `-`, at most 64.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// A JSON Schema for its arguments; absent means any object.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    /// Refuse schema keywords the engine does not enforce, rather than relax them.
    pub strict: Option<bool>,
}

impl From<ChatTool> for FunctionDefinition {
    fn from(tool: ChatTool) -> Self {
        tool.function
    }
}

impl From<ResponsesTool> for FunctionDefinition {
    fn from(tool: ResponsesTool) -> Self {
        FunctionDefinition {
            name: tool.name,
            description: tool.description,
            parameters: tool.parameters,
            strict: tool.strict,
        }
    }
}

/// The functions of a request's `tools`, each read as `T` (chat's or responses' shape);
/// a tool of another type is a 400 that names it.
fn functions<T>(tools: &[Value]) -> Result<Vec<FunctionDefinition>, ApiError>
where
    T: serde::de::DeserializeOwned + Into<FunctionDefinition>,
{
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str);
        if kind != Some("function") {
            return Err(ApiError::invalid(
                &format!("tools[{i}].type"),
                "unsupported_value",
                &format!(
                    "dial calls `function` tools only, not {}",
                    kind.map_or("a tool without a type".to_string(), |k| format!("`{k}`"))
                ),
            ));
        }
        let parsed: T = crate::body::from_value(tool.clone()).map_err(|mut e| {
            e.param = Some(match e.param.as_deref() {
                None | Some("") => format!("tools[{i}]"),
                Some(p) => format!("tools[{i}].{p}"),
            });
            e
        })?;
        out.push(parsed.into());
    }
    Ok(out)
}

/// Which tool calls a request allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    /// Text only.
    None,
    /// Text or calls, as the model chooses.
    Auto,
    /// At least one call.
    Required,
    /// Calls of this function only.
    Named(String),
}

impl ToolChoice {
    /// `tool_choice` in chat's shape (`{"type": "function", "function": {"name"}}`) or
    /// responses' (`{"type": "function", "name"}`).
    pub(crate) fn parse(value: &Value) -> Result<ToolChoice, ApiError> {
        let bad = || {
            ApiError::invalid(
                "tool_choice",
                "invalid_value",
                "`tool_choice` is `none`, `auto`, `required` or `{\"type\": \"function\", \"function\": {\"name\": …}}`",
            )
        };
        match value {
            Value::String(s) => match s.as_str() {
                "none" => Ok(ToolChoice::None),
                "auto" => Ok(ToolChoice::Auto),
                "required" => Ok(ToolChoice::Required),
                _ => Err(bad()),
            },
            Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("function") => {
                let name = map
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .or_else(|| map.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?;
                Ok(ToolChoice::Named(name.to_string()))
            }
            _ => Err(bad()),
        }
    }
}

/// A request's constraint, with the field it came from (for errors) and, for tool calls,
/// the functions.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    pub param: &'static str,
    pub constraint: Constraint,
    /// Set when the output may be tool calls.
    pub tools: Option<ToolCalls>,
}

impl Requested {
    fn new(param: &'static str, constraint: Constraint) -> Self {
        Requested {
            param,
            constraint,
            tools: None,
        }
    }
}

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSyntax {
    /// dial's own, for models whose chat template defines none: a JSON list of calls,
    /// `[{"name": …, "arguments": {…}}]`, with the tools described at the head of the
    /// system message.
    JsonList,
    /// The tagged syntax of templates that define one (Hermes, Qwen 2.5 and their kin):
    /// each call `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, one per line;
    /// the template renders the tools itself.
    Tagged,
}

impl ToolSyntax {
    const TAG_OPEN: &'static str = "<tool_call>\n";
    const TAG_CLOSE: &'static str = "\n</tool_call>";

    /// The syntax a chat template defines (`<tool_call>` in its source), else dial's.
    pub fn of_template(source: &str) -> Self {
        if source.contains("<tool_call>") {
            ToolSyntax::Tagged
        } else {
            ToolSyntax::JsonList
        }
    }

    fn syntax(
        self,
        call_schema: Value,
        strict: bool,
        max_calls: Option<usize>,
        text_allowed: bool,
    ) -> ToolCallSyntax {
        let (list_open, separator, list_close, call_open, call_close) = match self {
            ToolSyntax::JsonList => ("[", ",", "]", "", ""),
            ToolSyntax::Tagged => ("", "\n", "", Self::TAG_OPEN, Self::TAG_CLOSE),
        };
        ToolCallSyntax {
            call_schema,
            strict,
            list_open: list_open.into(),
            separator: separator.into(),
            list_close: list_close.into(),
            call_open: call_open.into(),
            call_close: call_close.into(),
            max_calls,
            text_allowed,
        }
    }

    /// The first character of a call list: a text answer never begins with it.
    pub fn opening(self) -> char {
        match self {
            ToolSyntax::JsonList => '[',
            ToolSyntax::Tagged => '<',
        }
    }

    /// The call objects in `text`, when it is a call list.
    fn calls(self, text: &str) -> Option<Vec<Value>> {
        match self {
            ToolSyntax::JsonList => match serde_json::from_str(text.trim()).ok()? {
                Value::Array(calls) => Some(calls),
                _ => None,
            },
            ToolSyntax::Tagged => {
                let mut calls = Vec::new();
                let mut rest = text.trim();
                while !rest.is_empty() {
                    let body = rest.strip_prefix(Self::TAG_OPEN.trim_end())?;
                    let end = body.find(Self::TAG_CLOSE.trim_start())?;
                    calls.push(serde_json::from_str(body[..end].trim()).ok()?);
                    rest = body[end + Self::TAG_CLOSE.trim_start().len()..].trim_start();
                }
                (!calls.is_empty()).then_some(calls)
            }
        }
    }
}

/// The tool calls an output may hold.
#[derive(Debug, Clone)]
pub(crate) struct ToolCalls {
    pub functions: Vec<FunctionDefinition>,
    /// Calls are required (`required` or a named function): the output is only calls.
    pub required: bool,
    pub syntax: ToolSyntax,
}

impl ToolCalls {
    /// The schema of one call: `{"name": <function>, "arguments": <its parameters>}`.
    fn call_schema(functions: &[&FunctionDefinition]) -> Value {
        let calls: Vec<Value> = functions
            .iter()
            .map(|f| {
                json!({
                    "type": "object",
                    "properties": {
                        "name": {"const": f.name},
                        "arguments": f.parameters.clone().unwrap_or_else(|| json!({"type": "object"})),
                    },
                    "required": ["name", "arguments"],
                    "additionalProperties": false,
                })
            })
            .collect();
        json!({"anyOf": calls})
    }

    /// The constraint for `functions` under `choice`, in `syntax`; `None` when the
    /// output is free text (`none`, or no tools).
    pub(crate) fn requested(
        functions: Vec<FunctionDefinition>,
        choice: Option<ToolChoice>,
        parallel: Option<bool>,
        syntax: ToolSyntax,
    ) -> Result<Option<Requested>, ApiError> {
        let choice = choice.unwrap_or(if functions.is_empty() {
            ToolChoice::None
        } else {
            ToolChoice::Auto
        });
        for (i, f) in functions.iter().enumerate() {
            check_name(&f.name, &format!("tools[{i}].name"))?;
            if functions[..i].iter().any(|g| g.name == f.name) {
                return Err(ApiError::invalid(
                    &format!("tools[{i}].name"),
                    "invalid_value",
                    &format!("two tools are named `{}`", f.name),
                ));
            }
        }
        if choice != ToolChoice::None && functions.is_empty() {
            return Err(ApiError::invalid(
                "tool_choice",
                "invalid_value",
                "`tool_choice` needs `tools`",
            ));
        }
        let max_calls = (parallel == Some(false)).then_some(1);
        let strict = functions.iter().any(|f| f.strict == Some(true));
        let (call_schema, required) = match &choice {
            ToolChoice::None => return Ok(None),
            ToolChoice::Auto => (
                Self::call_schema(&functions.iter().collect::<Vec<_>>()),
                false,
            ),
            ToolChoice::Required => (
                Self::call_schema(&functions.iter().collect::<Vec<_>>()),
                true,
            ),
            ToolChoice::Named(name) => {
                let Some(f) = functions.iter().find(|f| &f.name == name) else {
                    return Err(ApiError::invalid(
                        "tool_choice",
                        "invalid_value",
                        &format!("`tool_choice` names `{name}`, which is not in `tools`"),
                    ));
                };
                (Self::call_schema(&[f]), true)
            }
        };
        Ok(Some(Requested {
            param: "tools",
            constraint: Constraint::ToolCalls(syntax.syntax(
                call_schema,
                strict,
                max_calls,
                !required,
            )),
            tools: Some(ToolCalls {
                functions,
                required,
                syntax,
            }),
        }))
    }

    /// The calls in `text`, when it is a call list: `(name, arguments as JSON text)`.
    pub(crate) fn parse(&self, text: &str) -> Option<Vec<(String, String)>> {
        self.syntax
            .calls(text)?
            .iter()
            .map(|call| {
                let name = call.get("name")?.as_str()?;
                self.functions.iter().find(|f| f.name == name)?;
                Some((name.to_string(), call.get("arguments")?.to_string()))
            })
            .collect()
    }

    /// The tools as OpenAI writes them, for templates that render them.
    pub(crate) fn as_template_tools(&self) -> Vec<Value> {
        self.functions
            .iter()
            .map(|f| {
                json!({"type": "function", "function": {
                    "name": f.name,
                    "description": f.description,
                    "parameters": f.parameters.clone().unwrap_or_else(|| json!({"type": "object"})),
                }})
            })
            .collect()
    }

    /// The system text that tells a model without a tool-call template what it may
    /// call and how: the functions, and the call list syntax.
    pub(crate) fn instructions(&self) -> String {
        let mut out = String::from(
            "You can call functions. To call them, answer with only a JSON list of calls, \
             [{\"name\": <function name>, \"arguments\": {<arguments>}}], and nothing else.\n\
             Functions:\n",
        );
        for f in &self.functions {
            let parameters = f
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object"}));
            out.push_str(&format!("- {}", f.name));
            if let Some(d) = &f.description {
                out.push_str(&format!(": {d}"));
            }
            out.push_str(&format!(" Arguments: {parameters}\n"));
        }
        out
    }
}

fn check_name(name: &str, param: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            param,
            "invalid_value",
            "a name is 1 to 64 letters, digits, `_` or `-`",
        ))
    }
}

/// What a generation request asks of its output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputAsk<'a> {
    /// `tools`, in the endpoint's shape.
    pub tools: Option<&'a [Value]>,
    pub tool_choice: Option<&'a Value>,
    pub parallel_tool_calls: Option<bool>,
    /// `structured_outputs`.
    pub structured_outputs: Option<&'a StructuredOutputs>,
}

impl OutputAsk<'_> {
    /// The request's one constraint, from its tools (read as `T`, the endpoint's tool
    /// shape), its `format` (`response_format` or `text.format`, already read) or its
    /// `structured_outputs`; two of them are a 400.
    pub(crate) fn requested<T>(
        self,
        format: Option<Requested>,
        syntax: ToolSyntax,
    ) -> Result<Option<Requested>, ApiError>
    where
        T: serde::de::DeserializeOwned + Into<FunctionDefinition>,
    {
        let functions = functions::<T>(self.tools.unwrap_or_default())?;
        let choice = self.tool_choice.map(ToolChoice::parse).transpose()?;
        one_of([
            ToolCalls::requested(functions, choice, self.parallel_tool_calls, syntax)?,
            format,
            self.structured_outputs
                .map(StructuredOutputs::constraint)
                .transpose()?,
        ])
    }
}

/// At most one source of a constraint per request.
fn one_of(
    sources: impl IntoIterator<Item = Option<Requested>>,
) -> Result<Option<Requested>, ApiError> {
    let mut found: Option<Requested> = None;
    for requested in sources.into_iter().flatten() {
        if let Some(first) = &found {
            return Err(ApiError::invalid(
                requested.param,
                "conflicting_parameters",
                &format!(
                    "`{}` and `{}` both constrain the output; send one",
                    first.param, requested.param
                ),
            ));
        }
        found = Some(requested);
    }
    Ok(found)
}

/// A constraint's fault as a 400 on `param` (an engine failure as a 500).
pub(crate) fn grammar_error(param: &str, e: &GrammarError) -> ApiError {
    let code = match e {
        GrammarError::InvalidSchema { .. } => "invalid_schema",
        GrammarError::Unsupported { .. } => "unsupported_schema_keyword",
        GrammarError::Invalid { .. } => "invalid_value",
        GrammarError::MatchesNothing { .. } => "constraint_matches_nothing",
        GrammarError::TooLarge { .. } => "constraint_too_large",
        GrammarError::TooComplex { .. } => "constraint_too_complex",
        GrammarError::Vocabulary(_) => "unsupported_model",
        _ => return ApiError::internal(&e.to_string()),
    };
    ApiError::invalid(param, code, &e.to_string())
}
