//! `nvfix man DIR`: writes the man pages (nvfix.1, one nvfix-<command>.1 per command, nvfix-playbook.5), which
//! `render::man` makes from clap's model and each command's `DOC`; committed under man/.

use super::completions::documented_command;
use crate::cli::ManArgs;
use crate::exit;
use crate::host::atomic_write::{write_file, DirRule};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Every page as (file name, roff text).
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut top = documented_command().disable_help_subcommand(true);
    top.build();
    let pages = crate::render::man::pages(&top).map_err(anyhow::Error::msg)?;
    Ok(pages
        .into_iter()
        .map(|(name, text)| (name, text.into_bytes()))
        .collect())
}

/// Writes every page into `dir` (created if missing); returns the paths written.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (file, bytes) in pages()? {
        let path = dir.join(file);
        write_file(&path, &bytes, 0o644, DirRule::Shared { create_mode: 0o755 })?;
        written.push(path);
    }
    Ok(written)
}

pub fn run(args: &ManArgs) -> anyhow::Result<i32> {
    for path in write_all(&args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?
    {
        crate::outln!("{}", path.display());
    }
    Ok(exit::OK)
}
