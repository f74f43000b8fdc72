//! Workflow module `pipeline`.
