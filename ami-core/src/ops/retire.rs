//! Workflow module `retire`.
