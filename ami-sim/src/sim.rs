//! [`Sim`]: one simulated AWS, its clients, its clock, its faults and its call log.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use ami_core::{
    AccountId, Clock, Connector, CreateVolumePermission, Ec2, Error, Image, ImageId, Instance,
    InstanceId, InstanceState, Kms, LaunchGuard, LaunchPermission, OrganizationArn,
    OrganizationalUnitArn, Region, Result, Snapshot, SnapshotId, Timestamp, VirtualClock,
};

use crate::builder::SimBuilder;
use crate::ec2::SimEc2;
use crate::faults::{Outage, Scope, ScriptedFault};
use crate::kms::SimKms;
use crate::log::{Call, Op};
use crate::state::{err, State};

/// Whether a simulated write has reached the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Still in the instance's page cache: it reaches the volume only on reboot, stop or
    /// [`Sim::flush`], and is lost on termination. A no-reboot image misses it.
    Buffered,
    /// Already on the volume (as after `fsync`).
    Flushed,
}

pub(crate) struct Inner {
    pub state: Mutex<State>,
    pub clock: VirtualClock,
    pub seed: u64,
}

/// One simulated AWS: organizations, accounts, Regions, EC2 and KMS state, a virtual clock,
/// a seeded generator, faults and a call log. Cloning shares the state.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.inner.seed)
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

/// What an API call sees: who calls, where, and when.
#[derive(Debug, Clone)]
pub(crate) struct Ctx<'a> {
    pub account: &'a AccountId,
    pub region: &'a Region,
    pub now: Timestamp,
}

impl Sim {
    /// A builder with every default.
    pub fn builder() -> SimBuilder {
        SimBuilder::new()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written in a way that
        // matters more than losing the simulator; keep going with what is there.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the state with every event due by now applied.
    pub(crate) fn state_now(&self) -> (MutexGuard<'_, State>, Timestamp) {
        let now = self.now();
        let mut st = self.lock();
        st.advance(now);
        (st, now)
    }

    /// Runs one API call: faults first, then `f`, then the log entry.
    pub(crate) fn call<T>(
        &self,
        op: Op,
        account: &AccountId,
        region: &Region,
        f: impl FnOnce(&mut State, &Ctx<'_>) -> Result<T>,
        summary: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        let (mut st, now) = self.state_now();
        let ctx = Ctx {
            account,
            region,
            now,
        };
        let res = match pre_checks(&mut st, op, &ctx) {
            Some(e) => Err(e),
            None => f(&mut st, &ctx),
        };
        *st.counts.entry(op).or_default() += 1;
        if st.record_calls {
            let outcome = match &res {
                Ok(v) => Ok(summary(v)),
                Err(e) => Err(e.code().to_owned()),
            };
            let seq = st.log.len() as u64 + 1;
            st.log.push(Call {
                seq,
                at: now,
                account: account.clone(),
                region: region.clone(),
                op,
                outcome,
            });
        }
        res
    }

    /// Runs one changing API call as an AWS dry run: faults first, then `f` on a scratch copy
    /// of the state, which is dropped; `DryRunOperation` if `f` succeeded, else its error.
    /// The real state, its id streams and its events are untouched (only the call log and the
    /// call counts see the call). Copying the state costs time in proportion to the world's
    /// size; dry runs are rare, and this way a dry run applies exactly the rules of the real call.
    pub(crate) fn call_dry_run<T>(
        &self,
        op: Op,
        account: &AccountId,
        region: &Region,
        f: impl FnOnce(&mut State, &Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let (mut st, now) = self.state_now();
        let ctx = Ctx {
            account,
            region,
            now,
        };
        let res = match pre_checks(&mut st, op, &ctx) {
            Some(e) => Err(e),
            None => {
                let log = std::mem::take(&mut st.log);
                let mut scratch = st.clone();
                st.log = log;
                match f(&mut scratch, &ctx) {
                    // AWS: §10 "DryRun": a dry run that would have succeeded.
                    Ok(_) => Err(err(
                        "DryRunOperation",
                        "Request would have succeeded, but DryRun flag is set.",
                    )),
                    Err(e) => Err(e),
                }
            }
        };
        *st.counts.entry(op).or_default() += 1;
        if st.record_calls {
            let outcome = match &res {
                Ok(_) => Ok(String::new()),
                Err(e) => Err(e.code().to_owned()),
            };
            let seq = st.log.len() as u64 + 1;
            st.log.push(Call {
                seq,
                at: now,
                account: account.clone(),
                region: region.clone(),
                op,
                outcome,
            });
        }
        res
    }

    /// An EC2 client acting as `account` in `region`. Calls fail with `AuthFailure` for an
    /// account the simulator does not know and with `InvalidRegion` for a Region it does not
    /// simulate.
    pub fn ec2(&self, account: &AccountId, region: &Region) -> Arc<dyn Ec2> {
        Arc::new(SimEc2 {
            sim: self.clone(),
            account: account.clone(),
            region: region.clone(),
            dry_run: false,
        })
    }

    /// A KMS client acting as `account` in `region`.
    pub fn kms(&self, account: &AccountId, region: &Region) -> Arc<dyn Kms> {
        Arc::new(SimKms {
            sim: self.clone(),
            account: account.clone(),
            region: region.clone(),
        })
    }

    /// The virtual clock (epoch 2026-01-01T00:00:00Z plus tokio's elapsed time).
    pub fn clock(&self) -> VirtualClock {
        self.inner.clock
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The seed this simulator was built with.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The simulated accounts.
    pub fn accounts(&self) -> Vec<AccountId> {
        self.lock().accounts.keys().cloned().collect()
    }

    /// The simulated Regions.
    pub fn regions(&self) -> Vec<Region> {
        self.lock().regions.iter().cloned().collect()
    }

    /// The ARN of a simulated organization (`o-...`), to share images with it.
    pub fn organization_arn(&self, org_id: &str) -> Option<OrganizationArn> {
        let st = self.lock();
        let mgmt = st.orgs.get(org_id)?;
        OrganizationArn::new(mgmt, org_id).ok()
    }

    /// The ARN of a simulated OU (`ou-...`), to share images with it and its nested OUs.
    pub fn organizational_unit_arn(&self, ou_id: &str) -> Option<OrganizationalUnitArn> {
        let st = self.lock();
        let org = st.ou_orgs.get(ou_id)?;
        let mgmt = st.orgs.get(org)?;
        OrganizationalUnitArn::new(mgmt, org, ou_id).ok()
    }

    /// An Amazon catalogue image in `region` by catalogue name (`al2023`, `al2023-arm64`,
    /// `al2`, `windows-2022`; see the [`catalogue`](crate::catalogue) module).
    pub fn amazon_image(&self, region: &Region, name: &str) -> Option<ImageId> {
        self.lock()
            .catalogue
            .get(&(region.clone(), name.to_owned()))
            .cloned()
    }

    /// A Marketplace catalogue image in `region` by catalogue name (`hardened-linux`,
    /// `firewall`).
    pub fn marketplace_image(&self, region: &Region, name: &str) -> Option<ImageId> {
        self.lock()
            .catalogue
            .get(&(region.clone(), format!("marketplace:{name}")))
            .cloned()
    }

    /// Writes `key = value` into the volume at `device` of a running instance.
    pub fn write_data(
        &self,
        instance: &InstanceId,
        device: &str,
        key: impl Into<String>,
        value: impl Into<String>,
        durability: Durability,
    ) -> Result<()> {
        let (mut st, _) = self.state_now();
        let rec = instance_rec(&mut st, instance)?;
        if rec.inst.state != InstanceState::Running {
            return Err(err(
                "IncorrectInstanceState",
                format!(
                    "The instance '{instance}' is not in the 'running' state (it is '{}'); \
                     only a running instance writes to its volumes",
                    rec.inst.state
                ),
            ));
        }
        let idx = device_index(rec, instance, device)?;
        let (key, value) = (key.into(), value.into());
        let vol = &mut rec.data[idx];
        match durability {
            Durability::Buffered => {
                vol.buffered.insert(key, value);
            }
            Durability::Flushed => {
                vol.buffered.remove(&key);
                Arc::make_mut(&mut vol.flushed).insert(key, value);
            }
        }
        Ok(())
    }

    /// Flushes an instance's buffered writes to its volumes (like `sync`).
    pub fn flush(&self, instance: &InstanceId) -> Result<()> {
        let (mut st, _) = self.state_now();
        let rec = instance_rec(&mut st, instance)?;
        for v in &mut rec.data {
            v.flush();
        }
        Ok(())
    }

    /// What the volume at `device` of an instance holds (flushed writes only).
    pub fn volume_data(
        &self,
        instance: &InstanceId,
        device: &str,
    ) -> Result<BTreeMap<String, String>> {
        let (mut st, _) = self.state_now();
        let rec = instance_rec(&mut st, instance)?;
        let idx = device_index(rec, instance, device)?;
        Ok((*rec.data[idx].flushed).clone())
    }

    /// What a snapshot holds.
    pub fn snapshot_data(&self, snapshot: &SnapshotId) -> Result<BTreeMap<String, String>> {
        let (st, _) = self.state_now();
        st.snapshots
            .get(snapshot)
            .map(|s| (*s.data).clone())
            .ok_or_else(|| {
                err(
                    "InvalidSnapshot.NotFound",
                    format!("The snapshot '{snapshot}' does not exist."),
                )
            })
    }

    /// Installs (or removes, with `None`) the launch guard of `account`: RunInstances of an
    /// image the guard refuses fails with `UnauthorizedOperation` carrying the reason.
    ///
    /// The guard runs while the simulator's state is locked: it must not call the simulator.
    pub fn set_launch_guard(&self, account: &AccountId, guard: Option<Arc<dyn LaunchGuard>>) {
        let mut st = self.lock();
        match guard {
            Some(g) => {
                st.guards.insert(account.clone(), g);
            }
            None => {
                st.guards.remove(account);
            }
        }
    }

    /// Makes the next call of `op` within `scope` fail with `code` (changing nothing).
    pub fn fail_next(&self, op: Op, scope: Scope, code: &str) {
        self.lock().scripted.push(ScriptedFault {
            op,
            scope,
            code: code.to_owned(),
        });
    }

    /// Makes every call to `region` fail from `from` until `until` (EC2 with
    /// `ServiceUnavailable`, KMS with `KMSInternalException`).
    pub fn region_outage(&self, region: &Region, from: Timestamp, until: Timestamp) {
        self.lock().outages.push(Outage {
            region: region.clone(),
            from,
            until,
        });
    }

    /// Every image the simulator holds (all accounts and Regions, deregistered ones and the
    /// catalogue included) with its launch permissions: ground truth for tests, not an AWS
    /// call, and not logged. In id order.
    pub fn inspect_images(&self) -> Vec<(Image, Vec<LaunchPermission>)> {
        let (st, _) = self.state_now();
        st.images
            .sorted_values()
            .into_iter()
            .map(|r| (r.image.clone(), r.perms.clone()))
            .collect()
    }

    /// Every snapshot the simulator holds, with its create-volume permissions, in id order (not logged).
    pub fn inspect_snapshots(&self) -> Vec<(Snapshot, Vec<CreateVolumePermission>)> {
        let (st, _) = self.state_now();
        st.snapshots
            .sorted_values()
            .into_iter()
            .map(|r| (r.snap.clone(), r.perms.iter().cloned().collect()))
            .collect()
    }

    /// Every instance the simulator holds, terminated ones included, in id order (not logged).
    pub fn inspect_instances(&self) -> Vec<Instance> {
        let (st, _) = self.state_now();
        st.instances
            .sorted_values()
            .into_iter()
            .map(|r| r.inst.clone())
            .collect()
    }

    /// Checks the simulator's internal indexes (names, quotas, snapshots in use) against its
    /// images and instances; `Err` names the index that drifted. For tests of the simulator.
    pub fn verify_indexes(&self) -> std::result::Result<(), String> {
        let (st, _) = self.state_now();
        st.verify_indexes()
    }

    /// Every call answered so far, in order.
    pub fn call_log(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// The call log as text, one [`Call`] per line.
    pub fn call_log_text(&self) -> String {
        let st = self.lock();
        let mut out = String::new();
        for c in &st.log {
            out.push_str(&c.to_string());
            out.push('\n');
        }
        out
    }

    /// How many calls of `op` were answered (successful or not).
    pub fn call_count(&self, op: Op) -> usize {
        self.lock().counts.get(&op).copied().unwrap_or(0)
    }
}

fn instance_rec<'a>(
    st: &'a mut State,
    instance: &InstanceId,
) -> Result<&'a mut crate::state::InstRec> {
    st.instances
        .get_mut(instance)
        .map(|b| &mut **b)
        .ok_or_else(|| {
            err(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{instance}' does not exist"),
            )
        })
}

fn device_index(rec: &crate::state::InstRec, instance: &InstanceId, device: &str) -> Result<usize> {
    rec.inst
        .volumes
        .iter()
        .position(|v| v.device_name == device)
        .ok_or_else(|| {
            let devices: Vec<&str> = rec
                .inst
                .volumes
                .iter()
                .map(|v| v.device_name.as_str())
                .collect();
            err(
                "InvalidParameterValue",
                format!(
                    "instance {instance} has no volume at {device}; its devices are {}",
                    devices.join(", ")
                ),
            )
        })
}

/// Unknown scope, outages, scripted faults and seeded faults, in that order.
fn pre_checks(st: &mut State, op: Op, ctx: &Ctx<'_>) -> Option<Error> {
    if !st.accounts.contains_key(ctx.account) {
        return Some(err(
            "AuthFailure",
            format!(
                "AWS was not able to validate the provided access credentials: account {} is \
                 not part of this simulator; add it with SimBuilder::account",
                ctx.account
            ),
        ));
    }
    if !st.regions.contains(ctx.region) {
        return Some(err(
            "InvalidRegion",
            format!(
                "Region {} is not simulated; add it with SimBuilder::regions",
                ctx.region
            ),
        ));
    }
    if st
        .outages
        .iter()
        .any(|o| o.region == *ctx.region && o.from <= ctx.now && ctx.now < o.until)
    {
        return Some(if op.is_kms() {
            err(
                "KMSInternalException",
                format!("KMS in {} is unavailable (simulated outage)", ctx.region),
            )
        } else {
            err(
                "ServiceUnavailable",
                format!(
                    "The request has failed due to a temporary failure of the server in {} \
                     (simulated outage)",
                    ctx.region
                ),
            )
        });
    }
    if let Some(i) = st
        .scripted
        .iter()
        .position(|f| f.op == op && f.scope.matches(ctx.account, ctx.region))
    {
        let f = st.scripted.remove(i);
        return Some(err(&f.code, format!("scripted fault on {op}")));
    }
    let throttle = st.faults.throttle_for(op);
    if st.streams.call_fault(throttle) {
        // AWS: §8 "Throttling": RequestLimitExceeded, retryable.
        return Some(err("RequestLimitExceeded", "Request limit exceeded."));
    }
    let internal = st.faults.internal_for(op);
    if st.streams.call_fault(internal) {
        return Some(err(
            "InternalError",
            "An internal error has occurred (simulated).",
        ));
    }
    None
}

impl Connector for Sim {
    fn ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>> {
        self.check_scope(account, region)?;
        Ok(Sim::ec2(self, account, region))
    }

    fn kms(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Kms>> {
        self.check_scope(account, region)?;
        Ok(Sim::kms(self, account, region))
    }

    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.inner.clock)
    }
}

impl Sim {
    fn check_scope(&self, account: &AccountId, region: &Region) -> Result<()> {
        let st = self.lock();
        if !st.accounts.contains_key(account) {
            return Err(err(
                "AuthFailure",
                format!(
                    "account {account} is not part of this simulator; add it with \
                     SimBuilder::account"
                ),
            ));
        }
        if !st.regions.contains(region) {
            return Err(err(
                "InvalidRegion",
                format!("Region {region} is not simulated; add it with SimBuilder::regions"),
            ));
        }
        Ok(())
    }
}
