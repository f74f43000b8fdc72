//! Workflow module `journal`.
