//! The default settings and prompts.

/// The settings a sweep runs when none is given: `(name, knobs)`, the knobs in the syntax
/// of `dial generate --compare`. First the rows of Holtzman et al. (2020), Table 1, then
/// the knobs that came after the paper. Knobs not named keep their defaults (temperature
/// 1, nothing truncated), and temperature runs before the truncations, as in Hugging Face
/// transformers.
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("greedy", "temperature=0"),
    ("pure sampling", "temperature=1"),
    ("t=0.9", "temperature=0.9"),
    ("top-k 40", "top_k=40"),
    ("top-k 640", "top_k=640"),
    ("top-k 40, t=0.7", "top_k=40,temperature=0.7"),
    ("nucleus 0.95", "top_p=0.95"),
    ("min-p 0.1", "min_p=0.1"),
    ("min-p 0.1, t=1.5", "min_p=0.1,temperature=1.5"),
    ("top-nσ 1, t=1.5", "top_n_sigma=1,temperature=1.5"),
    ("typical 0.95", "typical_p=0.95"),
    (
        "top-k 40, t=0.7, DRY 0.8",
        "top_k=40,temperature=0.7,dry_multiplier=0.8",
    ),
    ("p-less", "p_less=true"),
    (
        "adaptive-p 0.4, min-p 0.05",
        "min_p=0.05,adaptive_target=0.4,adaptive_decay=0.9",
    ),
    ("quadratic 0.3", "smoothing_factor=0.3"),
];

/// The paper's cap on a continuation, in tokens.
pub const DEFAULT_MAX_TOKENS: usize = 200;

/// The default prompts, one per line: openings written for dial (see `prompts/README.md`).
pub const DEFAULT_PROMPTS: &str = include_str!("../prompts/openings.txt");

/// [`DEFAULT_PROMPTS`], line by line.
pub fn default_prompts() -> Vec<&'static str> {
    DEFAULT_PROMPTS
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Splits `--setting` text into its name and knobs. `NAME=KNOB=VALUE,...` is named
/// `NAME` (which cannot contain `=`); `KNOB=VALUE,...` (the text after its first `=` has
/// no `=` before its first `,`) is all knobs and names itself.
pub fn split_setting(spec: &str) -> (String, String) {
    let spec = spec.trim();
    if let Some((name, rest)) = spec.split_once('=') {
        let first_pair = rest.split(',').next().unwrap_or_default();
        if first_pair.contains('=') && !name.trim().is_empty() {
            return (name.trim().to_string(), rest.trim().to_string());
        }
    }
    (spec.to_string(), spec.to_string())
}
