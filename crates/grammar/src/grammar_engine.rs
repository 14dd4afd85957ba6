//! One per model: the parser factory over its vocabulary, and the compiled grammars.

use crate::model_tok_env::ModelTokEnv;
use crate::schema_check::Relaxed;
use crate::{Constraint, GrammarError, GrammarStage, TokenVocabulary};
use dial_model::Tokenizer;
use llguidance::{Matcher, ParserFactory, TokenParser};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use toktrie::TokEnv;

/// How many compiled grammars a model keeps.
pub const GRAMMAR_CACHE_ENTRIES: usize = 64;

/// A constraint compiled for one model, ready to start any number of sequences.
pub struct CompiledGrammar {
    /// A parser at the start of the output, with its first mask computed.
    start: Mutex<TokenParser>,
    summary: String,
    relaxed: Vec<Relaxed>,
}

impl CompiledGrammar {
    /// The constraint, readable, e.g. `json schema (412 bytes)`.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The keywords a lenient schema relaxed (empty for anything else).
    pub fn relaxed(&self) -> &[Relaxed] {
        &self.relaxed
    }
}

impl std::fmt::Debug for CompiledGrammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledGrammar")
            .field("summary", &self.summary)
            .field("relaxed", &self.relaxed)
            .finish_non_exhaustive()
    }
}

/// A model's structured-output engine: built once at load from its tokenizer, it compiles
/// constraints (cached by their text) and starts a [`GrammarStage`] per sequence.
pub struct GrammarEngine {
    env: Arc<ModelTokEnv>,
    factory: ParserFactory,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Arc<CompiledGrammar>>,
    /// Keys, least recently used first.
    order: VecDeque<String>,
}

impl GrammarEngine {
    /// The engine for `tokenizer`'s vocabulary.
    ///
    /// # Errors
    /// [`GrammarError::Vocabulary`] when the vocabulary cannot be put in a token trie.
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, GrammarError> {
        let vocabulary = TokenVocabulary::new(tokenizer)?;
        let env = Arc::new(ModelTokEnv::new(vocabulary, tokenizer.clone()));
        let tok_env: TokEnv = env.clone();
        let mut factory = ParserFactory::new_simple(&tok_env)
            .map_err(|e| GrammarError::Vocabulary(e.to_string()))?;
        factory.quiet();
        // Errors name the fault, not the parser's state.
        factory.limits_mut().verbose_errors = false;
        Ok(GrammarEngine {
            env,
            factory,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The vocabulary it masks.
    pub fn vocabulary(&self) -> &TokenVocabulary {
        self.env.vocabulary()
    }

    /// Compiles `constraint`, or finds it compiled.
    ///
    /// # Errors
    /// The constraint's fault, as a [`GrammarError`]: invalid, unsupported with strict,
    /// matching nothing, too large or too complex.
    pub fn compile(&self, constraint: &Constraint) -> Result<Arc<CompiledGrammar>, GrammarError> {
        let key = constraint.key();
        if let Some(found) = self.cached(&key) {
            return Ok(found);
        }
        let compiled = Arc::new(self.compile_uncached(constraint)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.entries.len() >= GRAMMAR_CACHE_ENTRIES
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.entries.remove(&oldest);
        }
        cache.order.push_back(key.clone());
        cache.entries.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// How many compiled grammars are cached.
    pub fn cached_grammars(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.entries.len())
    }

    /// A stage for one sequence, at the start of its output.
    ///
    /// # Errors
    /// As [`GrammarEngine::compile`].
    pub fn start(&self, constraint: &Constraint) -> Result<GrammarStage, GrammarError> {
        let compiled = self.compile(constraint)?;
        Ok(self.start_compiled(&compiled))
    }

    /// A stage for one sequence from a compiled grammar.
    pub fn start_compiled(&self, compiled: &Arc<CompiledGrammar>) -> GrammarStage {
        // Its own lexer state: sequences of one grammar compute masks in parallel without
        // sharing a lock.
        let parser = compiled
            .start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .deep_clone();
        GrammarStage::new(Matcher::new(Ok(parser)), compiled.clone(), self.env.clone())
    }

    fn cached(&self, key: &str) -> Option<Arc<CompiledGrammar>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let found = cache.entries.get(key).cloned()?;
        if let Some(at) = cache.order.iter().position(|k| k == key) {
            let k = cache.order.remove(at)?;
            cache.order.push_back(k);
        }
        Some(found)
    }

    fn compile_uncached(&self, constraint: &Constraint) -> Result<CompiledGrammar, GrammarError> {
        let kind = constraint.kind();
        let relaxed = match constraint {
            Constraint::JsonSchema { schema, strict } => crate::check_schema(schema, *strict)?,
            Constraint::ToolCalls(t) => crate::check_schema(&t.call_schema, t.strict)?,
            _ => Vec::new(),
        };
        let grammar = constraint.to_grammar()?;
        let classify = |message: String| {
            if message.contains("Unsatisfiable") {
                GrammarError::MatchesNothing { kind }
            } else if is_limit(&message) {
                GrammarError::TooComplex { kind, message }
            } else if let Some(keyword) = unimplemented_keyword(&message) {
                GrammarError::Unsupported {
                    keyword,
                    pointer: String::new(),
                }
            } else if message.contains("not present in a registry") {
                GrammarError::InvalidSchema {
                    pointer: String::new(),
                    message: format!(
                        "a `$ref` names a document dial does not fetch; only references inside the schema resolve ({})",
                        message.split(':').next().unwrap_or_default()
                    ),
                }
            } else if kind.starts_with("json schema") || kind == "tool calls" {
                GrammarError::InvalidSchema {
                    pointer: String::new(),
                    message,
                }
            } else {
                GrammarError::Invalid { kind, message }
            }
        };
        let mut parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| classify(format!("{e:#}")))?;
        // What a lenient schema approximated beyond the keywords the checks named.
        let mut relaxed = relaxed;
        for warning in parser.grammar_warnings() {
            if let Some(keyword) = unimplemented_keyword(&warning)
                && !relaxed.iter().any(|r| r.keyword == keyword)
            {
                relaxed.push(crate::Relaxed {
                    keyword,
                    pointer: String::new(),
                });
            }
        }
        if parser.is_fresh() {
            parser.start_without_prompt();
        }
        // The first mask tells whether anything at all can be said; the copies start warm.
        let mut probe = Matcher::new(Ok(parser.clone()));
        let mask = probe.compute_mask().map_err(|e| {
            let message = format!("{e:#}");
            // The parser stops at once when no byte can begin the output.
            if message.contains("NoExtension") {
                GrammarError::MatchesNothing { kind }
            } else {
                classify(message)
            }
        })?;
        if mask.is_zero() {
            return Err(GrammarError::MatchesNothing { kind });
        }
        Ok(CompiledGrammar {
            start: Mutex::new(parser),
            summary: constraint.summary(),
            relaxed,
        })
    }
}

impl std::fmt::Debug for GrammarEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarEngine")
            .field("vocabulary", self.vocabulary())
            .field("cached_grammars", &self.cached_grammars())
            .finish_non_exhaustive()
    }
}

/// Whether llguidance stopped on one of its work limits.
fn is_limit(message: &str) -> bool {
    [
        "fuel",
        "too large",
        "too many",
        "limit",
        "max_items",
        "lexer states",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// The keyword llguidance says it cannot enforce: `Unimplemented keys: ["not"]`, or one
/// of the keywords it enforces only in some shapes.
fn unimplemented_keyword(message: &str) -> Option<String> {
    for (says, keyword) in [
        ("oneOf constraints are not supported", "oneOf"),
        ("min/maxProperties only supported", "minProperties"),
        ("are not disjoint", "patternProperties"),
    ] {
        if message.contains(says) {
            return Some(keyword.to_string());
        }
    }
    let rest = message.split("Unimplemented keys: [").nth(1)?;
    let first = rest.split([',', ']']).next()?;
    Some(first.trim().trim_matches('"').to_string())
}
