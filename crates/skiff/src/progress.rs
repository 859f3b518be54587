//! Progress of an `up`: live lines on a terminal, plain timestamped lines otherwise, JSON
//! events for scripts. All three read the executor's one event stream.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_plan::Action;
use skiff_runtime::Event;

/// How an action is shown: what it acts on (`container shop-db-1`, `process shop-api-1`) and
/// what it does to it.
pub type Describe = Box<dyn Fn(&Action) -> (String, String) + Send + Sync>;

/// Where progress goes, chosen once per command.
pub struct Progress {
    describe: Describe,
    start: Instant,
    output: Output,
}

enum Output {
    Json,
    Plain,
    Live {
        bars: MultiProgress,
        rows: Mutex<HashMap<String, ProgressBar>>,
    },
}

/// Whether standard error is a terminal that can redraw live rows (not a pipe, a CI log or
/// `TERM=dumb`).
#[must_use]
pub fn redraws() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
        && std::env::var_os("CI").is_none()
}

impl Progress {
    /// JSON when asked; live rows when standard error is a terminal that can redraw; plain
    /// lines otherwise (CI logs, pipes, `TERM=dumb`).
    #[must_use]
    pub fn new(json: bool, describe: Describe) -> Progress {
        let output = if json {
            Output::Json
        } else if redraws() {
            Output::Live {
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
                rows: Mutex::new(HashMap::new()),
            }
        } else {
            Output::Plain
        };
        Progress {
            describe,
            start: Instant::now(),
            output,
        }
    }

    /// Shows one event.
    pub fn event(&self, e: &Event) {
        match &self.output {
            Output::Json => line(&serde_json::to_string(e).unwrap_or_default()),
            Output::Plain => {
                let t = self.start.elapsed().as_secs_f64();
                line(&format!("[{t:6.2}s] {}", self.text(e)));
            }
            Output::Live { bars, rows } => self.live(bars, rows, e),
        }
    }

    fn text(&self, e: &Event) -> String {
        match e {
            Event::Started { action } => {
                let (what, how) = (self.describe)(action);
                format!("{what}: {how} ...")
            }
            Event::Done { action, seconds } => {
                let (what, _) = (self.describe)(action);
                format!("{what}: done in {seconds:.2}s")
            }
            Event::Failed { action, error } => {
                let (what, _) = (self.describe)(action);
                format!("{what}: FAILED: {error}")
            }
            Event::Waiting {
                service,
                dependency,
                condition,
            } => format!(
                "service {service}: waiting for {dependency} ({})",
                condition_name(*condition)
            ),
            Event::Ready {
                service,
                dependency,
            } => format!("service {service}: {dependency} is ready"),
        }
    }

    fn live(&self, bars: &MultiProgress, rows: &Mutex<HashMap<String, ProgressBar>>, e: &Event) {
        let Ok(mut rows) = rows.lock() else { return };
        let mut row = |key: String, message: String| {
            let bar = rows
                .entry(key.clone())
                .or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new_spinner());
                    bar.set_style(running_style());
                    bar.set_prefix(key);
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                })
                .clone();
            bar.set_message(message);
            bar
        };
        match e {
            Event::Started { action } => {
                let (what, how) = (self.describe)(action);
                row(what, how);
            }
            Event::Done { action, seconds } => {
                let (what, how) = (self.describe)(action);
                let bar = row(what, String::new());
                bar.set_style(finished_style("✔"));
                bar.finish_with_message(format!("{how}: done in {seconds:.2}s"));
            }
            Event::Failed { action, error } => {
                let (what, _) = (self.describe)(action);
                let bar = row(what, String::new());
                bar.set_style(finished_style("✘"));
                bar.finish_with_message(format!("failed: {error}"));
            }
            Event::Waiting {
                service,
                dependency,
                condition,
            } => {
                row(
                    format!("service {service}"),
                    format!("waiting for {dependency} ({})", condition_name(*condition)),
                );
            }
            Event::Ready {
                service,
                dependency,
            } => {
                let bar = row(format!("service {service}"), String::new());
                bar.set_style(finished_style("✔"));
                bar.finish_with_message(format!("{dependency} is ready"));
            }
        }
    }

    /// Stops redrawing; rows stay on the screen as they are.
    pub fn finish(&self) {
        if let Output::Live { rows, .. } = &self.output
            && let Ok(rows) = rows.lock()
        {
            for bar in rows.values().filter(|b| !b.is_finished()) {
                bar.abandon();
            }
        }
    }
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn finished_style(mark: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!("{mark} {{prefix:.bold}} {{wide_msg}}"))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn condition_name(c: skiff_plan::Condition) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
