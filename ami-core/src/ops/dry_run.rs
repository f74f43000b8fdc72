//! Dry-run applies: a plan checked by AWS itself, call by call, without changing anything.
//!
//! Every changing EC2 call of a plan is sent through [`Ec2::dry_run`](crate::Ec2::dry_run)
//! (`DryRun=true`): AWS answers `DryRunOperation` where the call would have succeeded, or the
//! error it would have failed with (on AWS: the IAM permission, and the checks EC2 makes
//! before acting; on the simulator: every rule of the real call). A [`DryRunReport`] lists
//! each call with its verdict. KMS has no dry run for the key-policy calls a share makes, so
//! those are checked by reading the key's policy (the caller can reach the key and read it)
//! and reported as [`DryRunOutcome::ReadOnly`].
//!
//! A dry run checks each call against the world as it is now: a call that depends on an
//! earlier one of the same plan (a grant on a copy that does not exist yet) cannot be
//! checked, and is not listed.
//!
//! The workflows offer it as `share::dry_run_apply` and `distribute::dry_run_apply`.

use std::fmt;
use std::future::Future;

use crate::error::{Error, Result};
use crate::id::{AccountId, Region};

use super::retry::retry_default;

/// The verdict on one call of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRunOutcome {
    /// AWS answered `DryRunOperation`: the call would have succeeded.
    WouldSucceed,
    /// The call would fail with this error (its AWS code and message).
    WouldFail(Error),
    /// The call has no dry run; what could be checked by reading was checked and passed.
    ReadOnly(String),
}

/// One call of a plan, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunCheck {
    /// The AWS action, e.g. `ModifyImageAttribute`.
    pub action: &'static str,
    /// The account that would make the call.
    pub account: AccountId,
    /// The Region it would be made in.
    pub region: Region,
    /// What it acts on (an image, a snapshot, a key).
    pub target: String,
    /// The verdict.
    pub outcome: DryRunOutcome,
}

/// Every checked call of a plan, in the order the apply would make them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRunReport {
    /// The calls.
    pub checks: Vec<DryRunCheck>,
}

impl DryRunReport {
    /// Whether no call would fail.
    pub fn would_succeed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The calls that would fail.
    pub fn failures(&self) -> impl Iterator<Item = &DryRunCheck> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, DryRunOutcome::WouldFail(_)))
    }

    /// `Ok(self)` if no call would fail, else the first failure's error, with every failure
    /// named in the message.
    pub fn into_result(self) -> Result<Self> {
        let failures: Vec<String> = self.failures().map(ToString::to_string).collect();
        let first = self.failures().find_map(|c| match &c.outcome {
            DryRunOutcome::WouldFail(e) => Some(e.code().to_owned()),
            _ => None,
        });
        match first {
            None => Ok(self),
            Some(code) => Err(Error::from_code(
                &code,
                format!(
                    "the dry run found {} call(s) that would fail: {}",
                    failures.len(),
                    failures.join("; ")
                ),
            )),
        }
    }

    /// Checks one changing call made through a dry-run client: `DryRunOperation` is a pass,
    /// any other error a failure. Throttling and internal errors are retried as usual. A call
    /// that *succeeds* means the backend ignored `DryRun` and changed something: that is
    /// reported as a failure so it cannot go unnoticed.
    pub(crate) async fn check<T, F, Fut>(
        &mut self,
        action: &'static str,
        account: &AccountId,
        region: &Region,
        target: impl Into<String>,
        call: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let outcome = match retry_default(action, call).await {
            Err(Error::DryRun(_)) => DryRunOutcome::WouldSucceed,
            Err(e) => DryRunOutcome::WouldFail(e),
            Ok(_) => DryRunOutcome::WouldFail(Error::workflow(format!(
                "{action} was sent as a dry run but the backend performed it: it does not honour DryRun"
            ))),
        };
        self.push(action, account, region, target, outcome);
    }

    /// Records a verdict reached another way (a read standing in for a call without dry run).
    pub(crate) fn push(
        &mut self,
        action: &'static str,
        account: &AccountId,
        region: &Region,
        target: impl Into<String>,
        outcome: DryRunOutcome,
    ) {
        self.checks.push(DryRunCheck {
            action,
            account: account.clone(),
            region: region.clone(),
            target: target.into(),
            outcome,
        });
    }
}

impl fmt::Display for DryRunCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} as {} in {}: ",
            self.action, self.target, self.account, self.region
        )?;
        match &self.outcome {
            DryRunOutcome::WouldSucceed => write!(f, "would succeed"),
            DryRunOutcome::WouldFail(e) => {
                write!(f, "would fail with {}: {}", e.code(), e.message())
            }
            DryRunOutcome::ReadOnly(what) => write!(f, "no dry run; {what}"),
        }
    }
}

impl fmt::Display for DryRunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        writeln!(
            f,
            "dry run: {} call(s) checked, {} would fail",
            self.checks.len(),
            failed
        )?;
        for c in &self.checks {
            writeln!(f, "  {c}")?;
        }
        Ok(())
    }
}
