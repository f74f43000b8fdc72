//! Workflow module `wait`.
