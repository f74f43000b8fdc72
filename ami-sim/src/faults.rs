//! Faults: seeded probabilities (throttling, internal errors, failed image creation), scripted
//! one-off failures and Region outages.

use std::collections::BTreeMap;

use ami_core::{AccountId, Region, Timestamp};

use crate::log::Op;

/// Fault probabilities, all zero by default. Draws come from seeded streams of their own, apart
/// from the one ids come from, so the same seed and calls fail the same way, and retrying a
/// failed call until it succeeds leaves every resource id as in the fault-free run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Probability that any call is throttled (`RequestLimitExceeded`).
    pub throttle: f64,
    /// Per-operation throttle probabilities, overriding [`throttle`](Self::throttle).
    pub throttle_by_op: BTreeMap<Op, f64>,
    /// Probability that any call fails with `InternalError` (changing nothing).
    pub internal_error: f64,
    /// Per-operation internal-error probabilities, overriding
    /// [`internal_error`](Self::internal_error).
    pub internal_error_by_op: BTreeMap<Op, f64>,
    /// Probability that a new image (CreateImage, CopyImage, RegisterImage) ends `failed`.
    pub image_failure: f64,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }
    /// Throttles every operation with probability `p`.
    pub fn throttle(mut self, p: f64) -> Self {
        self.throttle = p;
        self
    }
    /// Throttles `op` with probability `p`.
    pub fn throttle_op(mut self, op: Op, p: f64) -> Self {
        self.throttle_by_op.insert(op, p);
        self
    }
    /// Fails every operation with `InternalError` with probability `p`.
    pub fn internal_errors(mut self, p: f64) -> Self {
        self.internal_error = p;
        self
    }
    /// Fails `op` with `InternalError` with probability `p`.
    pub fn internal_error_op(mut self, op: Op, p: f64) -> Self {
        self.internal_error_by_op.insert(op, p);
        self
    }
    /// Makes new images end `failed` with probability `p`.
    pub fn image_failures(mut self, p: f64) -> Self {
        self.image_failure = p;
        self
    }

    pub(crate) fn throttle_for(&self, op: Op) -> f64 {
        self.throttle_by_op
            .get(&op)
            .copied()
            .unwrap_or(self.throttle)
    }

    pub(crate) fn internal_for(&self, op: Op) -> f64 {
        self.internal_error_by_op
            .get(&op)
            .copied()
            .unwrap_or(self.internal_error)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let all = [self.throttle, self.internal_error, self.image_failure]
            .into_iter()
            .chain(self.throttle_by_op.values().copied())
            .chain(self.internal_error_by_op.values().copied());
        for p in all {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "fault probability {p} is out of range: use a value from 0.0 to 1.0"
                ));
            }
        }
        Ok(())
    }
}

/// Where a scripted fault applies: an account, a Region, both, or anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only calls by this account (`None`: any account).
    pub account: Option<AccountId>,
    /// Only calls to this Region (`None`: any Region).
    pub region: Option<Region>,
}

impl Scope {
    /// Any account, any Region.
    pub fn any() -> Self {
        Scope::default()
    }
    /// Calls by `account` in `region`.
    pub fn at(account: &AccountId, region: &Region) -> Self {
        Scope {
            account: Some(account.clone()),
            region: Some(region.clone()),
        }
    }
    /// Calls by `account` in any Region.
    pub fn account(account: &AccountId) -> Self {
        Scope {
            account: Some(account.clone()),
            region: None,
        }
    }
    /// Calls to `region` by any account.
    pub fn region(region: &Region) -> Self {
        Scope {
            account: None,
            region: Some(region.clone()),
        }
    }

    pub(crate) fn matches(&self, account: &AccountId, region: &Region) -> bool {
        self.account.as_ref().is_none_or(|a| a == account)
            && self.region.as_ref().is_none_or(|r| r == region)
    }
}

/// A one-off failure of the next matching call.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedFault {
    pub op: Op,
    pub scope: Scope,
    pub code: String,
}

/// A window of virtual time in which every call to a Region fails.
#[derive(Debug, Clone)]
pub(crate) struct Outage {
    pub region: Region,
    pub from: Timestamp,
    pub until: Timestamp,
}
