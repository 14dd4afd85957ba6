//! Every knob as a command-line flag, shared by the subcommands.

use clap::{Args, CommandFactory, Parser};
use dial_sampling::{
    AllowedTokens, BannedTokens, Dry, DynamicTemperature, Knobs, LogitBias, MinP, Mirostat,
    MirostatV2, Order, Penalties, PenaltyScope, Sampler, Temperature, TopK, TopNSigma, TopP,
    TypicalP, Xtc,
};

/// Parses one `--flag value` onto a copy of the knobs.
#[derive(Debug, clap::Parser)]
#[command(no_binary_name = true)]
struct Override {
    #[command(flatten)]
    knobs: KnobArgs,
}

#[derive(Debug, Args, Clone, Default)]
pub struct KnobArgs {
    /// Divide logits by T (0 = greedy).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    /// Keep the k most likely tokens (0 = off).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the smallest set whose mass reaches p (1 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Keep tokens with p ≥ min_p · p_max (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub min_p: Option<f32>,
    /// Locally typical sampling mass (1 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub typical_p: Option<f32>,
    /// Keep logits within n standard deviations of the max (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub top_n_sigma: Option<f32>,
    /// Dynamic temperature half-width; with --temperature as centre.
    #[arg(long, allow_negative_numbers = true)]
    pub dynamic_temperature_range: Option<f32>,
    /// Dynamic temperature exponent (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub dynamic_temperature_exponent: Option<f32>,
    /// XTC trigger probability.
    #[arg(long, allow_negative_numbers = true)]
    pub xtc_probability: Option<f32>,
    /// XTC threshold (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub xtc_threshold: Option<f32>,
    /// Mirostat v1 target surprise tau (bits).
    #[arg(long, allow_negative_numbers = true)]
    pub mirostat: Option<f32>,
    /// Mirostat v2 target surprise tau (bits).
    #[arg(long, allow_negative_numbers = true)]
    pub mirostat_v2: Option<f32>,
    /// Mirostat learning rate (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub mirostat_eta: Option<f32>,
    /// Repetition penalty (1 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub repetition_penalty: Option<f32>,
    /// Frequency penalty (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub frequency_penalty: Option<f32>,
    /// Presence penalty (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub presence_penalty: Option<f32>,
    /// Penalties look at the last N tokens only.
    #[arg(long)]
    pub penalty_window: Option<usize>,
    /// Frequency/presence penalties also count prompt tokens.
    #[arg(long)]
    pub penalize_prompt: bool,
    /// DRY multiplier (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub dry_multiplier: Option<f32>,
    /// DRY base (default 1.75).
    #[arg(long, allow_negative_numbers = true)]
    pub dry_base: Option<f32>,
    /// DRY allowed length (default 2).
    #[arg(long)]
    pub dry_allowed_length: Option<usize>,
    /// DRY sequence breaker token ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub dry_breakers: Vec<u32>,
    /// Add a bias to a token's logit: ID=BIAS (repeatable).
    #[arg(long, value_parser = parse_bias)]
    pub logit_bias: Vec<(u32, f32)>,
    /// Token ids that may never be drawn, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ban: Vec<u32>,
    /// Only these token ids may be drawn, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<u32>,
    /// Prompt/history token ids seen by penalties and DRY, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub history: Vec<u32>,
    /// Knob order: temperature-first (default), temperature-last, or a comma list of knobs.
    #[arg(long, default_value = "temperature-first")]
    pub order: String,
}

fn parse_bias(s: &str) -> Result<(u32, f32), String> {
    let (id, bias) = s
        .split_once('=')
        .ok_or_else(|| format!("--logit-bias expects ID=BIAS, got {s:?}"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|_| format!("--logit-bias: {id:?} is not a token id"))?;
    let bias = bias
        .trim()
        .parse()
        .map_err(|_| format!("--logit-bias: {bias:?} is not a number"))?;
    Ok((id, bias))
}

impl KnobArgs {
    /// The knobs and order these flags describe.
    pub fn build(&self) -> Result<(Knobs, Order), String> {
        let e = |err: dial_sampling::ParamError| err.to_string();
        let mut k = Knobs::default();
        match (self.temperature, self.dynamic_temperature_range) {
            (t, Some(range)) => {
                let exponent = self.dynamic_temperature_exponent.unwrap_or(1.0);
                k.dynamic_temperature =
                    Some(DynamicTemperature::new(t.unwrap_or(1.0), range, exponent).map_err(e)?);
            }
            (Some(t), None) => k.temperature = Some(Temperature::new(t).map_err(e)?),
            (None, None) => {}
        }
        k.top_k = self.top_k.map(TopK::new);
        k.top_p = self.top_p.map(TopP::new).transpose().map_err(e)?;
        k.min_p = self.min_p.map(MinP::new).transpose().map_err(e)?;
        k.typical_p = self.typical_p.map(TypicalP::new).transpose().map_err(e)?;
        k.top_n_sigma = self
            .top_n_sigma
            .map(TopNSigma::new)
            .transpose()
            .map_err(e)?;
        if let Some(p) = self.xtc_probability {
            k.xtc = Some(Xtc::new(p, self.xtc_threshold.unwrap_or(0.1)).map_err(e)?);
        }
        let eta = self.mirostat_eta.unwrap_or(0.1);
        k.mirostat = self
            .mirostat
            .map(|tau| Mirostat::new(tau, eta))
            .transpose()
            .map_err(e)?;
        k.mirostat_v2 = self
            .mirostat_v2
            .map(|tau| MirostatV2::new(tau, eta))
            .transpose()
            .map_err(e)?;
        if self.repetition_penalty.is_some()
            || self.frequency_penalty.is_some()
            || self.presence_penalty.is_some()
        {
            let p = Penalties::new(
                self.repetition_penalty.unwrap_or(1.0),
                self.frequency_penalty.unwrap_or(0.0),
                self.presence_penalty.unwrap_or(0.0),
            )
            .map_err(e)?
            .with_window(self.penalty_window);
            let fp_scope = if self.penalize_prompt {
                PenaltyScope::PromptAndGenerated
            } else {
                PenaltyScope::Generated
            };
            k.penalties = Some(p.with_scopes(PenaltyScope::PromptAndGenerated, fp_scope));
        }
        if let Some(m) = self.dry_multiplier {
            k.dry = Some(
                Dry::new(
                    m,
                    self.dry_base.unwrap_or(1.75),
                    self.dry_allowed_length.unwrap_or(2),
                    self.penalty_window,
                    self.dry_breakers.iter().copied(),
                )
                .map_err(e)?,
            );
        }
        if !self.logit_bias.is_empty() {
            k.logit_bias = Some(LogitBias::new(self.logit_bias.iter().copied()).map_err(e)?);
        }
        if !self.ban.is_empty() {
            k.banned_tokens = Some(BannedTokens::new(self.ban.iter().copied()));
        }
        if !self.allow.is_empty() {
            k.allowed_tokens = Some(AllowedTokens::new(self.allow.iter().copied()));
        }
        let order: Order = self
            .order
            .parse()
            .map_err(|err: dial_sampling::ConfigError| err.to_string())?;
        Ok((k, order))
    }

    /// Every flag name, in snake_case (`top_p`), as `--grid` and `--compare` accept them.
    pub fn names() -> Vec<String> {
        Override::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| l.replace('-', "_")))
            .collect()
    }

    /// A copy with one flag set from text (`top_p`, `"0.9"`), parsed and validated as on
    /// the command line.
    pub fn with_setting(&self, name: &str, value: &str) -> Result<KnobArgs, String> {
        let name = name.trim().replace('-', "_");
        if !Self::names().contains(&name) {
            return Err(format!(
                "unknown knob {name:?} (known: {})",
                Self::names().join(", ")
            ));
        }
        let mut o = Override {
            knobs: self.clone(),
        };
        o.try_update_from([
            format!("--{}", name.replace('_', "-")),
            value.trim().to_string(),
        ])
        .map_err(|e| {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            format!("{name}={value}: {}", first.trim_start_matches("error: "))
        })?;
        Ok(o.knobs)
    }

    /// A sampler for these flags, seeded, with `--history` as its prompt.
    pub fn sampler(&self, seed: u64) -> Result<Sampler, String> {
        let (knobs, order) = self.build()?;
        let mut sampler = Sampler::with_order(knobs, order, seed).map_err(|e| e.to_string())?;
        sampler.set_prompt(&self.history);
        Ok(sampler)
    }
}
