//! The report of a run: each check's outcome, and a table.

use std::fmt;

use super::Outcome;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The check's name.
    pub name: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

/// The outcomes of a run, in run order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The backend label.
    pub backend: String,
    /// Every check run.
    pub entries: Vec<Entry>,
}

impl Report {
    /// An empty report for `backend`.
    pub fn new(backend: impl Into<String>) -> Self {
        Report {
            backend: backend.into(),
            entries: Vec::new(),
        }
    }

    /// Records an outcome.
    pub fn push(&mut self, name: &'static str, outcome: Outcome) {
        self.entries.push(Entry { name, outcome });
    }

    /// The names of the checks that passed.
    pub fn passed(&self) -> Vec<&'static str> {
        self.entries
            .iter()
            .filter(|e| e.outcome.is_passed())
            .map(|e| e.name)
            .collect()
    }

    /// The checks that failed, with the message.
    pub fn failed(&self) -> Vec<(&'static str, &str)> {
        self.entries
            .iter()
            .filter_map(|e| match &e.outcome {
                Outcome::Failed(m) => Some((e.name, m.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The checks that were skipped, with the reason.
    pub fn skipped(&self) -> Vec<(&'static str, &str)> {
        self.entries
            .iter()
            .filter_map(|e| match &e.outcome {
                Outcome::Skipped(m) => Some((e.name, m.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The outcome of one check, if it ran.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.outcome)
    }

    /// Whether no check failed.
    pub fn is_success(&self) -> bool {
        self.entries.iter().all(|e| !e.outcome.is_failed())
    }

    /// `"N passed, N failed, N skipped"`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed().len(),
            self.failed().len(),
            self.skipped().len()
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.entries.iter().map(|e| e.name.len()).max().unwrap_or(5);
        writeln!(f, "conformance on {}", self.backend)?;
        writeln!(f, "| {:<width$} | result |", "check")?;
        writeln!(f, "|{:-<w$}|--------|", "", w = width + 2)?;
        for e in &self.entries {
            let (tag, note) = match &e.outcome {
                Outcome::Passed => ("pass", ""),
                Outcome::Skipped(r) => ("skip", r.as_str()),
                Outcome::Failed(m) => ("FAIL", m.as_str()),
            };
            write!(f, "| {:<width$} | {tag:<6} |", e.name)?;
            if !note.is_empty() {
                write!(f, " {note}")?;
            }
            writeln!(f)?;
        }
        write!(f, "{}: {}", self.backend, self.summary())
    }
}
