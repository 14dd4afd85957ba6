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
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
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

/// A chat message.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: Content,
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
            content: Content::Text(text.to_string()),
            name: None,
            kind: None,
        }
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
            Content::Text(t) => Ok(t.clone()),
            Content::Parts(parts) => {
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
            template.render_with_tools(messages, param, Some(&t.as_template_tools()))
        }
        Some(t) => template.render(&with_system_text(messages, &t.instructions()), param),
    }
}

/// `messages` with `text` at the head of the system message: added to the first message
/// when it is a system one, else as a new first message.
pub(crate) fn with_system_text(messages: &[Message], text: &str) -> Vec<Message> {
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(first) if matches!(first.role, Role::System | Role::Developer) => {
            first.content = match &first.content {
                Content::Text(t) => Content::Text(format!("{text}\n{t}")),
                Content::Parts(parts) => {
                    let mut parts = parts.clone();
                    parts.insert(
                        0,
                        ContentPart {
                            kind: "text".into(),
                            text: format!("{text}\n"),
                        },
                    );
                    Content::Parts(parts)
                }
            };
        }
        _ => out.insert(0, Message::new(Role::System, text)),
    }
    out
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
        self.render_with_tools(messages, param, None)
    }

    /// [`ChatTemplate::render`] with the tools the template may show the model (OpenAI's
    /// `[{"type": "function", "function": {...}}]`), as Hugging Face passes `tools`.
    pub fn render_with_tools(
        &self,
        messages: &[Message],
        param: &str,
        tools: Option<&[serde_json::Value]>,
    ) -> Result<String, ApiError> {
        if messages.is_empty() {
            return Err(ApiError::invalid(
                param,
                "empty_array",
                &format!("`{param}` must hold at least one message"),
            ));
        }
        let mut items = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let text = m.text(&format!("{param}[{i}]"))?;
            items.push(serde_json::json!({"role": m.role.name(), "content": text}));
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
