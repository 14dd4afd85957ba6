//! `dial fetch`: download and verify the default model into the cache.

use crate::model_args::ModelArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: &FetchArgs) -> Result<String, String> {
    if args.model.model.is_some() {
        return Err("dial fetch downloads the default model; --model names a local file".into());
    }
    let path = args.model.path()?;
    Ok(format!("{}\n", path.display()))
}
