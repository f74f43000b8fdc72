//! What a journal says has happened: the state a resume or a rollback starts from.

use std::collections::BTreeMap;

use super::manifest::Manifest;
use super::plan::DistributionPlan;
use super::spec::Destination;
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, Region, SnapshotId};
use crate::ops::journal::{JournalEntry, KeyAccessRecord};

/// Progress of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DestProgress {
    /// CopyImage may have been called.
    pub requested: bool,
    /// CopyImage answered with this id.
    pub image_id: Option<ImageId>,
    /// The copy was seen available, with these snapshots.
    pub snapshots: Option<Vec<SnapshotId>>,
    /// Launch permissions (and key access) granted.
    pub permissions: bool,
    /// Deprecation set.
    pub deprecated: bool,
    /// Protection may have been enabled.
    pub protection_requested: bool,
    /// Protection enabled.
    pub protected: bool,
    /// Everything created here was removed.
    pub rolled_back: bool,
}

/// The pre-existing sharing of the source, recorded before the run changed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SharePreState {
    pub accounts: Vec<AccountId>,
    pub launch_already: Vec<AccountId>,
    pub snapshot_already: Vec<(SnapshotId, Vec<AccountId>)>,
    pub key_access_added: Vec<KeyAccessRecord>,
}

/// The state a journal describes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    pub run_id: String,
    pub plan: Option<DistributionPlan>,
    pub share_requested: Option<SharePreState>,
    pub share_done: bool,
    pub share_revoked: bool,
    pub dests: BTreeMap<Destination, DestProgress>,
    pub skipped_regions: BTreeMap<Region, String>,
    pub completed: Option<Manifest>,
    pub rollback_started: bool,
    pub rollback_completed: bool,
}

impl Progress {
    /// Replays the entries.
    pub fn from_entries(entries: &[JournalEntry]) -> Result<Self> {
        let mut p = Progress::default();
        for e in entries {
            match e {
                JournalEntry::RunStarted { run_id, plan } => {
                    if p.plan.is_some() {
                        return Err(Error::Journal {
                            message: format!(
                                "the journal holds a second run ({run_id}); keep one journal per run"
                            ),
                        });
                    }
                    p.run_id = run_id.clone();
                    p.plan = Some((**plan).clone());
                }
                JournalEntry::SourceShareRequested {
                    accounts,
                    launch_already,
                    snapshot_already,
                    key_access_added,
                } => {
                    // The first record of the pre-state is the true one: later ones would see
                    // the run's own changes.
                    if p.share_requested.is_none() {
                        p.share_requested = Some(SharePreState {
                            accounts: accounts.clone(),
                            launch_already: launch_already.clone(),
                            snapshot_already: snapshot_already.clone(),
                            key_access_added: key_access_added.clone(),
                        });
                    }
                }
                JournalEntry::SourceShared { .. } => p.share_done = true,
                JournalEntry::SourceShareRevoked { .. } => p.share_revoked = true,
                JournalEntry::CopyRequested { destination, .. } => {
                    p.dest(destination).requested = true;
                }
                JournalEntry::CopyStarted {
                    destination,
                    image_id,
                } => {
                    let d = p.dest(destination);
                    d.requested = true;
                    d.image_id = Some(image_id.clone());
                }
                JournalEntry::CopyAvailable {
                    destination,
                    image_id,
                    snapshot_ids,
                } => {
                    let d = p.dest(destination);
                    d.requested = true;
                    d.image_id = Some(image_id.clone());
                    d.snapshots = Some(snapshot_ids.clone());
                }
                JournalEntry::PermissionGranted { destination, .. } => {
                    p.dest(destination).permissions = true;
                }
                JournalEntry::DeprecationSet { destination, .. } => {
                    p.dest(destination).deprecated = true;
                }
                JournalEntry::ProtectionRequested { destination } => {
                    p.dest(destination).protection_requested = true;
                }
                JournalEntry::ProtectionEnabled { destination, .. } => {
                    let d = p.dest(destination);
                    d.protection_requested = true;
                    d.protected = true;
                }
                JournalEntry::DestinationFailed { .. } => {}
                JournalEntry::RegionSkipped { region, reason } => {
                    p.skipped_regions
                        .entry(region.clone())
                        .or_insert_with(|| reason.clone());
                }
                JournalEntry::RunCompleted { manifest } => p.completed = Some(manifest.clone()),
                JournalEntry::RollbackStarted { .. } => p.rollback_started = true,
                JournalEntry::RolledBack { destination, .. } => {
                    p.dest(destination).rolled_back = true;
                }
                JournalEntry::RollbackCompleted { .. } => p.rollback_completed = true,
            }
        }
        Ok(p)
    }

    fn dest(&mut self, d: &Destination) -> &mut DestProgress {
        self.dests.entry(d.clone()).or_default()
    }

    /// The progress of a destination (default: nothing happened).
    pub fn of(&self, d: &Destination) -> DestProgress {
        self.dests.get(d).cloned().unwrap_or_default()
    }
}
