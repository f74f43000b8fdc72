//! The workflows users call, generic over the [`Connector`](crate::Connector).
//!
//! | workflow | what it does |
//! |---|---|
//! | [`wait`] | wait until an image is available: backoff with jitter, one deadline, fail fast |
//! | [`bake`] | an image from an instance, with an explicit consistency choice |
//! | [`share`] | plan and apply launch permissions, snapshot permissions and KMS key access |
//! | [`adopt`] | copy an image shared with you into your account, so you own it |
//! | [`distribute`] | copy to Regions and accounts, journaled, resumable, rolled back on demand |
//! | [`dry_run`] | a plan checked by AWS itself (`DryRun=true` on every changing call), changing nothing |
//! | [`journal`] | the append-only journal distribute records every step in |
//! | [`retire`] | retention policy → explained plan → staged retirement, never an image in use |
//! | [`pipeline`] | build → test → distribute on a schedule, and scheduled reboot-consistent images |
//! | [`govern`] | approved-image policy: IAM policy, Allowed-AMIs criteria, compliance scan |

pub mod adopt;
pub mod bake;
pub mod distribute;
pub mod dry_run;
pub mod govern;
mod images;
pub mod journal;
pub mod pipeline;
pub mod retire;
mod retry;
pub mod share;
pub mod wait;
