//! Every knob as a command-line flag, generated from the knobs' own descriptions
//! (`dial_sampling::SamplingParams::fields`), so the CLI and the server take the same
//! names, aliases and ranges.

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use dial_sampling::{FieldKind, Knobs, Order, Sampler, SamplingParams};

/// The knob flags' values, as one [`SamplingParams`], and `--history`.
#[derive(Debug, Clone, Default)]
pub struct KnobArgs {
    /// Every knob field given on the command line, validated.
    pub params: SamplingParams,
    /// Prompt/history token ids seen by penalties and DRY.
    pub history: Vec<u32>,
}

/// Fields the CLI takes elsewhere (`--seed` belongs to each subcommand).
fn flag_fields() -> impl Iterator<Item = &'static dial_sampling::Field> {
    SamplingParams::fields().filter(|f| f.name != "seed")
}

fn long(name: &str) -> &'static str {
    // Flags live for the whole process; leaking the few dozen names once is fine.
    Box::leak(name.replace('_', "-").into_boxed_str())
}

impl Args for KnobArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for f in flag_fields() {
            let mut arg = Arg::new(f.name).long(long(f.name)).help(f.help);
            for alias in f.aliases {
                arg = arg.visible_alias(long(alias));
            }
            arg = match f.kind {
                FieldKind::Bool => arg.action(ArgAction::SetTrue),
                FieldKind::TokenBiases => arg.action(ArgAction::Append).value_name("ID=BIAS"),
                FieldKind::SequenceBiases => arg.action(ArgAction::Append).value_name("ID ID=BIAS"),
                FieldKind::TokenIds => arg.action(ArgAction::Append).value_name("IDS"),
                FieldKind::Strings => arg.action(ArgAction::Append).value_name("TEXT"),
                _ => arg.action(ArgAction::Set).allow_negative_numbers(true),
            };
            cmd = cmd.arg(arg);
        }
        cmd.arg(
            Arg::new("history")
                .long("history")
                .help("Prompt/history token ids seen by penalties and DRY, comma-separated.")
                .value_delimiter(',')
                .value_parser(clap::value_parser!(u32))
                .action(ArgAction::Append),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for KnobArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut out = KnobArgs::default();
        out.update_from_arg_matches(m)?;
        Ok(out)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for f in flag_fields() {
            let invalid = |e: dial_sampling::ParamsError| {
                let flag = f.name.replace('_', "-");
                clap::Error::raw(ErrorKind::ValueValidation, format!("--{flag}: {e}\n"))
            };
            match f.kind {
                FieldKind::Bool => {
                    if m.get_flag(f.name) {
                        self.params.set_text(f.name, "true").map_err(invalid)?;
                    }
                }
                FieldKind::Strings => {
                    if let Some(values) = m.get_many::<String>(f.name) {
                        let list: Vec<String> = values.cloned().collect();
                        self.params
                            .set(f.name, dial_sampling::Value::Strings(list))
                            .map_err(invalid)?;
                    }
                }
                FieldKind::TokenIds => {
                    if let Some(values) = m.get_many::<String>(f.name) {
                        let joined: Vec<&str> = values.map(String::as_str).collect();
                        self.params
                            .set_text(f.name, &joined.join(","))
                            .map_err(invalid)?;
                    }
                }
                _ => {
                    if let Some(values) = m.get_many::<String>(f.name) {
                        for v in values {
                            self.params.set_text(f.name, v).map_err(invalid)?;
                        }
                    }
                }
            }
        }
        if let Some(ids) = m.get_many::<u32>("history") {
            self.history = ids.copied().collect();
        }
        Ok(())
    }
}

impl KnobArgs {
    /// The knobs and order these flags describe (DRY without breakers: there is no text).
    pub fn build(&self) -> Result<(Knobs, Order), String> {
        let knobs = self.params.knobs().map_err(|e| e.to_string())?;
        // Building the chain checks conflicts and custom orders.
        Sampler::with_order(knobs.clone(), self.params.order().clone(), 0)
            .map_err(|e| e.to_string())?;
        Ok((knobs, self.params.order().clone()))
    }

    /// Every flag name, in snake_case (`top_p`), as `--grid` and `--compare` accept them.
    pub fn names() -> Vec<String> {
        flag_fields().map(|f| f.name.to_string()).collect()
    }

    /// A copy with one field set from text (`top_p`, `"0.9"`), validated as on the
    /// command line.
    pub fn with_setting(&self, name: &str, value: &str) -> Result<KnobArgs, String> {
        let mut out = self.clone();
        let field = SamplingParams::field(name.trim()).filter(|f| f.name != "seed");
        let Some(field) = field else {
            return Err(format!(
                "unknown knob {name:?} (known: {})",
                Self::names().join(", ")
            ));
        };
        if field.kind == FieldKind::Strings {
            out.params.remove(field.name);
        }
        out.params
            .set_text(field.name, value)
            .map_err(|e| format!("{name}={value}: {e}"))?;
        Ok(out)
    }

    /// A sampler for these flags, seeded, with `--history` as its prompt.
    pub fn sampler(&self, seed: u64) -> Result<Sampler, String> {
        let mut sampler = self.params.sampler(seed).map_err(|e| e.to_string())?;
        sampler.set_prompt(&self.history);
        Ok(sampler)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        knobs: KnobArgs,
    }

    #[test]
    fn flags_come_from_the_knob_registry() {
        let cli = Cli::try_parse_from([
            "dial",
            "--temperature",
            "0.7",
            "--repeat-penalty",
            "1.2",
            "--logit-bias",
            "3=-2",
            "--logit-bias",
            "4=1.5",
            "--ban",
            "1,2",
            "--order",
            "temperature-last",
        ])
        .unwrap();
        let p = &cli.knobs.params;
        assert_eq!(p.number("repetition_penalty"), Some(1.2));
        assert_eq!(p.token_biases("logit_bias").map(<[_]>::len), Some(2));
        assert_eq!(p.token_ids("banned_tokens"), Some(&[1u32, 2][..]));
        assert_eq!(p.order(), &Order::TemperatureLast);
        for f in flag_fields() {
            assert!(KnobArgs::names().contains(&f.name.to_string()));
        }
        let err = Cli::try_parse_from(["dial", "--temperature", "3"]).unwrap_err();
        assert!(err.to_string().contains("temperature"), "{err}");
    }
}
