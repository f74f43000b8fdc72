//! Distribute an image to Regions and accounts: planned, journaled, resumable, and rolled back
//! on demand with nothing orphaned.
//!
//! 1. [`plan`] turns a [`DistributionSpec`] into a [`DistributionPlan`] after pre-flight checks
//!    in every target Region (names free, keys usable and customer managed wherever a copy is
//!    shared, Regions valid). Print it: it implements `Display`.
//! 2. [`apply`] executes it. The source is shared first with the accounts that receive their
//!    own copies (launch permission, snapshot create-volume permission, key access), through
//!    [`ops::share`](crate::ops::share). Every copy is
//!    made with a [`ClientToken`](crate::ClientToken) derived from the run id and the
//!    destination, with a bounded number in flight per destination Region; each waits until
//!    available, then gets its launch permissions (and the key access launching needs, again
//!    through `ops::share`) and its
//!    deprecation time. Deregistration protection comes last, once every copy is complete, so a
//!    failure can always be cleaned up. Every step goes to a [`JournalStore`] first.
//! 3. If the process stops, [`resume`] continues from the journal alone: an intent without its
//!    outcome is settled with the same client token, so no copy is ever made twice.
//! 4. [`rollback`] removes every image and snapshot the run created (pending copies too:
//!    the pending image is deregistered, then its snapshots deleted) and revokes the sharing it
//!    added to the source; it never touches anything the journal does not name.
//!
//! A Region that keeps failing can be given up ([`FailurePolicy::SkipRegion`]): what the run
//! made there is removed, the other Regions complete, and the [`Manifest`] lists the skipped
//! destinations with the reason.
//!
//! ```no_run
//! # async fn demo(connector: &dyn ami_core::Connector) -> ami_core::Result<()> {
//! use ami_core::ops::distribute::{self, DistributeOptions, DistributionSpec, Protection};
//! use ami_core::ops::journal::FileJournal;
//!
//! let owner = "111122223333".parse()?;
//! let spec = DistributionSpec::new(owner, "us-east-1".parse()?, "ami-0123456789abcdef0".parse()?)
//!     .regions(["eu-west-1".parse()?, "ap-south-1".parse()?])
//!     .kms_key("eu-west-1".parse()?, "alias/golden".parse()?)
//!     .kms_key("ap-south-1".parse()?, "alias/golden".parse()?)
//!     .tag("Team", "platform")
//!     .protect(Protection::WithoutCooldown);
//! let plan = distribute::plan(connector, &spec).await?;
//! println!("{plan}");
//! let journal = FileJournal::open("golden.journal")?;
//! let manifest = distribute::apply(connector, &plan, &journal, &DistributeOptions::default()).await?;
//! println!("{}", manifest.to_json()?);
//! # Ok(()) }
//! ```

mod apply;
mod dry_run;
mod manifest;
mod plan;
mod progress;
mod rollback;
mod spec;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::ops::retry::RetryPolicy;
pub use apply::{apply, resume};
pub use dry_run::dry_run_apply;
pub use manifest::{Manifest, ManifestEntry, SkippedDestination};
pub use plan::{plan, DistributionPlan, PlannedCopy, RUN_TAG};
pub use rollback::{rollback, RollbackReport};
pub use spec::{AccountCopies, Destination, DistributionSpec, Protection, SourceImage};

#[allow(unused_imports)] // referenced by the docs above
use crate::ops::journal::JournalStore;

/// What to do when a destination keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FailurePolicy {
    /// Stop the whole run at the first destination that fails for good; the journal keeps
    /// everything, to [`resume`] or [`rollback`].
    #[default]
    Abort,
    /// Give up a Region once one of its calls failed `after_attempts` times (or failed for a
    /// reason retrying cannot fix): remove what the run made there and complete the others.
    SkipRegion {
        /// Attempts per call in that Region before giving it up (at least 1).
        after_attempts: u32,
    },
}

/// How [`apply`], [`resume`] and [`rollback`] run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributeOptions {
    /// Copies in flight at once per destination Region (AWS allows 100 concurrent copies per
    /// destination Region). At least 1.
    pub max_copies_per_region: usize,
    /// What to do when a destination keeps failing.
    pub failure_policy: FailurePolicy,
    /// Retries of transient errors (throttling, internal errors) per call.
    pub retry: RetryPolicy,
    /// How long one copy may take to become available.
    pub copy_timeout: Duration,
    /// The first pause between two availability checks of a copy.
    pub poll_initial: Duration,
    /// The longest pause between two availability checks while a copy is young.
    pub poll_max: Duration,
    /// How late, as a percentage of the time a copy has been pending, its completion may be
    /// seen: once that share of the wait exceeds `poll_max`, the pause grows with it. The
    /// default, 5, sees every copy within 5% of its own duration; on the simulator a 57-minute
    /// copy took 60 checks and was seen 90 s late, against 118 checks and 6 s at a fixed 30 s.
    /// 0 keeps every pause at `poll_max` at most. At most 50.
    #[serde(default = "default_poll_overshoot_percent")]
    pub poll_overshoot_percent: u32,
}

fn default_poll_overshoot_percent() -> u32 {
    5
}

impl Default for DistributeOptions {
    fn default() -> Self {
        DistributeOptions {
            max_copies_per_region: 50,
            failure_policy: FailurePolicy::Abort,
            retry: RetryPolicy::default(),
            copy_timeout: Duration::from_secs(6 * 3600),
            poll_initial: Duration::from_secs(5),
            poll_max: Duration::from_secs(30),
            poll_overshoot_percent: default_poll_overshoot_percent(),
        }
    }
}

impl DistributeOptions {
    /// Sets the copies in flight per destination Region.
    pub fn max_copies_per_region(mut self, n: usize) -> Self {
        self.max_copies_per_region = n;
        self
    }

    /// Sets the failure policy.
    pub fn failure_policy(mut self, p: FailurePolicy) -> Self {
        self.failure_policy = p;
        self
    }

    /// Checks the options: at least one copy in flight, polls that wait, attempts that try.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::from_code("InvalidParameterValue", m));
        if self.max_copies_per_region == 0 {
            return bad(
                "max_copies_per_region is 0; allow at least one copy in flight per Region".into(),
            );
        }
        if self.poll_initial.is_zero() || self.poll_max < self.poll_initial {
            return bad(format!(
                "poll_initial {:?} and poll_max {:?}: the first pause must be above zero and at most the longest",
                self.poll_initial, self.poll_max
            ));
        }
        if self.poll_overshoot_percent > 50 {
            return bad(format!(
                "poll_overshoot_percent {} is over 50; give a share of the wait between 0 and 50",
                self.poll_overshoot_percent
            ));
        }
        if self.retry.max_attempts == 0
            || matches!(
                self.failure_policy,
                FailurePolicy::SkipRegion { after_attempts: 0 }
            )
        {
            return bad("attempts per call must be at least 1 (retry.max_attempts, SkipRegion after_attempts)".into());
        }
        Ok(())
    }

    /// Attempts per call.
    pub(crate) fn attempts(&self) -> u32 {
        match self.failure_policy {
            FailurePolicy::Abort => self.retry.max_attempts.max(1),
            FailurePolicy::SkipRegion { after_attempts } => after_attempts.max(1),
        }
    }
}

#[cfg(test)]
mod tests;
