//! The plan benches' generated stack (see `stack.rs`) written as YAML files, as a user's
//! repository would hold it: ConfigMaps in namespace `team`, each depending on about two
//! earlier ones through `strata.dev/depends-on`, a fixed number of documents per file.

use std::fmt::Write as _;
use std::path::Path;

/// Documents per file (100 files for 100 000 resources).
pub const PER_FILE: usize = 1_000;

/// The YAML text of ConfigMaps `start..end`, one document each, in `stack.rs`'s shape.
pub fn yaml_of(start: usize, end: usize) -> String {
    let mut text = String::with_capacity((end - start) * 240);
    for i in start..end {
        let deps: Vec<String> = [i / 2, i.saturating_sub(7)]
            .into_iter()
            .filter(|&d| d < i)
            .map(|d| format!("ConfigMap/team/c{d}"))
            .collect();
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n  namespace: team\n  \
             annotations:\n    strata.dev/depends-on: \"{}\"\ndata:\n  index: \"{i}\"\n  \
             owner: platform\n  tier: backend\n",
            deps.join(",")
        );
    }
    text
}

/// Writes a stack of `count` resources into `dir` (created; files `stack-00000.yaml`, …,
/// [`PER_FILE`] documents each). Returns the bytes written.
pub fn write_stack(dir: &Path, count: usize) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut bytes = 0;
    for (file, start) in (0..count).step_by(PER_FILE).enumerate() {
        let text = yaml_of(start, (start + PER_FILE).min(count));
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("stack-{file:05}.yaml")), text)?;
    }
    Ok(bytes)
}
