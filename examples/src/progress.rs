//! Progress lines while workflows wait, from the `tracing` events of `ami_core::ops`.
//!
//! The workflows report their waits as events (`still waiting`, `copy pending`, `wait
//! complete`). [`ProgressLayer`] turns them into one stamped line per waited-for resource every
//! few (virtual) minutes, plus a line when the wait ends, so a long wait shows that it is
//! alive without flooding the terminal. The lines are plain text: readable in a log file and
//! in CI as well as on a terminal. With `verbose`, every event of the workspace is printed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use ami_core::Timestamp;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::timeline::{human, Timeline};

/// How often one waited-for resource gets a progress line.
const EVERY: Duration = Duration::from_secs(5 * 60);

/// A `tracing` layer printing progress lines on a [`Timeline`].
pub struct ProgressLayer {
    timeline: Timeline,
    verbose: bool,
    last: Mutex<BTreeMap<String, Timestamp>>,
}

impl fmt::Debug for ProgressLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressLayer")
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

impl ProgressLayer {
    /// Progress lines on `timeline`; with `verbose`, every event of the workspace too.
    pub fn new(timeline: Timeline, verbose: bool) -> Self {
        ProgressLayer {
            timeline,
            verbose,
            last: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether the line about `key` is due (first time, or `EVERY` since the last one).
    fn due(&self, key: &str) -> bool {
        let now = self.timeline.now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(key) {
            Some(t) if now.since(*t) < EVERY => false,
            _ => {
                last.insert(key.to_owned(), now);
                true
            }
        }
    }

    fn forget(&self, key: &str) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The fields of one event, as text.
#[derive(Default)]
struct Fields {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Fields {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("?")
    }

    fn millis(&self, k: &str) -> Duration {
        Duration::from_millis(self.get(k).parse().unwrap_or(0))
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if self.timeline.is_muted() || !meta.target().starts_with("ami_") {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        match f.message.as_str() {
            "still waiting" => {
                let what = f.get("what").to_owned();
                if self.due(&what) {
                    let waited = f.millis("waited_ms");
                    self.timeline.event(if waited.is_zero() {
                        format!("... waiting for {what} ({})", f.get("state"))
                    } else {
                        format!(
                            "... still waiting for {what}: {} after {} ({} polls)",
                            f.get("state"),
                            human(waited),
                            f.get("polls")
                        )
                    });
                }
            }
            "copy pending" => {
                let dest = f.get("destination").to_owned();
                if self.due(&format!("copy {dest}")) {
                    self.timeline
                        .event(format!("... copy {} to {dest}: pending", f.get("image")));
                }
            }
            "wait complete" => {
                let what = f.get("what").to_owned();
                self.forget(&what);
                let waited = f.millis("waited_ms");
                if waited > Duration::ZERO {
                    self.timeline.event(format!(
                        "done waiting for {what} after {} ({} polls)",
                        human(waited),
                        f.get("polls")
                    ));
                }
            }
            _ if self.verbose || *meta.level() <= Level::WARN => {
                let fields: Vec<String> =
                    f.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.timeline.event(format!(
                    "{} {}: {} {}",
                    meta.level(),
                    meta.target(),
                    f.message,
                    fields.join(" ")
                ));
            }
            _ => {}
        }
    }
}
