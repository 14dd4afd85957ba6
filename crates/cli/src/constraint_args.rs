//! The structured-output flags `dial generate` and `dial explain --prompt` share.

use clap::Args;
use dial_grammar::{Constraint, GrammarEngine};
use dial_model::Model;
use dial_sampling::TokenConstraint;

#[derive(Debug, Clone, Default, Args)]
pub struct ConstraintArgs {
    #[command(flatten)]
    pub source: ConstraintSource,
    /// With --json-schema: a keyword the engine cannot enforce is an error, not relaxed.
    #[arg(long, requires = "json_schema")]
    pub strict: bool,
}

/// At most one constraint.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "constraint", multiple = false)]
pub struct ConstraintSource {
    /// The output is JSON valid against this schema: a file, or the schema's JSON.
    #[arg(long, value_name = "FILE|JSON")]
    pub json_schema: Option<String>,
    /// The whole output matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub regex: Option<String>,
    /// The output is exactly one of these (comma-separated, or the flag repeated).
    #[arg(long, value_name = "A,B,…", value_delimiter = ',', num_args = 1..)]
    pub choice: Option<Vec<String>>,
    /// The output follows this grammar (llguidance's Lark syntax), read from a file.
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<std::path::PathBuf>,
}

impl ConstraintArgs {
    /// The constraint the flags state, if any.
    pub fn constraint(&self) -> Result<Option<Constraint>, String> {
        let source = &self.source;
        if let Some(text) = &source.json_schema {
            let trimmed = text.trim_start();
            let json = if trimmed.starts_with('{') || trimmed == "true" || trimmed == "false" {
                text.clone()
            } else {
                std::fs::read_to_string(text).map_err(|e| format!("--json-schema {text}: {e}"))?
            };
            let schema =
                serde_json::from_str(&json).map_err(|e| format!("--json-schema: not JSON: {e}"))?;
            return Ok(Some(Constraint::JsonSchema {
                schema,
                strict: self.strict,
            }));
        }
        if let Some(rx) = &source.regex {
            return Ok(Some(Constraint::Regex(rx.clone())));
        }
        if let Some(options) = &source.choice {
            return Ok(Some(Constraint::Choice(options.clone())));
        }
        if let Some(path) = &source.grammar {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--grammar {}: {e}", path.display()))?;
            return Ok(Some(Constraint::Grammar(text)));
        }
        Ok(None)
    }

    /// The `grammar` stage for `model`, compiled; `None` without a constraint. Relaxed
    /// schema keywords are reported on stderr.
    pub fn stage(&self, model: &Model) -> Result<Option<Box<dyn TokenConstraint>>, String> {
        let Some(constraint) = self.constraint()? else {
            return Ok(None);
        };
        let engine = GrammarEngine::new(model.tokenizer()).map_err(|e| e.to_string())?;
        let compiled = engine.compile(&constraint).map_err(|e| e.to_string())?;
        for r in compiled.relaxed() {
            eprintln!(
                "dial: `{}` at #{} is relaxed: not enforced (--strict refuses it)",
                r.keyword, r.pointer
            );
        }
        Ok(Some(Box::new(engine.start_compiled(&compiled))))
    }
}
