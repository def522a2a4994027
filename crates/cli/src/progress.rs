//! Drawing apply progress from executor events.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use strata_core::executor::{Event, EventSink};
use strata_core::plan::Action;

/// Renders events: a progress bar on a terminal, one line per event otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress for `total` changes.
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::NoOp => "checking",
        Action::Create => "creating",
        Action::Update => "updating",
        Action::DeleteThenCreate | Action::CreateThenDelete => "replacing",
        Action::Delete => "destroying",
        _ => "changing",
    }
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        match event {
            Event::Started { key, action } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{} {key}", verb(action)));
                } else {
                    eprintln!("{key}: {}...", verb(action));
                }
            }
            Event::Succeeded {
                key,
                action,
                elapsed,
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.line(format!("{key}: {} done ({:.1?})", verb(action), elapsed));
            }
            Event::Failed { key, error, .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.line(format!("{key}: failed: {error}"));
            }
            Event::Skipped { key, reason, .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.line(format!("{key}: skipped: {reason}"));
            }
            Event::Retrying {
                key,
                attempt,
                delay,
                error,
            } => self.line(format!(
                "{key}: attempt {attempt} failed ({error}); retrying in {delay:.1?}"
            )),
            // Events added by later versions of the executor are not drawn.
            _ => {}
        }
    }
}
