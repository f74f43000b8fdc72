//! The simulator's whole state: one value behind one mutex, ordered maps only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ami_core::model::{BlockPublicAccessState, Grant, KeyPolicy, SnapshotState};
use ami_core::rules::{self, Membership};
use ami_core::{
    AccountId, CreateVolumePermission, Error, Image, ImageId, ImageState, Instance, InstanceId,
    InstanceState, KmsKey, LaunchGuard, LaunchPermission, ProductCode, Region, Snapshot,
    SnapshotId, StateReason, Timestamp, VolumeId,
};

use crate::builder::Quotas;
use crate::faults::{FaultPlan, Outage, ScriptedFault};
use crate::idmap::IdMap;
use crate::log::Call;

/// An image and what only the simulator knows about it.
#[derive(Debug, Clone)]
pub(crate) struct ImageRec {
    pub image: Image,
    /// Launch permissions, sorted and without duplicates.
    pub perms: Vec<LaunchPermission>,
    /// Invisible (NotFound) before this time: the eventual-consistency lag.
    pub visible_at: Timestamp,
    /// When it was deregistered.
    pub deregistered_at: Option<Timestamp>,
    /// What completing a pending image checks, if anything: boxed, and `None` for most images
    /// (no KMS key to check, no planned failure), so a record carries one pointer for it
    /// instead of 72 bytes. Dropped once the image completes.
    pub completion: Option<Box<Completion>>,
}

/// What completing a pending image checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Completion {
    /// The KMS keys the image's creator must be able to use: (account, key id or unresolved
    /// reference).
    pub kms_checks: Vec<KmsCheck>,
    /// A failure decided when the image was started (fault plan).
    pub planned_failure: Option<StateReason>,
}

impl Completion {
    /// The boxed completion work, `None` when there is none.
    pub fn boxed(
        kms_checks: Vec<KmsCheck>,
        planned_failure: Option<StateReason>,
    ) -> Option<Box<Self>> {
        (!kms_checks.is_empty() || planned_failure.is_some()).then(|| {
            Box::new(Completion {
                kms_checks,
                planned_failure,
            })
        })
    }
}

/// A KMS key the creator of a pending image must be able to use when the image completes.
#[derive(Debug, Clone)]
pub(crate) struct KmsCheck {
    pub account: AccountId,
    /// The key id, or `Err(reference)` when the reference did not resolve.
    pub key: Result<String, String>,
}

/// A snapshot with its permissions and content.
#[derive(Debug, Clone)]
pub(crate) struct SnapRec {
    pub snap: Snapshot,
    pub perms: BTreeSet<CreateVolumePermission>,
    pub data: Arc<BTreeMap<String, String>>,
    pub product_codes: Vec<ProductCode>,
    pub visible_at: Timestamp,
    /// The registered images using it ([`id_key`](crate::index::id_key)s), kept in step by
    /// the image index.
    pub users: crate::index::Keys,
}

/// The content of one volume: what reached the disk and what is still in the page cache.
#[derive(Debug, Clone, Default)]
pub(crate) struct VolData {
    pub flushed: Arc<BTreeMap<String, String>>,
    pub buffered: BTreeMap<String, String>,
}

impl VolData {
    pub fn flush(&mut self) {
        if !self.buffered.is_empty() {
            let buffered = std::mem::take(&mut self.buffered);
            // Copy on write: volumes and snapshots share unchanged content.
            Arc::make_mut(&mut self.flushed).extend(buffered);
        }
    }
}

/// An instance with its volumes' content.
#[derive(Debug, Clone)]
pub(crate) struct InstRec {
    pub inst: Instance,
    pub data: Vec<VolData>,
    pub architecture: String,
    /// Bumped on every state change, so stale transition events are ignored.
    pub generation: u64,
    pub visible_at: Timestamp,
}

/// A KMS key with its policy and grants.
#[derive(Debug, Clone)]
pub(crate) struct KeyRec {
    pub key: KmsKey,
    pub policy: KeyPolicy,
    pub grants: Vec<Grant>,
}

/// Image block public access of one account in one Region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BpaRec {
    pub state: BlockPublicAccessState,
    /// A requested state not yet in force, and when it takes effect.
    pub pending: Option<(BlockPublicAccessState, Timestamp)>,
}

/// Something that happens at a virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A pending image completes (or fails).
    ImageDone(ImageId),
    /// An instance reaches a state, unless it changed state since.
    InstanceTo {
        id: InstanceId,
        generation: u64,
        state: InstanceState,
        reason: Option<StateReason>,
    },
    /// A block-public-access change takes effect.
    Bpa(AccountId, Region),
    /// The waiting period of a key pending deletion ends: the key (by id) and its aliases are
    /// deleted. CancelKeyDeletion takes the event off the queue (see
    /// [`State::unschedule_key_deletion`]), so a later ScheduleKeyDeletion of the same key
    /// never meets an earlier, cancelled date.
    KeyDeletion(String),
}

/// An event and when it happens. Ordered for a max-heap so that the earliest comes out first,
/// and of two at the same time the one scheduled first: the order a `BTreeMap` keyed by
/// `(at, seq)` would give, without a tree node per few events.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    pub at: Timestamp,
    /// The scheduling order (unique).
    pub seq: u64,
    pub event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: the heap's greatest is the earliest (at, seq).
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A remembered idempotent request: its fingerprint and the ids it returned.
#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    pub fingerprint: String,
    pub ids: Vec<String>,
}

/// The whole simulated AWS.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// Independent random streams (ids, call faults, image outcomes).
    pub streams: crate::streams::Streams,
    /// The resource id counter (see `next_unique`), started at a seeded offset.
    pub id_seq: u128,
    pub regions: BTreeSet<Region>,
    /// Every account and where it sits in its organization (whole OU path).
    pub accounts: BTreeMap<AccountId, Membership>,
    /// Organization id → management account.
    pub orgs: BTreeMap<String, AccountId>,
    /// OU id → organization id.
    pub ou_orgs: BTreeMap<String, String>,
    pub lag: Duration,
    pub faults: FaultPlan,
    pub quotas: Quotas,
    pub scripted: Vec<ScriptedFault>,
    pub outages: Vec<Outage>,
    pub guards: BTreeMap<AccountId, Arc<dyn LaunchGuard>>,
    /// Boxed: a B-tree node then moves pointers, not whole records, on insert.
    pub images: IdMap<ImageId, Box<ImageRec>>,
    pub snapshots: IdMap<SnapshotId, Box<SnapRec>>,
    pub instances: IdMap<InstanceId, Box<InstRec>>,
    pub keys: BTreeMap<String, KeyRec>,
    /// (account, Region, alias name) → key id.
    pub aliases: BTreeMap<(AccountId, Region, String), String>,
    /// Image block public access per account and Region ([`Scope`](crate::index::Scope)).
    pub bpa: BTreeMap<crate::index::Scope, BpaRec>,
    /// The AWS managed EBS key id per account and Region, once created.
    pub default_keys: BTreeMap<crate::index::Scope, String>,
    /// (account, Region, operation, token) → remembered request.
    pub tokens: BTreeMap<(AccountId, Region, &'static str, String), TokenRec>,
    /// Events to come, earliest first (ties in the order they were scheduled).
    pub events: std::collections::BinaryHeap<Scheduled>,
    pub event_seq: u64,
    /// (Region, catalogue name) → image.
    pub catalogue: BTreeMap<(Region, String), ImageId>,
    pub log: Vec<Call>,
    /// Whether calls are recorded in [`log`](Self::log) (counts are always kept).
    pub record_calls: bool,
    /// Calls per operation.
    pub counts: BTreeMap<crate::log::Op, usize>,
    /// Indexes over images and instances.
    pub index: crate::index::Indexes,
}

/// How long a deregistered image still shows (state `deregistered`) when named by id.
pub(crate) const DEREGISTERED_GRACE: Duration = Duration::from_secs(3600);

impl State {
    // ---- ids -------------------------------------------------------------------------------

    fn next_u128(&mut self) -> u128 {
        self.streams.id_bits()
    }

    /// The next resource id number: the [`scramble`](crate::idmap::scramble) of a counter
    /// started at a seeded offset, so ids look random, depend on the seed, and never repeat
    /// (no lookup needed).
    fn next_unique(&mut self) -> u128 {
        self.id_seq = self.id_seq.wrapping_add(1);
        crate::idmap::scramble(self.id_seq)
    }

    pub fn new_image_id(&mut self) -> ImageId {
        let n = self.next_unique();
        let mut buf = [0u8; HEX_ID_BUF];
        ImageId::parse(hex_id_in(ImageId::PREFIX, n, &mut buf))
            .unwrap_or_else(|_| ImageId::from_u128(n))
    }

    pub fn new_snapshot_id(&mut self) -> SnapshotId {
        let n = self.next_unique();
        let mut buf = [0u8; HEX_ID_BUF];
        SnapshotId::parse(hex_id_in(SnapshotId::PREFIX, n, &mut buf))
            .unwrap_or_else(|_| SnapshotId::from_u128(n))
    }

    pub fn new_instance_id(&mut self) -> InstanceId {
        let n = self.next_unique();
        let mut buf = [0u8; HEX_ID_BUF];
        InstanceId::parse(hex_id_in(InstanceId::PREFIX, n, &mut buf))
            .unwrap_or_else(|_| InstanceId::from_u128(n))
    }

    pub fn new_volume_id(&mut self) -> VolumeId {
        let n = self.next_unique();
        let mut buf = [0u8; HEX_ID_BUF];
        VolumeId::parse(hex_id_in(VolumeId::PREFIX, n, &mut buf))
            .unwrap_or_else(|_| VolumeId::from_u128(n))
    }

    /// A UUID-shaped KMS key id (or `mrk-` + 32 hex for multi-Region keys).
    pub fn new_key_id(&mut self, multi_region: bool) -> String {
        let n = self.next_u128();
        let hex = format!("{n:032x}");
        if multi_region {
            format!("mrk-{hex}")
        } else {
            format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
        }
    }

    /// 64 hex characters, like a KMS grant id.
    pub fn new_grant_id(&mut self) -> String {
        let (a, b) = (self.next_u128(), self.next_u128());
        format!("{a:032x}{b:032x}")
    }

    // ---- time ------------------------------------------------------------------------------

    pub fn schedule(&mut self, at: Timestamp, event: Event) {
        self.event_seq += 1;
        self.events.push(Scheduled {
            at,
            seq: self.event_seq,
            event,
        });
    }

    /// Applies every event due at or before `now`, in time order.
    pub fn advance(&mut self, now: Timestamp) {
        while self.events.peek().is_some_and(|e| e.at <= now) {
            if let Some(Scheduled { at, event, .. }) = self.events.pop() {
                self.apply(at, event);
            }
        }
    }

    fn apply(&mut self, at: Timestamp, event: Event) {
        match event {
            Event::ImageDone(id) => self.complete_image(&id, at),
            Event::InstanceTo {
                id,
                generation,
                state,
                reason,
            } => {
                let mut terminated = None;
                if let Some(rec) = self.instances.get_mut(&id) {
                    if rec.generation == generation {
                        if state == InstanceState::Terminated
                            && rec.inst.state != InstanceState::Terminated
                        {
                            terminated = Some((rec.inst.owner.clone(), rec.inst.region.clone()));
                        }
                        rec.inst.state = state;
                        if reason.is_some() {
                            rec.inst.state_reason = reason;
                        }
                        if state == InstanceState::Terminated {
                            // Unflushed writes are lost with the instance.
                            for d in &mut rec.data {
                                d.buffered.clear();
                            }
                        }
                    }
                }
                if let Some((owner, region)) = terminated {
                    let key = self.scope(&owner, &region);
                    crate::index::bump(&mut self.index.live_instances, key, false);
                }
            }
            Event::KeyDeletion(key_id) => self.delete_key(&key_id),
            Event::Bpa(account, region) => {
                let key = self.scope(&account, &region);
                if let Some(rec) = self.bpa.get_mut(&key) {
                    if let Some((s, due)) = rec.pending {
                        if due <= at {
                            rec.state = s;
                            rec.pending = None;
                        }
                    }
                }
            }
        }
    }

    /// Takes the pending deletion of key `key_id` off the event queue; returns whether there
    /// was one.
    pub fn unschedule_key_deletion(&mut self, key_id: &str) -> bool {
        let before = self.events.len();
        self.events
            .retain(|e| !matches!(&e.event, Event::KeyDeletion(k) if k == key_id));
        self.events.len() != before
    }

    /// Deletes a key whose waiting period ended, with its grants and every alias naming it.
    /// A key no longer pending deletion (cancelled meanwhile) is kept.
    fn delete_key(&mut self, key_id: &str) {
        let pending = self
            .keys
            .get(key_id)
            .is_some_and(|r| r.key.state == ami_core::model::KeyState::PendingDeletion);
        if !pending {
            return;
        }
        // AWS: KMS ScheduleKeyDeletion: when the waiting period ends the key and its key
        // material are deleted for good, and the aliases that named it go with it.
        self.keys.remove(key_id);
        self.aliases.retain(|_, target| target != key_id);
    }

    fn complete_image(&mut self, id: &ImageId, _at: Timestamp) {
        let Some(rec) = self.images.get(id) else {
            return;
        };
        // AWS: §1 "pending (copy) → gone": a deregistered pending copy never completes; the
        // snapshots it was writing are left in `error`.
        if rec.image.state != ImageState::Pending {
            if rec.image.state == ImageState::Deregistered {
                // The image and snapshot maps are separate fields: no list of ids is copied.
                let snaps = rec.image.block_devices.iter();
                for s in snaps.filter_map(|d| d.snapshot_id.as_ref()) {
                    if let Some(sr) = self.snapshots.get_mut(s) {
                        if sr.snap.state == SnapshotState::Pending {
                            sr.snap.state = SnapshotState::Error;
                        }
                    }
                }
            }
            return;
        }
        let failure = rec.completion.as_deref().and_then(|c| {
            c.planned_failure.clone().or_else(|| {
                // The first check that fails gives the reason.
                c.kms_checks
                    .iter()
                    .find_map(|check| self.kms_check_failure(check))
            })
        });
        let snaps = rec.image.block_devices.iter();
        let snaps = snaps.filter_map(|d| d.snapshot_id.as_ref());
        let snap_state = if failure.is_some() {
            SnapshotState::Error
        } else {
            SnapshotState::Completed
        };
        for s in snaps {
            if let Some(sr) = self.snapshots.get_mut(s) {
                if sr.snap.state == SnapshotState::Pending {
                    sr.snap.state = snap_state;
                }
            }
        }
        self.with_image(id, |rec| {
            rec.completion = None;
            match failure {
                Some(reason) => {
                    rec.image.state = ImageState::Failed;
                    rec.image.state_reason = Some(reason);
                }
                None => rec.image.state = ImageState::Available,
            }
        });
    }

    // ---- organizations and access ----------------------------------------------------------

    /// The account's organization and OU path (none for an unknown or standalone account).
    pub fn membership(&self, account: &AccountId) -> &Membership {
        static NONE: Membership = Membership {
            org: None,
            ous: Vec::new(),
        };
        self.accounts.get(account).unwrap_or(&NONE)
    }

    /// The launch permissions of an image, as the rules take them.
    pub fn perms_of(rec: &ImageRec) -> &[LaunchPermission] {
        &rec.perms
    }

    /// Whether `account` owns or may launch `rec` (explicit, org, nested OU or public grant).
    pub fn can_launch(&self, rec: &ImageRec, account: &AccountId) -> bool {
        rules::has_launch_permission(
            &rec.image,
            Self::perms_of(rec),
            account,
            self.membership(account),
        )
    }

    /// Whether `account` has the image through a share (explicit, org, OU), not ownership or
    /// public access.
    pub fn shared_with(&self, rec: &ImageRec, account: &AccountId) -> bool {
        let m = self.membership(account);
        rec.perms
            .iter()
            .any(|p| *p != LaunchPermission::Public && rules::permission_covers(p, account, m))
    }

    /// Whether `account` may read (create volumes from, copy) the snapshot.
    pub fn can_read_snapshot(&self, rec: &SnapRec, account: &AccountId) -> bool {
        let perms: Vec<CreateVolumePermission> = rec.perms.iter().cloned().collect();
        rules::can_read_snapshot(&rec.snap.owner, &perms, account)
    }

    pub fn bpa_state(&self, account: &AccountId, region: &Region) -> BlockPublicAccessState {
        self.bpa
            .get(&self.scope(account, region))
            .map(|b| b.state)
            // AWS: §3 "Block public access": enabled by default for new accounts.
            .unwrap_or(BlockPublicAccessState::BlockNewSharing)
    }
}

/// `prefix` and the low 68 bits of `n` as 17 lowercase hex digits: the text of
/// `from_u128`, written without the formatting machinery (ids are made on every create).
/// Room for an id written by [`hex_id_in`]: a prefix of up to 15 bytes and 17 hex digits.
const HEX_ID_BUF: usize = 32;

/// Writes `prefix` and the 17 hex digits of `n` into `buf` and returns them as a string, so
/// that the id type's own parse makes the only allocation. A prefix too long for `buf` gives
/// an empty string (which no id type accepts).
fn hex_id_in<'a>(prefix: &str, n: u128, buf: &'a mut [u8; HEX_ID_BUF]) -> &'a str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let p = prefix.len();
    if p + 17 > HEX_ID_BUF {
        return "";
    }
    buf[..p].copy_from_slice(prefix.as_bytes());
    for (i, b) in buf[p..p + 17].iter_mut().enumerate() {
        *b = DIGITS[((n >> (4 * (16 - i))) & 0xf) as usize];
    }
    std::str::from_utf8(&buf[..p + 17]).unwrap_or("")
}

#[cfg(test)]
fn hex_id(prefix: &str, n: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    for i in (0..17).rev() {
        s.push(char::from(DIGITS[((n >> (4 * i)) & 0xf) as usize]));
    }
    s
}

/// `Error::from_code`, shorter.
pub(crate) fn err(code: &str, message: impl Into<String>) -> Error {
    Error::from_code(code, message)
}

#[cfg(test)]
mod tests {
    use super::hex_id;
    use ami_core::{ImageId, SnapshotId};

    /// Ids written by hand are exactly those `from_u128` writes.
    #[test]
    fn hex_ids_match_from_u128() {
        for n in [
            0u128,
            1,
            0xabc,
            (1 << 68) - 1,
            u128::MAX,
            0x1234_5678_9abc_def0_1234,
        ] {
            assert_eq!(hex_id(ImageId::PREFIX, n), ImageId::from_u128(n).as_str());
            let mut buf = [0u8; super::HEX_ID_BUF];
            assert_eq!(
                super::hex_id_in(ImageId::PREFIX, n, &mut buf),
                ImageId::from_u128(n).as_str()
            );
            let mut buf = [0u8; super::HEX_ID_BUF];
            assert_eq!(
                super::hex_id_in(SnapshotId::PREFIX, n, &mut buf),
                SnapshotId::from_u128(n).as_str()
            );
            assert_eq!(
                hex_id(SnapshotId::PREFIX, n),
                SnapshotId::from_u128(n).as_str()
            );
        }
    }
}
