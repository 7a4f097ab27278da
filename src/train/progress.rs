//! The per-epoch progress bar (hidden when progress is off or stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

pub fn epoch_bar(show: bool, steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64);
    let style = ProgressStyle::with_template(&format!("epoch {}/{epochs} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed}}]", epoch + 1))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
