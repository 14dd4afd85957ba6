//! dial's structured outputs, built on llguidance (`llguidance`, `toktrie`).
//!
//! A [`Constraint`] (JSON Schema, regex, choice, Lark grammar) becomes the first stage of
//! the sampling chain: a mask over the vocabulary of the tokens whose bytes keep the output
//! inside the constraint's language. A model has one [`GrammarEngine`], built from its
//! tokenizer; each sequence gets a [`GrammarStage`], which is a
//! [`dial_sampling::TokenConstraint`].
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let model = dial_model::Model::load(std::path::Path::new("m.gguf"), |_, _| {})?;
//! use dial_grammar::{Constraint, GrammarEngine};
//! let engine = GrammarEngine::new(model.tokenizer())?;
//! let stage = engine.start(&Constraint::Choice(vec!["yes".into(), "no".into()]))?;
//! let mut sampler = dial_sampling::Sampler::new(dial_sampling::Knobs::default(), 7)?;
//! sampler.add_constraint(Box::new(stage));
//! # Ok(()) }
//! ```

mod constraint;
mod error;
mod grammar_engine;
mod grammar_stage;
mod model_tok_env;
mod schema_check;
mod token_vocabulary;

pub use constraint::{
    CONSTRAINT_KINDS, Constraint, ConstraintKind, MAX_CONSTRAINT_BYTES, ToolCallSyntax,
};
pub use error::GrammarError;
pub use grammar_engine::{CompiledGrammar, GRAMMAR_CACHE_ENTRIES, GrammarEngine};
pub use grammar_stage::GrammarStage;
pub use schema_check::{FORMATS, Relaxed, UNSUPPORTED_KEYWORDS, check_schema};
pub use token_vocabulary::TokenVocabulary;
