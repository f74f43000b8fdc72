//! Workflow module `govern`.
