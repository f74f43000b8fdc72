//! Workflow module `adopt`.
