//! Workflow module `distribute`.
