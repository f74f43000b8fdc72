//! Executing a plan, and resuming it from its journal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::Semaphore;

use super::manifest::{Manifest, ManifestEntry, SkippedDestination};
use super::plan::{DistributionPlan, PlannedCopy};
use super::progress::{DestProgress, Progress};
use super::rollback::undo_destination;
use super::spec::{Destination, Protection};
use super::{DistributeOptions, FailurePolicy};
use crate::api::{Connector, Ec2, Ec2Ext};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, Region};
use crate::model::{CreateVolumePermission, Image, ImageState, LaunchPermission};
use crate::ops::journal::{JournalEntry, JournalStore, KeyAccessRecord};
use crate::ops::retry::{hash_str, retry};
use crate::ops::share::{self, ShareSpec};

/// Why a destination stopped.
enum Stop {
    /// It failed for good (after retries).
    Failed(Error),
    /// Another destination's failure (or its Region being skipped) stopped it.
    Halted,
    /// The journal could not be written: the whole run stops at once.
    Fatal(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// The state shared by the tasks of one run.
pub(super) struct Run<'a> {
    pub connector: &'a dyn Connector,
    pub plan: &'a DistributionPlan,
    pub journal: &'a dyn JournalStore,
    pub options: &'a DistributeOptions,
    halt: AtomicBool,
    skipped: Mutex<BTreeMap<Region, String>>,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        connector: &'a dyn Connector,
        plan: &'a DistributionPlan,
        journal: &'a dyn JournalStore,
        options: &'a DistributeOptions,
    ) -> Self {
        Run {
            connector,
            plan,
            journal,
            options,
            halt: AtomicBool::new(false),
            skipped: Mutex::new(BTreeMap::new()),
        }
    }

    fn append(&self, e: JournalEntry) -> std::result::Result<(), Stop> {
        self.journal.append(&e).map_err(|err| {
            self.halt.store(true, Ordering::SeqCst);
            Stop::Fatal(err)
        })
    }

    pub(super) fn append_plain(&self, e: JournalEntry) -> Result<()> {
        self.journal.append(&e)
    }

    fn skipped_regions(&self) -> BTreeMap<Region, String> {
        self.skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a destination must stop before its next side effect.
    fn check(&self, d: &Destination) -> std::result::Result<(), Stop> {
        if self.halt.load(Ordering::SeqCst) || self.skipped_regions().contains_key(&d.region) {
            return Err(Stop::Halted);
        }
        Ok(())
    }

    /// One call with retries; the salt makes the jitter differ per destination and call.
    pub(super) async fn call<T, F, Fut>(&self, d: &Destination, what: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let salt = hash_str(&format!("{}/{d}/{what}", self.plan.run_id));
        retry(
            what,
            &self.options.retry,
            self.options.attempts(),
            Some(salt),
            f,
        )
        .await
        .map_err(|(e, n)| {
            if n > 1 {
                Error::from_code(
                    e.code(),
                    format!("{d}: {what} failed {n} times: {}", e.message()),
                )
                .with_kind_of(e)
            } else {
                e
            }
        })
    }

    /// Polls until the image is available; fails fast on `failed`; stops polling as soon as the
    /// run is halted or the Region skipped.
    ///
    /// Not built on [`ops::wait`](crate::ops::wait): a retry bound for transient errors would
    /// honour `SkipRegion { after_attempts }`, but the rest of this loop's contract would change.
    /// It checks between polls whether the run was halted or the Region skipped (another
    /// destination's failure must stop this one before its next call; `ops::wait` has no such
    /// hook), it reports a copy that ends `deregistered`, `disabled` or `transient` as
    /// [`Error::ImageFailed`] with the state as reason (the manifest and the skipped-Region
    /// reasons name it), where `ops::wait` answers `InvalidAMIID.Unavailable` or keeps waiting,
    /// and its deadline (`copy_timeout`, unbounded, read from the connector's clock) is not
    /// capped at `ops::wait::MAX_TIMEOUT`.
    async fn wait_available(
        &self,
        d: &Destination,
        ec2: &dyn Ec2,
        id: &ImageId,
    ) -> std::result::Result<Image, Stop> {
        let clock = self.connector.clock();
        let start = clock.now();
        let grace = Duration::from_secs(120);
        let mut pause = self.options.poll_initial;
        loop {
            match self
                .call(d, "DescribeImages", || ec2.describe_image(id))
                .await
            {
                Ok(img) if img.state == ImageState::Available => return Ok(img),
                Ok(img) if img.state == ImageState::Pending => {}
                Ok(img) => {
                    return Err(Stop::Failed(Error::ImageFailed {
                        image_id: id.clone(),
                        reason: img.state_reason.unwrap_or(crate::model::StateReason {
                            code: img.state.as_str().into(),
                            message: format!("the copy reached state {}", img.state),
                        }),
                    }))
                }
                // AWS: a new id may not be visible yet (eventual consistency).
                Err(e) if e.is_not_found() && clock.now().since(start) < grace => {}
                Err(e) => return Err(Stop::Failed(e)),
            }
            let waited = clock.now().since(start);
            if waited >= self.options.copy_timeout {
                return Err(Stop::Failed(Error::Timeout {
                    what: format!("{id} at {d} to become available"),
                    waited,
                }));
            }
            self.check(d)?;
            // A long copy is checked less often: the pause grows with the time waited so far
            // (a copy is then seen at most `poll_overshoot_percent` of its duration late), and
            // never runs past the deadline.
            let share = f64::from(self.options.poll_overshoot_percent) / 100.0;
            let this_pause = pause
                .max(waited.mul_f64(share))
                .min(self.options.copy_timeout.saturating_sub(waited))
                .max(self.options.poll_initial);
            tracing::debug!(destination = %d, image = %id, pause_ms = this_pause.as_millis() as u64, "copy pending");
            tokio::time::sleep(this_pause).await;
            pause = (pause.mul_f64(1.5)).min(self.options.poll_max);
        }
    }

    /// Shares the source with the receiving accounts through [`share`]: launch permission,
    /// snapshot create-volume permission (so they can copy it) and key access.
    async fn share_source(&self, progress: &Progress) -> std::result::Result<(), Stop> {
        let plan = self.plan;
        if plan.shared_with.is_empty() || progress.share_done {
            return Ok(());
        }
        let src = &plan.source;
        let accounts = plan.shared_with.clone();
        let spec = ShareSpec::new(src.image_id.clone())
            .accounts(accounts.iter().cloned())
            .allow_copy(true);
        // The diff between what the source has and what the accounts need.
        let diff = share::plan(self.connector, &src.account, &src.region, &spec).await?;
        if progress.share_requested.is_none() {
            let adds = |p: &LaunchPermission| match p {
                LaunchPermission::Account(a) => Some(a.clone()),
                _ => None,
            };
            let launch_added: Vec<AccountId> = diff
                .launch_permissions
                .add
                .iter()
                .filter_map(adds)
                .collect();
            let launch_already = accounts
                .iter()
                .filter(|a| !launch_added.contains(a))
                .cloned()
                .collect();
            let snapshot_already = plan
                .source_snapshots
                .iter()
                .map(|s| {
                    let added: Vec<&AccountId> = diff
                        .snapshot_permissions
                        .iter()
                        .filter(|c| &c.snapshot == s)
                        .flat_map(|c| c.changes.add.iter())
                        .filter_map(|p| match p {
                            CreateVolumePermission::Account(a) => Some(a),
                            CreateVolumePermission::Public => None,
                        })
                        .collect();
                    let already = accounts
                        .iter()
                        .filter(|a| !added.contains(a))
                        .cloned()
                        .collect();
                    (s.clone(), already)
                })
                .collect();
            let key_access_added = diff
                .key_policies
                .iter()
                .map(|k| KeyAccessRecord {
                    key_owner: k.key_owner.clone(),
                    region: k.key.region().unwrap_or_else(|| src.region.clone()),
                    key: k.key.clone(),
                    accounts: k.add_accounts.iter().cloned().collect(),
                })
                .collect();
            self.append(JournalEntry::SourceShareRequested {
                accounts: accounts.clone(),
                launch_already,
                snapshot_already,
                key_access_added,
            })?;
        }
        if !diff.is_empty() {
            share::apply(self.connector, &diff).await?;
        }
        self.append(JournalEntry::SourceShared { accounts })
    }

    /// Copy, wait, grant and deprecate one destination.
    async fn run_destination(
        &self,
        copy: &PlannedCopy,
        mut p: DestProgress,
        sem: &Semaphore,
    ) -> std::result::Result<DestProgress, Stop> {
        let plan = self.plan;
        let d = &copy.destination;
        let ec2 = self.connector.ec2(&d.account, &d.region)?;
        if p.snapshots.is_none() {
            let _permit = sem.acquire().await.map_err(|_| Stop::Halted)?;
            self.check(d)?;
            let image_id = match p.image_id.clone() {
                Some(id) => id,
                None => {
                    if !p.requested {
                        self.append(JournalEntry::CopyRequested {
                            destination: d.clone(),
                            client_token: copy.client_token.clone(),
                        })?;
                        p.requested = true;
                    }
                    let req = plan.copy_request(copy);
                    let id = self
                        .call(d, "CopyImage", || ec2.copy_image(req.clone()))
                        .await?;
                    self.append(JournalEntry::CopyStarted {
                        destination: d.clone(),
                        image_id: id.clone(),
                    })?;
                    p.image_id = Some(id.clone());
                    id
                }
            };
            let image = self.wait_available(d, ec2.as_ref(), &image_id).await?;
            let snapshot_ids: Vec<_> = image.snapshot_ids().into_iter().cloned().collect();
            self.append(JournalEntry::CopyAvailable {
                destination: d.clone(),
                image_id: image_id.clone(),
                snapshot_ids: snapshot_ids.clone(),
            })?;
            p.snapshots = Some(snapshot_ids);
        }
        let image_id = p
            .image_id
            .clone()
            .ok_or_else(|| Stop::Failed(Error::workflow(format!("{d}: no image id recorded"))))?;
        if !copy.launch_permissions.is_empty() && !p.permissions {
            self.check(d)?;
            let spec = share_spec(&image_id, d, &copy.launch_permissions);
            if !spec.launch_permissions().is_empty() {
                share::share(self.connector, &d.account, &d.region, &spec).await?;
            }
            self.append(JournalEntry::PermissionGranted {
                destination: d.clone(),
                permissions: copy.launch_permissions.clone(),
            })?;
            p.permissions = true;
        }
        if let Some(at) = plan.deprecate_at {
            if !p.deprecated {
                self.check(d)?;
                self.call(d, "EnableImageDeprecation", || {
                    ec2.enable_image_deprecation(image_id.clone(), at)
                })
                .await?;
                self.append(JournalEntry::DeprecationSet {
                    destination: d.clone(),
                    at,
                })?;
                p.deprecated = true;
            }
        }
        Ok(p)
    }

    /// Deregistration protection, the last step of a destination.
    async fn protect(
        &self,
        copy: &PlannedCopy,
        mut p: DestProgress,
        protection: Protection,
    ) -> std::result::Result<DestProgress, Stop> {
        if p.protected {
            return Ok(p);
        }
        let d = &copy.destination;
        self.check(d)?;
        let ec2 = self.connector.ec2(&d.account, &d.region)?;
        let image_id = p
            .image_id
            .clone()
            .ok_or_else(|| Stop::Failed(Error::workflow(format!("{d}: no image id recorded"))))?;
        if !p.protection_requested {
            self.append(JournalEntry::ProtectionRequested {
                destination: d.clone(),
            })?;
            p.protection_requested = true;
        }
        let cooldown = protection == Protection::WithCooldown;
        self.call(d, "EnableImageDeregistrationProtection", || {
            ec2.enable_image_deregistration_protection(image_id.clone(), cooldown)
        })
        .await?;
        self.append(JournalEntry::ProtectionEnabled {
            destination: d.clone(),
            protection,
        })?;
        p.protected = true;
        Ok(p)
    }

    /// Records the outcome of one destination's phase; returns the error that ends the run.
    fn settle(
        &self,
        copy: &PlannedCopy,
        outcome: std::result::Result<DestProgress, Stop>,
        progress: &mut Progress,
    ) -> Option<Error> {
        match self.guard(&copy.destination, outcome) {
            Ok(p) => {
                progress.dests.insert(copy.destination.clone(), p);
                None
            }
            Err(Stop::Fatal(e)) | Err(Stop::Failed(e)) => Some(e),
            Err(Stop::Halted) => None,
        }
    }

    /// The planned copies whose Region is not skipped.
    fn active(&self) -> Vec<&'a PlannedCopy> {
        let skipped = self.skipped_regions();
        self.plan
            .copies
            .iter()
            .filter(|c| !skipped.contains_key(&c.destination.region))
            .collect()
    }

    /// Settles the outcomes of one phase (`outcomes[i]` is that of `copies[i]`), all of them;
    /// then the first error, if any, ends the run.
    fn settle_all(
        &self,
        copies: &[&PlannedCopy],
        outcomes: Vec<std::result::Result<DestProgress, Stop>>,
        progress: &mut Progress,
    ) -> Result<()> {
        let mut end = None;
        for (c, o) in copies.iter().zip(outcomes) {
            if let Some(e) = self.settle(c, o, progress) {
                end.get_or_insert(e);
            }
        }
        end.map_or(Ok(()), Err)
    }

    /// Applies the failure policy the moment a destination fails, so the others stop at their
    /// next step (Abort) or the rest of its Region does (SkipRegion): records the failure, and
    /// turns it into the error that ends the run, or into a skip.
    fn guard(
        &self,
        d: &Destination,
        outcome: std::result::Result<DestProgress, Stop>,
    ) -> std::result::Result<DestProgress, Stop> {
        match outcome {
            Ok(p) => Ok(p),
            Err(Stop::Failed(e)) => match self.fail(d, e) {
                Some(end) => Err(Stop::Fatal(end)),
                None => Err(Stop::Halted),
            },
            Err(other) => Err(other),
        }
    }

    fn fail(&self, d: &Destination, e: Error) -> Option<Error> {
        {
            {
                tracing::warn!(destination = %d, code = e.code(), "destination failed: {e}");
                if let Err(j) = self.journal.append(&JournalEntry::DestinationFailed {
                    destination: d.clone(),
                    code: e.code().to_owned(),
                    message: e.message(),
                }) {
                    self.halt.store(true, Ordering::SeqCst);
                    return Some(j);
                }
                match self.options.failure_policy {
                    FailurePolicy::Abort => {
                        self.halt.store(true, Ordering::SeqCst);
                        Some(with_context(d, e))
                    }
                    FailurePolicy::SkipRegion { .. } => {
                        let msg = e.message();
                        let reason = if msg.starts_with(&d.to_string()) {
                            format!("Region {} given up: {msg} ({})", d.region, e.code())
                        } else {
                            format!("Region {} given up: {d}: {msg} ({})", d.region, e.code())
                        };
                        let first = {
                            let mut s = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
                            if s.contains_key(&d.region) {
                                false
                            } else {
                                s.insert(d.region.clone(), reason.clone());
                                true
                            }
                        };
                        if first {
                            if let Err(j) = self.journal.append(&JournalEntry::RegionSkipped {
                                region: d.region.clone(),
                                reason,
                            }) {
                                self.halt.store(true, Ordering::SeqCst);
                                return Some(j);
                            }
                        }
                        None
                    }
                }
            }
        }
    }
}

/// The share of a copy: its launch permissions (the copy's own account left out), with the key
/// access launching needs.
pub(super) fn share_spec(
    image: &ImageId,
    d: &Destination,
    perms: &[LaunchPermission],
) -> ShareSpec {
    let mut spec = ShareSpec::new(image.clone());
    for p in perms {
        spec = match p {
            LaunchPermission::Account(a) if a == &d.account => spec,
            LaunchPermission::Account(a) => spec.account(a.clone()),
            LaunchPermission::Organization(o) => spec.organization(o.clone()),
            LaunchPermission::OrganizationalUnit(o) => spec.ou(o.clone()),
            LaunchPermission::Public => spec.public(true),
        };
    }
    spec
}

fn with_context(d: &Destination, e: Error) -> Error {
    match e.service_error() {
        Some(se) if !se.message.starts_with(&d.to_string()) => Error::from_code(
            &se.code,
            format!(
                "{d}: {}; the journal holds every step: resume the run, or roll it back",
                se.message
            ),
        )
        .with_kind_of(e),
        _ => e,
    }
}

trait KindOf {
    fn with_kind_of(self, original: Error) -> Error;
}

impl KindOf for Error {
    /// Keeps the original's meaning when `from_code` would not classify the code the same way
    /// (codes unknown to the table).
    fn with_kind_of(self, original: Error) -> Error {
        if std::mem::discriminant(&self) == std::mem::discriminant(&original) {
            self
        } else {
            original
        }
    }
}

/// Reads the journal, checks it belongs to this plan, and records the start if it is new.
fn open_run(plan: &DistributionPlan, journal: &dyn JournalStore) -> Result<Progress> {
    let entries = journal.entries()?;
    match entries.first() {
        None => {
            journal.append(&JournalEntry::RunStarted {
                run_id: plan.run_id.clone(),
                plan: Box::new(plan.clone()),
            })?;
        }
        Some(JournalEntry::RunStarted { run_id, plan: p }) => {
            if run_id != &plan.run_id || **p != *plan {
                return Err(Error::Journal {
                    message: format!(
                        "the journal belongs to run {run_id}, not {}; use a new journal for a new run, or resume with this journal's own plan",
                        plan.run_id
                    ),
                });
            }
        }
        Some(_) => {
            return Err(Error::Journal {
                message:
                    "the journal does not start with run_started; it is not a distribution journal"
                        .into(),
            })
        }
    }
    Progress::from_entries(&entries)
}

/// Executes a plan, appending every step to `journal`; continues where the journal stops if it
/// already holds this plan's run. Returns the manifest of the copies.
///
/// Errors: under [`FailurePolicy::Abort`], the first destination that fails for good ends the
/// run with its error (AWS code kept, message prefixed with the destination); a journal that
/// cannot be written ends it with [`Error::Journal`]. Either way [`resume`] or
/// [`rollback`](super::rollback) can take over from the journal.
pub async fn apply(
    connector: &dyn Connector,
    plan: &DistributionPlan,
    journal: &dyn JournalStore,
    options: &DistributeOptions,
) -> Result<Manifest> {
    options.validate()?;
    let mut progress = open_run(plan, journal)?;
    if progress.rollback_started {
        return Err(Error::workflow(format!(
            "run {} was rolled back; plan a new run instead of resuming it",
            plan.run_id
        )));
    }
    if let Some(m) = progress.completed.take() {
        return Ok(m);
    }
    let run = Run::new(connector, plan, journal, options);
    {
        let mut s = run.skipped.lock().unwrap_or_else(|p| p.into_inner());
        s.extend(progress.skipped_regions.clone());
    }

    // 1. Share the source with the receiving accounts.
    match run.share_source(&progress).await {
        Ok(()) => {}
        Err(Stop::Fatal(e)) | Err(Stop::Failed(e)) => return Err(e),
        Err(Stop::Halted) => {}
    }

    // 2. Copies, bounded per destination Region.
    let mut sems: BTreeMap<Region, Semaphore> = BTreeMap::new();
    for c in &plan.copies {
        sems.entry(c.destination.region.clone())
            .or_insert_with(|| Semaphore::new(options.max_copies_per_region));
    }
    let active = run.active();
    let runner = &run;
    let outcomes = join_all(active.iter().map(|c| {
        let sem = &sems[&c.destination.region];
        let p = progress.of(&c.destination);
        async move {
            let o = runner.run_destination(c, p, sem).await;
            runner.guard(&c.destination, o)
        }
    }))
    .await;
    run.settle_all(&active, outcomes, &mut progress)?;

    // 3. Deregistration protection, once every copy is complete.
    if let Some(protection) = plan.protection {
        let active = run.active();
        let outcomes = join_all(active.iter().map(|c| {
            let p = progress.of(&c.destination);
            async move {
                let o = runner.protect(c, p, protection).await;
                runner.guard(&c.destination, o)
            }
        }))
        .await;
        run.settle_all(&active, outcomes, &mut progress)?;
    }

    // 4. Remove what was made in skipped Regions.
    let skipped_regions = run.skipped_regions();
    let mut skipped = Vec::new();
    for c in &plan.copies {
        let d = &c.destination;
        let Some(reason) = skipped_regions.get(&d.region) else {
            continue;
        };
        let p = progress.of(d);
        let mut reason = reason.clone();
        if p.requested && !p.rolled_back {
            match undo_destination(&run, c, &p).await {
                Ok(_) => {}
                Err(e) => reason.push_str(&format!(
                    "; what the run made at {d} could not be removed ({}): roll the run back later",
                    e.message()
                )),
            }
        }
        skipped.push(SkippedDestination {
            destination: d.clone(),
            reason,
        });
    }

    let mut images = Vec::new();
    for c in &plan.copies {
        let d = &c.destination;
        if skipped_regions.contains_key(&d.region) {
            continue;
        }
        let p = progress.of(d);
        if let (Some(image_id), Some(snapshot_ids)) = (p.image_id, p.snapshots) {
            images.push(ManifestEntry {
                destination: d.clone(),
                image_id,
                snapshot_ids,
            });
        }
    }
    let manifest = Manifest {
        run_id: plan.run_id.clone(),
        source: plan.source.clone(),
        images,
        skipped,
    };
    journal.append(&JournalEntry::RunCompleted {
        manifest: manifest.clone(),
    })?;
    Ok(manifest)
}

/// Continues an interrupted run from its journal alone (the plan is in its first entry).
/// Calls whose outcome was not recorded are repeated with the same client token, so no copy is
/// made twice. A completed run returns its manifest without any call.
pub async fn resume(
    connector: &dyn Connector,
    journal: &dyn JournalStore,
    options: &DistributeOptions,
) -> Result<Manifest> {
    let entries = journal.entries()?;
    let plan = match entries.first() {
        Some(JournalEntry::RunStarted { plan, .. }) => (**plan).clone(),
        _ => {
            return Err(Error::Journal {
                message: "the journal has no run_started entry: there is nothing to resume; apply a plan instead".into(),
            })
        }
    };
    apply(connector, &plan, journal, options).await
}
