//! The result of a distribution: where each copy is, and what was skipped.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::spec::{Destination, SourceImage};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, Region, SnapshotId};

/// One finished copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Where it is.
    pub destination: Destination,
    /// The image.
    pub image_id: ImageId,
    /// Its snapshots.
    pub snapshot_ids: Vec<SnapshotId>,
}

/// A destination the run gave up on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDestination {
    /// The destination.
    pub destination: Destination,
    /// Why (the error code and message, and what was cleaned up).
    pub reason: String,
}

/// Region/account → image id of a distribution, plus the destinations it skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run.
    pub run_id: String,
    /// The source image.
    pub source: SourceImage,
    /// The copies, ordered by Region then account.
    pub images: Vec<ManifestEntry>,
    /// The destinations skipped by the failure policy.
    pub skipped: Vec<SkippedDestination>,
}

impl Manifest {
    /// The image at `region` of `account`.
    pub fn image(&self, region: &Region, account: &AccountId) -> Option<&ImageId> {
        self.images
            .iter()
            .find(|e| &e.destination.region == region && &e.destination.account == account)
            .map(|e| &e.image_id)
    }

    /// The manifest as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::workflow(format!("manifest: {e}")))
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "distribution {} of {} ({} in {}): {} copies, {} skipped",
            self.run_id,
            self.source.image_id,
            self.source.account,
            self.source.region,
            self.images.len(),
            self.skipped.len()
        )?;
        for e in &self.images {
            writeln!(f, "  {:<32} {}", e.destination.to_string(), e.image_id)?;
        }
        for s in &self.skipped {
            writeln!(
                f,
                "  {:<32} skipped: {}",
                s.destination.to_string(),
                s.reason
            )?;
        }
        Ok(())
    }
}
