//! Workflow module `bake`.
