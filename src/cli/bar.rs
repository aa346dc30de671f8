//! Progress on a terminal (indicatif): what a long build or evaluation is
//! doing, how far it is, and how long it has left.

use qasearch::progress::{Progress, Stage};

/// Progress on stderr: a bar while embedding, a spinner while building the graph.
pub struct Bar {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    /// Progress shown unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Bar { quiet, bar: None }
    }
}

impl Progress for Bar {
    fn start(&mut self, stage: Stage, total: u64) {
        if self.quiet || total == 0 {
            return;
        }
        let (template, what) = match stage {
            Stage::Embedding => (
                "{msg:>10} [{bar:30}] {pos}/{len} texts, {per_sec}, ETA {eta}",
                "embedding",
            ),
            Stage::Graph => ("{msg:>10} {spinner} {len} vectors", "linking"),
            Stage::Sparse => (
                "{msg:>10} [{bar:30}] {pos}/{len} pairs (sparse), {per_sec}, ETA {eta}",
                "encoding",
            ),
            Stage::Queries => (
                "{msg:>10} [{bar:30}] {pos}/{len} queries, {per_sec}, ETA {eta}",
                "evaluating",
            ),
            Stage::Writing => return,
        };
        if stage == Stage::Embedding {
            // Every text that gets a vector, new since the last build.
            log::info!(
                "embedding {total} texts (answer and passage sentences, whole answers, stored questions)"
            );
        }
        let style = indicatif::ProgressStyle::with_template(template)
            .expect("invariant: valid template")
            .progress_chars("=> ");
        let bar = indicatif::ProgressBar::new(total)
            .with_style(style)
            .with_message(what);
        if stage == Stage::Graph {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        self.bar = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
