//! What an output must match, as a request states it.

use crate::GrammarError;
use llguidance::JsonCompileOptions;
use llguidance::api::TopLevelGrammar;
use serde_json::Value;

/// The largest constraint dial compiles, in bytes of its text (a schema as compact JSON).
pub const MAX_CONSTRAINT_BYTES: usize = 256 * 1024;

/// A kind of constraint as requests name it (`structured_outputs`), described for
/// clients: `/v1/knobs` lists these and the playground builds its Format control from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ConstraintKind {
    /// The field of `structured_outputs`.
    pub name: &'static str,
    /// A label for people.
    pub label: &'static str,
    /// What it does and how its value is written.
    pub help: &'static str,
    /// A value to start from (empty when the kind takes none).
    pub example: &'static str,
}

/// Every kind of constraint, in the order clients show them.
pub const CONSTRAINT_KINDS: [ConstraintKind; 5] = [
    ConstraintKind {
        name: "json",
        label: "JSON schema",
        help: "The output is compact JSON valid against this JSON Schema (draft 2020-12).",
        example: r#"{"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["answer", "confidence"], "additionalProperties": false}"#,
    },
    ConstraintKind {
        name: "regex",
        label: "Regex",
        help: "The whole output matches this regular expression (Rust regex syntax).",
        example: "(yes|no), because [a-z ]{10,60}\\.",
    },
    ConstraintKind {
        name: "choice",
        label: "Choice",
        help: "The output is exactly one of these strings (one per line here).",
        example: "yes\nno\nnot sure",
    },
    ConstraintKind {
        name: "grammar",
        label: "Grammar (Lark)",
        help: "The output follows this context-free grammar, in llguidance's Lark syntax.",
        example: "start: item (\", \" item)*\nitem: /[a-z]+/",
    },
    ConstraintKind {
        name: "json_object",
        label: "JSON object",
        help: "The output is any JSON object.",
        example: "",
    },
];

/// What the whole output must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// A JSON Schema (draft 2020-12). With `strict`, a keyword the engine does not
    /// enforce is an error; without, it is relaxed (ignored) and reported.
    JsonSchema {
        /// The schema.
        schema: Value,
        /// Refuse keywords the engine cannot enforce.
        strict: bool,
    },
    /// Any JSON object (OpenAI's `json_object`).
    JsonObject,
    /// A regular expression (Rust `regex` syntax) that the whole output matches.
    Regex(String),
    /// Exactly one of these strings.
    Choice(Vec<String>),
    /// A context-free grammar in llguidance's Lark syntax.
    Grammar(String),
    /// Tool calls in a syntax: `list_open`, then one or more calls separated by
    /// `separator` (at most `max_calls`), then `list_close`; a call is `call_open`, a JSON
    /// value valid against `call_schema`, `call_close`. With `text_allowed`, the output may
    /// instead be free text that begins with neither whitespace nor the calls' first
    /// character, so the two are never mixed up.
    ToolCalls(ToolCallSyntax),
}

/// How tool calls are written, and what they hold (see [`Constraint::ToolCalls`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallSyntax {
    /// The schema of one call (`{"name", "arguments"}` for each function).
    pub call_schema: Value,
    /// Refuse keywords the engine cannot enforce.
    pub strict: bool,
    /// Before the calls, e.g. `[`.
    pub list_open: String,
    /// Between two calls, e.g. `,`.
    pub separator: String,
    /// After the calls, e.g. `]`.
    pub list_close: String,
    /// Before each call, e.g. `<tool_call>\n`.
    pub call_open: String,
    /// After each call, e.g. `\n</tool_call>`.
    pub call_close: String,
    /// The most calls (`None`: any number).
    pub max_calls: Option<usize>,
    /// Text is allowed instead of calls.
    pub text_allowed: bool,
}

impl ToolCallSyntax {
    /// The Lark grammar of the output.
    fn lark(&self, call_schema: &Value) -> Result<String, GrammarError> {
        let opening = format!("{}{}", self.list_open, self.call_open);
        let Some(first) = opening.chars().next() else {
            return Err(GrammarError::Invalid {
                kind: "tool calls",
                message: "calls need an opening text, or text could not be told apart".into(),
            });
        };
        let call = format!(
            "call: {} %json {call_schema} {}",
            lark_literal_or_empty(&self.call_open),
            lark_literal_or_empty(&self.call_close)
        );
        let separator = lark_literal_or_empty(&self.separator);
        let more = match self.max_calls {
            // Up to n − 1 more, as nested options: (sep call (sep call)?)?
            Some(n) => (1..n.max(1)).fold(String::new(), |inner, _| {
                format!("({separator} call {inner})?")
            }),
            None => format!("({separator} call)*"),
        };
        let mut lark = format!(
            "start: {}\ncalls: {} call {more} {}\n{call}\n",
            if self.text_allowed {
                "calls | text"
            } else {
                "calls"
            },
            lark_literal_or_empty(&self.list_open),
            lark_literal_or_empty(&self.list_close),
        );
        if self.text_allowed {
            let mut excluded = String::from("\\s");
            if matches!(first, '\\' | ']' | '[' | '^' | '-' | '/') {
                excluded.push('\\');
            }
            excluded.push(first);
            lark.push_str(&format!("text: TEXT\nTEXT: /[^{excluded}](?s:.*)/\n"));
        }
        Ok(lark)
    }
}

impl Constraint {
    /// Its kind, as errors name it: `json schema`, `json object`, `regex`, `choice` or
    /// `grammar`.
    pub fn kind(&self) -> &'static str {
        match self {
            Constraint::JsonSchema { .. } => "json schema",
            Constraint::JsonObject => "json object",
            Constraint::Regex(_) => "regex",
            Constraint::Choice(_) => "choice",
            Constraint::Grammar(_) => "grammar",
            Constraint::ToolCalls(_) => "tool calls",
        }
    }

    /// A text that identifies it: the key compiled grammars are cached under.
    pub fn key(&self) -> String {
        match self {
            Constraint::JsonSchema { schema, strict } => format!("json:{strict}:{schema}"),
            Constraint::JsonObject => "json_object".into(),
            Constraint::Regex(rx) => format!("regex:{rx}"),
            Constraint::Choice(options) => format!("choice:{}", Value::from(options.clone())),
            Constraint::Grammar(g) => format!("grammar:{g}"),
            Constraint::ToolCalls(t) => {
                format!(
                    "tool_calls:{}:{:?}:{}:{}",
                    t.strict,
                    [
                        &t.list_open,
                        &t.separator,
                        &t.list_close,
                        &t.call_open,
                        &t.call_close
                    ],
                    t.max_calls.map_or(0, |n| n),
                    t.call_schema
                ) + if t.text_allowed { ":text" } else { "" }
            }
        }
    }

    /// A readable summary for traces, e.g. `json schema (412 bytes)`.
    pub fn summary(&self) -> String {
        match self {
            Constraint::JsonSchema { strict, .. } => format!(
                "json schema ({} bytes{})",
                self.size(),
                if *strict { ", strict" } else { "" }
            ),
            Constraint::JsonObject => "json object".into(),
            Constraint::Regex(rx) => format!("regex /{}/", clip(rx, 40)),
            Constraint::Choice(options) => format!("choice of {}", options.len()),
            Constraint::Grammar(_) => format!("grammar ({} bytes)", self.size()),
            Constraint::ToolCalls(t) => format!(
                "tool calls ({} bytes of schema{})",
                self.size(),
                if t.text_allowed { ", or text" } else { "" }
            ),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        match self {
            Constraint::JsonSchema { schema, .. } => schema.to_string().len(),
            Constraint::ToolCalls(t) => t.call_schema.to_string().len(),
            Constraint::JsonObject => 0,
            Constraint::Regex(text) | Constraint::Grammar(text) => text.len(),
            Constraint::Choice(options) => options.iter().map(|o| o.len() + 1).sum(),
        }
    }

    /// The grammar llguidance compiles, after the checks that need no compiler: size and
    /// emptiness (a schema's shape is [`crate::check_schema`]'s).
    pub(crate) fn to_grammar(&self) -> Result<TopLevelGrammar, GrammarError> {
        let kind = self.kind();
        let size = self.size();
        if size > MAX_CONSTRAINT_BYTES {
            return Err(GrammarError::TooLarge {
                kind,
                size,
                limit: MAX_CONSTRAINT_BYTES,
            });
        }
        match self {
            Constraint::JsonSchema { schema, strict } => Ok(json_grammar(schema.clone(), !*strict)),
            Constraint::JsonObject => {
                Ok(json_grammar(serde_json::json!({"type": "object"}), false))
            }
            Constraint::Regex(rx) => {
                regex_syntax::Parser::new()
                    .parse(rx)
                    .map_err(|e| GrammarError::Invalid {
                        kind,
                        message: e.to_string(),
                    })?;
                Ok(TopLevelGrammar::from_regex(rx))
            }
            Constraint::Choice(options) => {
                if options.is_empty() {
                    return Err(GrammarError::Invalid {
                        kind,
                        message: "the list is empty".into(),
                    });
                }
                let alternatives: Vec<String> = options.iter().map(|o| lark_literal(o)).collect();
                Ok(TopLevelGrammar::from_lark(format!(
                    "start: {}",
                    alternatives.join(" | ")
                )))
            }
            Constraint::Grammar(g) => {
                if g.trim().is_empty() {
                    return Err(GrammarError::Invalid {
                        kind,
                        message: "the grammar is empty".into(),
                    });
                }
                Ok(TopLevelGrammar::from_lark(g.clone()))
            }
            Constraint::ToolCalls(t) => {
                let schema = json_options(t.call_schema.clone(), !t.strict);
                Ok(TopLevelGrammar::from_lark(t.lark(&schema)?))
            }
        }
    }
}

/// A schema's grammar: compact JSON, no whitespace between tokens (a small model cannot
/// loop on it), and any escape JSON allows.
fn json_grammar(schema: Value, lenient: bool) -> TopLevelGrammar {
    TopLevelGrammar::from_json_schema(json_options(schema, lenient))
}

/// `schema` with dial's JSON options in its `x-guidance` member.
fn json_options(schema: Value, lenient: bool) -> Value {
    let mut schema = crate::schema_check::normalized(schema);
    let options = JsonCompileOptions {
        item_separator: ",".into(),
        key_separator: ":".into(),
        whitespace_flexible: false,
        whitespace_pattern: None,
        // Lenient: an overlapping `oneOf` is approximated by `anyOf`, and reported.
        coerce_one_of: lenient,
        lenient,
        ..JsonCompileOptions::default()
    };
    if schema.is_object() {
        options.apply_to(&mut schema);
    } else {
        // `true` / `false` schemas: wrap so the options have somewhere to live.
        let mut wrapped = serde_json::json!({ "allOf": [schema] });
        options.apply_to(&mut wrapped);
        schema = wrapped;
    }
    schema
}

/// A Lark literal for `text`, or nothing when it is empty.
fn lark_literal_or_empty(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        lark_literal(text)
    }
}

/// A Lark string literal for `text`: JSON's string syntax, with DEL escaped too.
fn lark_literal(text: &str) -> String {
    let json = Value::from(text).to_string();
    json.replace('\u{7f}', "\\u007f")
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
