//! The append-only journal [`distribute`](super::distribute) records every step in.
//!
//! A workflow appends an *intent* entry before each side effect (for example
//! [`JournalEntry::CopyRequested`] with the client token it is about to use) and an *outcome*
//! entry after it ([`JournalEntry::CopyStarted`] with the new image id). Reading the journal back
//! tells a later run exactly what may exist: an intent without its outcome means "the call may or
//! may not have happened", which the workflow settles with the same idempotency token.
//!
//! Entries are JSON lines. Two stores are provided:
//!
//! - [`MemoryJournal`]: in memory, for tests and short-lived runs;
//! - [`FileJournal`]: one JSON object per line in a file, each append flushed to disk with
//!   `fsync` before the side effect it announces. A crash can leave the last line torn; reading
//!   ignores a torn last line (and opening for append cuts it off), while a damaged line in the
//!   middle is reported as [`Error::Journal`].
//!
//! ```
//! use ami_core::ops::journal::{JournalEntry, JournalStore, MemoryJournal};
//!
//! let journal = MemoryJournal::new();
//! journal.append(&JournalEntry::RollbackStarted { run_id: "r1".into() })?;
//! assert_eq!(journal.entries()?.len(), 1);
//! assert!(journal.to_json_lines()?.starts_with("{\"step\":\"rollback_started\""));
//! # Ok::<(), ami_core::Error>(())
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{AccountId, ClientToken, ImageId, KmsKeyRef, Region, SnapshotId};
use crate::model::LaunchPermission;
use crate::ops::distribute::{Destination, DistributionPlan, Manifest, Protection};
use crate::time::Timestamp;

/// One step of a journaled workflow.
///
/// Intent entries are written before the side effect they name, outcome entries after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum JournalEntry {
    /// The run began; the plan it executes, so a resume needs nothing but the journal.
    RunStarted {
        /// The run id.
        run_id: String,
        /// The plan.
        plan: Box<DistributionPlan>,
    },
    /// Intent: share the source image (through [`ops::share`](crate::ops::share)) with the
    /// accounts that copy it into their own account. Records what the share adds, read before
    /// it is applied, so a rollback removes exactly that and never what was there before.
    SourceShareRequested {
        /// The accounts about to receive the source.
        accounts: Vec<AccountId>,
        /// Of those, the accounts that already had launch permission on the source.
        launch_already: Vec<AccountId>,
        /// Per source snapshot, the accounts that already had create-volume permission.
        snapshot_already: Vec<(SnapshotId, Vec<AccountId>)>,
        /// Per customer managed key of the source, the accounts the share adds to the image's
        /// key policy statement.
        #[serde(default)]
        key_access_added: Vec<KeyAccessRecord>,
    },
    /// Outcome: the source is shared (launch permission, snapshot permission, key access).
    SourceShared {
        /// The accounts.
        accounts: Vec<AccountId>,
    },
    /// Intent: CopyImage for a destination, with this idempotency token.
    CopyRequested {
        /// Where the copy goes.
        destination: Destination,
        /// The token CopyImage is called with.
        client_token: ClientToken,
    },
    /// Outcome: CopyImage returned the id of the (pending) copy.
    CopyStarted {
        /// Where the copy goes.
        destination: Destination,
        /// The new image.
        image_id: ImageId,
    },
    /// Outcome: the copy is `available`; its snapshots.
    CopyAvailable {
        /// The destination.
        destination: Destination,
        /// The image.
        image_id: ImageId,
        /// Its backing snapshots.
        snapshot_ids: Vec<SnapshotId>,
    },
    /// Outcome: launch permissions (and the key access launching needs) are in place.
    PermissionGranted {
        /// The destination.
        destination: Destination,
        /// The permissions granted.
        permissions: Vec<LaunchPermission>,
    },
    /// Outcome: the deprecation time is set.
    DeprecationSet {
        /// The destination.
        destination: Destination,
        /// The deprecation time.
        at: Timestamp,
    },
    /// Intent: enable deregistration protection (a rollback must lift it first).
    ProtectionRequested {
        /// The destination.
        destination: Destination,
    },
    /// Outcome: deregistration protection is on.
    ProtectionEnabled {
        /// The destination.
        destination: Destination,
        /// The protection mode.
        protection: Protection,
    },
    /// A destination failed; the error and how many attempts were made.
    DestinationFailed {
        /// The destination.
        destination: Destination,
        /// The AWS (or workflow) error code.
        code: String,
        /// The message.
        message: String,
    },
    /// A Region was given up under [`FailurePolicy::SkipRegion`](super::distribute::FailurePolicy).
    RegionSkipped {
        /// The Region.
        region: Region,
        /// Why.
        reason: String,
    },
    /// The run finished; its manifest.
    RunCompleted {
        /// The manifest.
        manifest: Manifest,
    },
    /// A rollback began.
    RollbackStarted {
        /// The run id.
        run_id: String,
    },
    /// Outcome: everything the run created at a destination is gone.
    RolledBack {
        /// The destination.
        destination: Destination,
        /// The image removed, if one was created.
        image_id: Option<ImageId>,
        /// The snapshots removed.
        snapshot_ids: Vec<SnapshotId>,
    },
    /// Outcome: the source sharing the run added is revoked.
    SourceShareRevoked {
        /// The accounts whose access the run had added.
        accounts: Vec<AccountId>,
    },
    /// The rollback finished.
    RollbackCompleted {
        /// The run id.
        run_id: String,
    },
}

/// Accounts a workflow added to an image's statement in a key policy, so it can remove them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyAccessRecord {
    /// The account that owns the key (whose KMS client edits the policy).
    pub key_owner: AccountId,
    /// The key's Region.
    pub region: Region,
    /// The key.
    pub key: KmsKeyRef,
    /// The accounts added.
    pub accounts: Vec<AccountId>,
}

/// Where journal entries are kept.
///
/// # Contract
///
/// - `append` returns only once the entry is durable (for a file: written and `fsync`ed);
///   an `Err` means the entry may be lost and the workflow must stop before its side effect.
/// - `entries` returns every durable entry in append order.
/// - Implementations are safe to call from concurrent tasks.
pub trait JournalStore: Send + Sync + fmt::Debug {
    /// Appends one entry durably.
    fn append(&self, entry: &JournalEntry) -> Result<()>;
    /// Every entry, in order.
    fn entries(&self) -> Result<Vec<JournalEntry>>;
}

impl<T: JournalStore + ?Sized> JournalStore for std::sync::Arc<T> {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        (**self).append(entry)
    }
    fn entries(&self) -> Result<Vec<JournalEntry>> {
        (**self).entries()
    }
}

impl<T: JournalStore + ?Sized> JournalStore for &T {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        (**self).append(entry)
    }
    fn entries(&self) -> Result<Vec<JournalEntry>> {
        (**self).entries()
    }
}

fn journal_error(message: impl Into<String>) -> Error {
    Error::Journal {
        message: message.into(),
    }
}

fn encode(entry: &JournalEntry) -> Result<String> {
    serde_json::to_string(entry).map_err(|e| journal_error(format!("cannot encode entry: {e}")))
}

/// Parses JSON lines; a torn (unterminated or unparsable) last line is ignored.
fn decode(text: &str, source: &str) -> Result<Vec<JournalEntry>> {
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let last = i + 1 == lines.len();
        match serde_json::from_str::<JournalEntry>(line) {
            Ok(e) if last && !complete => {
                // An unterminated last line may still parse; it was never acknowledged, but it
                // is complete JSON, so the side effect it announces may have begun: keep it.
                out.push(e);
            }
            Ok(e) => out.push(e),
            Err(_) if last => {} // torn by a crash mid-write: never acknowledged
            Err(e) => {
                return Err(journal_error(format!(
                    "{source} line {}: {e}; the journal is damaged before its last line, restore it from a copy or roll back by hand",
                    i + 1
                )))
            }
        }
    }
    Ok(out)
}

/// A journal in memory.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    lines: Mutex<Vec<String>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// A journal holding these JSON lines (for instance a copy of a file journal).
    pub fn from_json_lines(text: &str) -> Result<Self> {
        let entries = decode(text, "journal")?;
        let lines = entries.iter().map(encode).collect::<Result<Vec<_>>>()?;
        Ok(MemoryJournal {
            lines: Mutex::new(lines),
        })
    }

    /// The journal as JSON lines (one entry per line, each ending in `\n`).
    pub fn to_json_lines(&self) -> Result<String> {
        Ok(self.lock().iter().map(|l| format!("{l}\n")).collect())
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        // A poisoned lock only means another thread panicked mid-push; the Vec is still valid.
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JournalStore for MemoryJournal {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        let line = encode(entry)?;
        self.lock().push(line);
        Ok(())
    }

    fn entries(&self) -> Result<Vec<JournalEntry>> {
        let text = self.to_json_lines()?;
        decode(&text, "journal")
    }
}

/// A journal in a file: JSON lines, each append `fsync`ed.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileJournal {
    /// Opens (or creates) the journal at `path` for appending. A torn last line left by a crash
    /// is cut off first, so the next entry starts on a fresh line.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |what: &str, e: std::io::Error| {
            journal_error(format!("cannot {what} {}: {e}", path.display()))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io("open", e))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| io("read", e))?;
        let keep = complete_prefix_len(&text);
        if keep < text.len() {
            file.set_len(keep as u64).map_err(|e| io("truncate", e))?;
            file.sync_all().map_err(|e| io("sync", e))?;
        }
        // Validate the rest now, so a damaged journal is refused before anything runs.
        decode(&text[..keep], &path.display().to_string())?;
        file.seek(SeekFrom::End(0)).map_err(|e| io("seek", e))?;
        Ok(FileJournal {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The length of the prefix made of complete lines whose last line parses.
fn complete_prefix_len(text: &str) -> usize {
    let mut end = match text.rfind('\n') {
        Some(i) => i + 1,
        None => 0,
    };
    // A terminated but unparsable last line is torn too (e.g. a partial page flushed).
    let body = &text[..end];
    let trimmed = body.strip_suffix('\n').unwrap_or(body);
    let start = trimmed.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let last = &trimmed[start..];
    if !last.trim().is_empty() && serde_json::from_str::<JournalEntry>(last).is_err() {
        end = start;
    }
    end
}

impl JournalStore for FileJournal {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        let mut line = encode(entry)?;
        line.push('\n');
        let mut file = self.lock();
        let io = |what: &str, e: std::io::Error| {
            journal_error(format!("cannot {what} {}: {e}", self.path.display()))
        };
        file.write_all(line.as_bytes())
            .map_err(|e| io("append to", e))?;
        file.sync_data().map_err(|e| io("sync", e))?;
        Ok(())
    }

    fn entries(&self) -> Result<Vec<JournalEntry>> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| journal_error(format!("cannot read {}: {e}", self.path.display())))?;
        decode(&text, &self.path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> JournalEntry {
        JournalEntry::RollbackStarted {
            run_id: format!("run-{n}"),
        }
    }

    #[test]
    fn memory_round_trip() {
        let j = MemoryJournal::new();
        for n in 0..3 {
            j.append(&entry(n)).unwrap();
        }
        assert_eq!(j.entries().unwrap(), vec![entry(0), entry(1), entry(2)]);
        let copy = MemoryJournal::from_json_lines(&j.to_json_lines().unwrap()).unwrap();
        assert_eq!(copy.entries().unwrap(), j.entries().unwrap());
    }

    #[test]
    fn torn_last_line_is_ignored_and_cut_off() {
        let dir = std::env::temp_dir().join(format!("ami-journal-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("torn.jsonl");
        let _ = std::fs::remove_file(&path);
        {
            let j = FileJournal::open(&path).unwrap();
            j.append(&entry(1)).unwrap();
            j.append(&entry(2)).unwrap();
        }
        // A crash in the middle of the third write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"step":"rollback_sta"#).unwrap();
        drop(f);
        let j = FileJournal::open(&path).unwrap();
        assert_eq!(j.entries().unwrap(), vec![entry(1), entry(2)]);
        j.append(&entry(3)).unwrap();
        assert_eq!(j.entries().unwrap(), vec![entry(1), entry(2), entry(3)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let text = "{\"step\":\"rollback_started\",\"run_id\":\"a\"}\nnot json\n{\"step\":\"rollback_started\",\"run_id\":\"b\"}\n";
        let err = MemoryJournal::from_json_lines(text).unwrap_err();
        assert_eq!(err.code(), "Journal");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
