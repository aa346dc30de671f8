//! What the command line says of itself, for shells and `man`: completion
//! scripts (clap_complete) and manual pages (clap_mangen), both made from
//! the same definitions as `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// Writes `shell`'s completion script for `qasearch` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "qasearch", out);
}

/// Writes the manual page `qasearch.1` (roff) to `out`.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `qasearch.1` and one page per command (`qasearch-ask.1`, …) into
/// `dir`, creating it; returns how many pages.
pub fn man_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    clap_mangen::generate_to(cmd.clone(), dir)?;
    Ok(1 + cmd.get_subcommands().count())
}

/// `qasearch man --dir DIR`: every page into `dir`, saying how many.
pub fn man_pages_into(dir: &Path) -> qasearch::Result<()> {
    let pages = man_pages(dir).map_err(|e| qasearch::Error::io("writing", dir, e))?;
    log::info!("{pages} manual pages written to {}", dir.display());
    Ok(())
}
