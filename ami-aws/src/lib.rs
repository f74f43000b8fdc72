//! # ami-aws: the ami-core traits on the AWS SDK for Rust
