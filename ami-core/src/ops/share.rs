//! Workflow module `share`.
