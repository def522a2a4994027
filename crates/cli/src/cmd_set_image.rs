//! `strata set-image`: promote an image by editing an overlay's kustomization in place.

use anyhow::{Context, anyhow};
use strata_sources::kustomize::{KUSTOMIZATION_FILES, SetImage, set_image};

use crate::args::SetImageArgs;
use crate::commands::ExitCode;

/// Edits the kustomization of `args.overlay`, keeping comments and order.
pub fn run(args: SetImageArgs) -> anyhow::Result<ExitCode> {
    crate::paths::existing(&args.overlay)?;
    let file = if args.overlay.is_file() {
        args.overlay.clone()
    } else {
        KUSTOMIZATION_FILES
            .iter()
            .map(|f| args.overlay.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("{}: no kustomization.yaml", args.overlay.display()))?
    };
    let mut text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
    for image in &args.images {
        let set = SetImage::parse(image)?;
        text = set_image(&text, &set).with_context(|| format!("{}", file.display()))?;
    }
    let tmp = file.with_extension("yaml.strata-tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("{}", file.display()))?;
    eprintln!("Updated {}", file.display());
    Ok(0)
}
