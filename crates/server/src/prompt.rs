//! Chat messages and the template that turns them into one prompt.

use crate::error::ApiError;
use dial_model::Model;
use serde::Deserialize;

/// The template used when the GGUF has no `tokenizer.chat_template` (the default Gemma 3
/// 270M is a base model and has none): one `Role: text` line per message, then
/// `Assistant:`. Generation then also stops at [`PLAIN_TURN_STOP`], where a base model
/// would start writing the user's next turn.
pub const PLAIN_TEMPLATE: &str = "{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

/// The stop string the plain template adds.
pub const PLAIN_TURN_STOP: &str = "\nUser:";

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions (OpenAI's older name).
    System,
    /// Instructions.
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering one of the assistant's calls (`tool_call_id`).
    Tool,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentPart {
    /// `text`, `input_text` or `output_text`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text.
    pub text: String,
}

/// A message's content: a string or a list of text parts.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text parts, joined.
    Parts(Vec<ContentPart>),
}

/// An assistant message's tool call, as the API returned it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallIn {
    /// The call's id (`call_…`), which a `tool` message answers.
    pub id: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCallIn,
}

/// The function of a [`ToolCallIn`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionCallIn {
    /// Its name.
    pub name: String,
    /// Its arguments as JSON text.
    pub arguments: String,
}

/// A chat message.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says (may be null on an assistant message that only calls tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// An assistant message's tool calls, as the API returned them.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallIn>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// A participant's name (accepted, not shown to the model).
    #[serde(default)]
    pub name: Option<String>,
    /// `message`, as the Responses API writes input items.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl Message {
    /// A message from its role and text.
    pub fn new(role: Role, text: &str) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.to_string())),
            tool_calls: None,
            tool_call_id: None,
            name: None,
            kind: None,
        }
    }

    /// The message as a chat template reads it: role and content, and for tool traffic,
    /// the calls (in the template's own syntax when it has one, else as dial's JSON list
    /// in the content) and the call a result answers.
    fn item(
        &self,
        param: &str,
        syntax: crate::structured::ToolSyntax,
    ) -> Result<serde_json::Value, ApiError> {
        let mut text = self.text(param)?;
        if self.role == Role::Tool && self.tool_call_id.is_none() {
            return Err(ApiError::invalid(
                &format!("{param}.tool_call_id"),
                "missing_required_parameter",
                "a `tool` message needs the `tool_call_id` it answers",
            ));
        }
        let Some(calls) = &self.tool_calls else {
            let mut item = serde_json::json!({"role": self.role.name(), "content": text});
            if let Some(id) = &self.tool_call_id {
                item["tool_call_id"] = serde_json::json!(id);
            }
            return Ok(item);
        };
        if self.role != Role::Assistant {
            return Err(ApiError::invalid(
                &format!("{param}.tool_calls"),
                "invalid_value",
                "only assistant messages carry `tool_calls`",
            ));
        }
        let mut parsed = Vec::with_capacity(calls.len());
        for (i, call) in calls.iter().enumerate() {
            let arguments: serde_json::Value = serde_json::from_str(&call.function.arguments)
                .map_err(|e| {
                    ApiError::invalid(
                        &format!("{param}.tool_calls[{i}].function.arguments"),
                        "invalid_value",
                        &format!("the arguments are not JSON: {e}"),
                    )
                })?;
            parsed.push((call, arguments));
        }
        Ok(match syntax {
            crate::structured::ToolSyntax::Tagged => serde_json::json!({
                "role": "assistant",
                "content": text,
                "tool_calls": parsed.iter().map(|(call, arguments)| serde_json::json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": arguments},
                })).collect::<Vec<_>>(),
            }),
            crate::structured::ToolSyntax::JsonList => {
                let list: Vec<serde_json::Value> = parsed
                    .iter()
                    .map(|(call, arguments)| serde_json::json!({"name": call.function.name, "arguments": arguments}))
                    .collect();
                text.push_str(&serde_json::Value::from(list).to_string());
                serde_json::json!({"role": "assistant", "content": text})
            }
        })
    }

    fn text(&self, param: &str) -> Result<String, ApiError> {
        if let Some(kind) = &self.kind
            && kind != "message"
        {
            return Err(ApiError::invalid(
                &format!("{param}.type"),
                "invalid_value",
                &format!("input items of type `{kind}` are not supported; use `message`"),
            ));
        }
        match &self.content {
            None if self.tool_calls.is_some() => Ok(String::new()),
            None => Err(ApiError::invalid(
                &format!("{param}.content"),
                "missing_required_parameter",
                "a message needs `content` (only an assistant message with `tool_calls` may leave it null)",
            )),
            Some(Content::Text(t)) => Ok(t.clone()),
            Some(Content::Parts(parts)) => {
                let mut out = String::new();
                for (i, p) in parts.iter().enumerate() {
                    if !matches!(p.kind.as_str(), "text" | "input_text" | "output_text") {
                        return Err(ApiError::invalid(
                            &format!("{param}.content[{i}].type"),
                            "invalid_value",
                            &format!(
                                "content parts of type `{}` are not supported; dial reads text",
                                p.kind
                            ),
                        ));
                    }
                    out.push_str(&p.text);
                }
                Ok(out)
            }
        }
    }
}

/// The prompt for `messages` when the output may hold `tools`' calls: a template with
/// its own tool syntax renders the tools; otherwise dial describes them, and its syntax,
/// at the head of the system message.
pub(crate) fn render_for(
    template: &ChatTemplate,
    messages: &[Message],
    param: &str,
    tools: Option<&crate::structured::ToolCalls>,
) -> Result<String, ApiError> {
    match tools {
        None => template.render(messages, param),
        Some(t) if t.syntax == crate::structured::ToolSyntax::Tagged => {
            template.render_inner(messages, param, Some(&t.as_template_tools()), None)
        }
        Some(t) => template.render_inner(messages, param, None, Some(&t.instructions())),
    }
}

/// The chat template of the served model.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    plain: bool,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    /// The GGUF's template, or [`PLAIN_TEMPLATE`].
    pub fn for_model(model: &Model) -> Self {
        let text = |id: Option<u32>| {
            id.and_then(|t| model.tokenizer().token(t).map(str::to_string))
                .unwrap_or_default()
        };
        let (source, plain) = match model.chat_template() {
            Some(t) => (t.to_string(), false),
            None => (PLAIN_TEMPLATE.to_string(), true),
        };
        ChatTemplate {
            source,
            plain,
            bos: text(model.tokenizer().bos()),
            eos: text(model.tokenizer().eos()),
        }
    }

    /// Whether this is dial's plain template.
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Stop strings the template implies.
    pub fn stops(&self) -> Vec<String> {
        if self.plain {
            vec![PLAIN_TURN_STOP.to_string()]
        } else {
            Vec::new()
        }
    }

    /// How this template's model writes tool calls.
    pub fn tool_syntax(&self) -> crate::structured::ToolSyntax {
        crate::structured::ToolSyntax::of_template(&self.source)
    }

    /// The prompt for `messages`, ending where the assistant's reply starts. `param` names
    /// the request field the messages came from.
    pub fn render(&self, messages: &[Message], param: &str) -> Result<String, ApiError> {
        self.render_inner(messages, param, None, None)
    }

    /// [`ChatTemplate::render`] with the tools the template may show the model (OpenAI's
    /// `[{"type": "function", "function": {...}}]`, as Hugging Face passes `tools`), and
    /// `system_text` at the head of the system message (a new first message when there is
    /// none). Errors name the request's own messages, whatever is added.
    fn render_inner(
        &self,
        messages: &[Message],
        param: &str,
        tools: Option<&[serde_json::Value]>,
        system_text: Option<&str>,
    ) -> Result<String, ApiError> {
        if messages.is_empty() {
            return Err(ApiError::invalid(
                param,
                "empty_array",
                &format!("`{param}` must hold at least one message"),
            ));
        }
        let mut items = Vec::with_capacity(messages.len());
        let syntax = self.tool_syntax();
        for (i, m) in messages.iter().enumerate() {
            items.push(m.item(&format!("{param}[{i}]"), syntax)?);
        }
        if let Some(text) = system_text {
            match items.first_mut() {
                Some(first) if first["role"] == "system" => {
                    let rest = first["content"].as_str().unwrap_or_default().to_string();
                    first["content"] = serde_json::json!(format!("{text}\n{rest}"));
                }
                _ => items.insert(0, serde_json::json!({"role": "system", "content": text})),
            }
        }
        // As Hugging Face renders chat templates: blocks trimmed, the final newline of the
        // template itself dropped.
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        let template = env.template_from_str(&self.source).map_err(|e| {
            ApiError::internal(&format!("the model's chat template is invalid: {e}"))
        })?;
        template
            .render(minijinja::context! {
                messages => items,
                tools => tools,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
            })
            .map_err(|e| {
                ApiError::invalid(
                    param,
                    "invalid_value",
                    &format!("the chat template rejected the messages: {e}"),
                )
            })
    }
}
