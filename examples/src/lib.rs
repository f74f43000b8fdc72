//! # ami-examples: the workspace's runnable stories
//!
//! Every binary of this crate runs on the deterministic simulator [`ami_sim`] by default, in a
//! paused tokio runtime, so an hour of AWS waiting passes in milliseconds and the same `--seed`
//! prints the same story, byte for byte:
//!
//! | binary | the story |
//! |---|---|
//! | `golden-image` | the whole mission: build, test, distribute, share, adopt, approve, guard, scan, retire |
//! | `share-encrypted` | why an `aws/ebs` image cannot be shared; re-encrypt, share with the key policy, revoke |
//! | `cross-account-copy` | a consumer copies a shared image into its own account and owns it |
//! | `approved-amis` | an approved-image policy: IAM document, launch guard, compliance scan |
//! | `retire` | retention by policy, never retiring an image still in use |
//! | `resume` | a distribution interrupted half-way: resumed from its journal, or rolled back |
//!
//! ```text
//! cargo run -p ami-examples --bin golden-image            # on the simulator
//! cargo run -p ami-examples --bin golden-image -- --seed 7
//! cargo run -p ami-examples --bin golden-image -- --faults 0.1   # 10% of calls throttled
//! cargo run -p ami-examples --features aws --bin golden-image -- --endpoint http://127.0.0.1:5000
//! ```
//!
//! This library holds what the stories share: the command line ([`Options`]), the backend
//! ([`World`]: the simulator, or AWS behind the `aws` feature), the timeline printed with
//! virtual timestamps ([`Timeline`]), the progress lines shown while workflows wait
//! ([`progress`]), and the retry of the stories' own calls through transient errors
//! ([`retry()`]).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod args;
pub mod progress;
mod retry;
mod runner;
mod timeline;
mod world;

pub use args::{Options, Target};
pub use retry::retry;
pub use runner::main_with;
pub use timeline::{human, say, Timeline};
pub use world::{Cast, World};

/// The README's code examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
