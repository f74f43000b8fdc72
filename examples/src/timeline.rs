//! The story as it happens: steps and details, each stamped with the (virtual) clock.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ami_core::{Clock, Timestamp};

/// Prints a timeline: numbered steps stamped with the time elapsed since the start (virtual on
/// the simulator), and indented details under them. Cloning shares the clock and the mute
/// switch.
#[derive(Clone)]
pub struct Timeline {
    clock: Arc<dyn Clock>,
    start: Arc<AtomicI64>,
    step: Arc<AtomicU32>,
    muted: Arc<AtomicBool>,
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeline")
            .field("start", &self.start())
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// Prints a line on stdout; a closed stdout (`| head`) is not an error worth a panic.
pub fn say(line: impl fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `h:mm:ss` (with days when longer than a day).
pub(crate) fn clock_text(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    if days > 0 {
        format!("{days}d{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// A short human duration: `45s`, `12m30s`, `3h05m`, `2d04h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

impl Timeline {
    /// A timeline that starts now on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let start = clock.now();
        Timeline {
            clock,
            start: Arc::new(AtomicI64::new(start.as_millis())),
            step: Arc::new(AtomicU32::new(0)),
            muted: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// When the timeline started (or was last restarted).
    pub fn start(&self) -> Timestamp {
        Timestamp::from_millis(self.start.load(Ordering::SeqCst))
    }

    /// Stamps are relative to now from here on.
    pub fn restart(&self) {
        self.start
            .store(self.clock.now().as_millis(), Ordering::SeqCst);
    }

    /// The time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().since(self.start())
    }

    /// The clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Silences (or restores) every line, progress lines included.
    pub fn mute(&self, yes: bool) {
        self.muted.store(yes, Ordering::SeqCst);
    }

    /// Whether lines are silenced.
    pub fn is_muted(&self) -> bool {
        self.muted.load(Ordering::SeqCst)
    }

    /// The stamp at the start of a line: `[+hh:mm:ss]`.
    pub fn stamp(&self) -> String {
        format!("[+{}]", clock_text(self.elapsed()))
    }

    /// A title line, unnumbered and unstamped.
    pub fn title(&self, text: impl fmt::Display) {
        if !self.is_muted() {
            say(text);
        }
    }

    /// The next numbered step (muted steps are not counted).
    pub fn step(&self, text: impl fmt::Display) {
        if self.is_muted() {
            return;
        }
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        say("");
        say(format!("{} {n:>2}. {text}", self.stamp()));
    }

    /// A detail under the current step.
    pub fn detail(&self, text: impl fmt::Display) {
        if !self.is_muted() {
            for line in text.to_string().lines() {
                say(format!("{:14}{line}", ""));
            }
        }
    }

    /// A detail under the current step, stamped with the time.
    pub fn event(&self, text: impl fmt::Display) {
        if !self.is_muted() {
            say(format!("{:4}{}  {text}", "", self.stamp()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations() {
        assert_eq!(clock_text(Duration::from_secs(3725)), "01:02:05");
        assert_eq!(clock_text(Duration::from_secs(90_061)), "1d01:01:01");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(750)), "12m30s");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 300)), "3h05m");
        assert_eq!(human(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d04h");
    }
}
