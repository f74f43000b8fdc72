//! Indexes over the images and instances, kept in step with every change, so that quota,
//! name and in-use checks cost a lookup instead of a scan of every image.

use std::collections::BTreeMap;

use ami_core::{AccountId, Image, ImageId, ImageState, Region, SnapshotId};

use crate::idmap::{FastMap, IdMap};
use crate::state::{ImageRec, SnapRec, State};

/// An account and Region as one number: the account's 12 digits times 1024 plus the Region's
/// position among the simulated Regions (cheaper to compare than two strings).
pub(crate) type Scope = u64;

/// The [`Scope`] of an account in a Region.
pub(crate) fn scope(regions: &[Region], account: &AccountId, region: &Region) -> Scope {
    // Account ids are exactly 12 ASCII digits (checked when parsed).
    let a = account
        .as_str()
        .bytes()
        .fold(0u64, |n, b| n * 10 + u64::from(b.wrapping_sub(b'0') % 10));
    // Few Regions: a linear scan of equal-length names beats a binary search.
    let r = regions
        .iter()
        .position(|x| x == region)
        .map_or(1023, |i| i as u64 & 1023);
    a * 1024 + r
}

/// A resource id (`<prefix>-<8 or 17 hex>`) as a number that sorts as the id does: the hex
/// digits left-aligned in 68 bits, then the digit count. Ids of one kind share the prefix, so
/// the number is unique per id and comparing numbers compares the ids, without touching
/// strings or allocating.
pub(crate) fn id_key(id: &str) -> u128 {
    let bytes = id.as_bytes();
    // Ids of 17 hex digits after their only dash (all the simulator makes): the first 16
    // digits read eight at a time. Any other form takes the digit-by-digit path below.
    if let Some((&[b'-'], hex)) = bytes
        .len()
        .checked_sub(18)
        .map(|at| bytes[at..].split_at(1))
    {
        if let (Ok(a), Ok(b)) = (
            <[u8; 8]>::try_from(&hex[..8]),
            <[u8; 8]>::try_from(&hex[8..16]),
        ) {
            let (a, b) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
            if !has_dash(a) && !has_dash(b) && hex[16] != b'-' {
                let head = (hex8(a) << 32) | hex8(b);
                let n = (u128::from(head) << 4) | u128::from(digit(hex[16]));
                return (n << 8) | 17;
            }
        }
    }
    let start = bytes.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
    let hex = &bytes[start..];
    let len = hex.len().min(17);
    // The first 16 digits fit a u64 (cheaper to shift than a u128); the 17th, if any, joins
    // after the widening.
    let mut head: u64 = 0;
    for &b in &hex[..len.min(16)] {
        head = (head << 4) | u64::from(digit(b));
    }
    let mut n = u128::from(head);
    if len == 17 {
        n = (n << 4) | u128::from(digit(hex[16]));
    }
    ((n << (4 * (17 - len))) << 8) | len as u128
}

/// Whether any of the eight bytes of `x` is `-` (the classic zero-byte test on `x` xor
/// dashes).
fn has_dash(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let v = x ^ (ONES * u64::from(b'-'));
    (v.wrapping_sub(ONES) & !v & (ONES << 7)) != 0
}

/// A lowercase hex digit's value: '0'..='9' have bit 6 clear, 'a'..='f' set.
fn digit(b: u8) -> u8 {
    (b & 0xf) + 9 * (b >> 6)
}

/// Eight lowercase hex digits (the first in the lowest byte of `x`) as a 32-bit number, all
/// at once: each byte to its digit value, then neighbouring digits joined pairwise.
fn hex8(x: u64) -> u64 {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Per byte: (b & 0xf) + 9 * bit 6 of b, as `digit` does; no byte carries into the next.
    let v = (x & LOW_NIBBLES) + ((x >> 6) & ONES) * 9;
    // Two digits per 16 bits, then four per 32, then eight.
    let v = ((v & 0x00ff_00ff_00ff_00ff) << 4) | ((v >> 8) & 0x00ff_00ff_00ff_00ff);
    let v = ((v & 0x0000_ffff_0000_ffff) << 8) | ((v >> 16) & 0x0000_ffff_0000_ffff);
    ((v & 0xffff_ffff) << 16) | (v >> 32)
}

/// What one image contributes to the indexes, apart from its name and snapshots, which never
/// change once the image exists and count while it is registered. Plain numbers: computing
/// and comparing contributions allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Contribution {
    /// Its owner and Region.
    scope: Scope,
    /// Whether it is registered (holds its name and its snapshots).
    registered: bool,
    /// Whether it counts against the image quota (pending, available, disabled).
    counted: bool,
    /// Whether it is a copy in progress.
    pending_copy: bool,
    /// The instance a pending CreateImage is reading ([`id_key`]).
    pending_instance: Option<u128>,
    /// Whether it is public.
    public: bool,
}

fn contribution(regions: &[Region], i: &Image) -> Contribution {
    contribution_in(scope(regions, &i.owner, &i.region), i)
}

/// [`contribution`] of an image whose [`Scope`] is already known.
fn contribution_in(scope: Scope, i: &Image) -> Contribution {
    let pending = i.state == ImageState::Pending;
    Contribution {
        scope,
        registered: i.state != ImageState::Deregistered,
        counted: matches!(
            i.state,
            ImageState::Pending | ImageState::Available | ImageState::Disabled
        ),
        pending_copy: pending && i.source_image_id.is_some() && i.source_instance_id.is_none(),
        pending_instance: if pending {
            i.source_instance_id.as_ref().map(|x| id_key(x.as_str()))
        } else {
            None
        },
        public: i.public,
    }
}

pub(crate) fn bump<K: Ord>(map: &mut BTreeMap<K, usize>, key: K, up: bool) {
    if up {
        *map.entry(key).or_default() += 1;
    } else if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// [`bump`] for a hashed map.
fn bump_hashed(map: &mut FastMap<u128, usize>, key: u128, up: bool) {
    if up {
        *map.entry(key).or_default() += 1;
    } else if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// A short sorted set of [`id_key`]s (the registered images using a snapshot, the images
/// whose names share a hash): almost always none or one, kept inline so that indexing an
/// image allocates nothing for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Keys {
    /// None.
    #[default]
    None,
    /// One.
    One(u128),
    /// Two or more, sorted.
    Many(Vec<u128>),
}

impl Keys {
    /// The keys, sorted.
    pub fn as_slice(&self) -> &[u128] {
        match self {
            Keys::None => &[],
            Keys::One(k) => std::slice::from_ref(k),
            Keys::Many(v) => v,
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        matches!(self, Keys::None)
    }

    fn from_vec(mut all: Vec<u128>) -> Keys {
        match all.len() {
            0 => Keys::None,
            1 => Keys::One(all[0]),
            _ => {
                all.sort_unstable();
                all.dedup();
                Keys::Many(all)
            }
        }
    }

    /// Adds `key` (once).
    pub fn add(&mut self, key: u128) {
        match self {
            Keys::None => *self = Keys::One(key),
            Keys::One(k) if *k == key => {}
            _ => {
                let mut all = self.as_slice().to_vec();
                all.push(key);
                *self = Keys::from_vec(all);
            }
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: u128) {
        match self {
            Keys::None => {}
            Keys::One(k) => {
                if *k == key {
                    *self = Keys::None;
                }
            }
            Keys::Many(v) => {
                let all: Vec<u128> = v.iter().copied().filter(|&k| k != key).collect();
                *self = Keys::from_vec(all);
            }
        }
    }
}

/// The hash of an image name in the [`Indexes::names`] index (fixed seed: the same in every
/// run).
pub(crate) fn name_hash(name: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(name)
}

/// The indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// The simulated Regions, sorted (for [`scope`]).
    pub regions: Vec<Region>,
    /// Owner and Region → [`name_hash`] → the registered images whose names have that hash
    /// (compare the names to tell a clash from a match). Hashes, not the names themselves: no
    /// copy of each name, and nothing but numbers to move when a map grows.
    pub names: BTreeMap<Scope, FastMap<u64, Keys>>,
    /// Images counting against the image quota, per owner and Region.
    pub counted: BTreeMap<Scope, usize>,
    /// Copies in progress, per owner and destination Region.
    pub pending_copies: BTreeMap<Scope, usize>,
    /// Pending CreateImage requests per instance ([`id_key`]).
    pub pending_by_instance: FastMap<u128, usize>,
    /// Public images, per owner and Region.
    pub public: BTreeMap<Scope, usize>,
    /// Instances not yet terminated, per owner and Region.
    pub live_instances: BTreeMap<Scope, usize>,
}

impl Indexes {
    /// Moves an image in the counters from what `before` counted to what `after` counts
    /// (`None`: not counted), touching only the parts that differ. Returns `Some(registered)`
    /// when the image's registration changed: its name and snapshot uses are for the caller
    /// to add or remove ([`registration`]).
    fn update(
        &mut self,
        before: Option<&Contribution>,
        after: Option<&Contribution>,
    ) -> Option<bool> {
        let part = |c: Option<&Contribution>, f: fn(&Contribution) -> bool| c.is_some_and(f);
        let (reg_before, reg_after) = (
            part(before, |c| c.registered),
            part(after, |c| c.registered),
        );
        let scope = after.or(before).map_or(0, |c| c.scope);
        let (was, is) = (part(before, |c| c.counted), part(after, |c| c.counted));
        if was != is {
            bump(&mut self.counted, scope, is);
        }
        let (was, is) = (
            part(before, |c| c.pending_copy),
            part(after, |c| c.pending_copy),
        );
        if was != is {
            bump(&mut self.pending_copies, scope, is);
        }
        let (was, is) = (part(before, |c| c.public), part(after, |c| c.public));
        if was != is {
            bump(&mut self.public, scope, is);
        }
        let (inst_before, inst_after) = (
            before.and_then(|c| c.pending_instance),
            after.and_then(|c| c.pending_instance),
        );
        if inst_before != inst_after {
            if let Some(k) = inst_before {
                bump_hashed(&mut self.pending_by_instance, k, false);
            }
            if let Some(k) = inst_after {
                bump_hashed(&mut self.pending_by_instance, k, true);
            }
        }
        (reg_before != reg_after).then_some(reg_after)
    }
}

/// Adds (or removes) a registered image's name and its uses of its snapshots (recorded on the
/// snapshots themselves). Fields, not `State`, so that a caller holding an image record can
/// call it.
fn registration(
    names: &mut BTreeMap<Scope, FastMap<u64, Keys>>,
    snapshots: &mut IdMap<SnapshotId, Box<SnapRec>>,
    i: &Image,
    scope: Scope,
    up: bool,
) {
    let image = id_key(i.id.as_str());
    let hash = name_hash(&i.name);
    if up {
        names
            .entry(scope)
            .or_default()
            .entry(hash)
            .or_default()
            .add(image);
    } else if let Some(in_scope) = names.get_mut(&scope) {
        if let Some(keys) = in_scope.get_mut(&hash) {
            keys.remove(image);
            if keys.is_empty() {
                in_scope.remove(&hash);
                if in_scope.is_empty() {
                    names.remove(&scope);
                }
            }
        }
    }
    for s in i
        .block_devices
        .iter()
        .filter_map(|d| d.snapshot_id.as_ref())
    {
        if let Some(snap) = snapshots.get_mut(s) {
            if up {
                snap.users.add(image);
            } else {
                snap.users.remove(image);
            }
        }
    }
}

impl State {
    /// Adds a new image (and indexes it).
    pub fn insert_image(&mut self, rec: ImageRec) {
        let c = contribution(&self.index.regions, &rec.image);
        if let Some(up) = self.index.update(None, Some(&c)) {
            registration(
                &mut self.index.names,
                &mut self.snapshots,
                &rec.image,
                c.scope,
                up,
            );
        }
        self.images.insert(rec.image.id.clone(), Box::new(rec));
    }

    /// Changes an image, keeping the indexes in step; `None` if there is no such image. `f`
    /// must not change the image's id, name, owner, Region or block devices (no EC2 call
    /// does; checked in debug builds).
    pub fn with_image<R>(&mut self, id: &ImageId, f: impl FnOnce(&mut ImageRec) -> R) -> Option<R> {
        let rec = self.images.get_mut(id)?;
        let before = contribution(&self.index.regions, &rec.image);
        #[cfg(debug_assertions)]
        let fixed = |i: &Image| {
            (
                i.id.clone(),
                i.name.clone(),
                i.owner.clone(),
                i.region.clone(),
                i.block_devices.clone(),
            )
        };
        #[cfg(debug_assertions)]
        let fixed_before = fixed(&rec.image);
        let out = f(rec);
        #[cfg(debug_assertions)]
        debug_assert!(
            fixed(&rec.image) == fixed_before,
            "with_image changed a fixed field of {id}"
        );
        // The owner and Region are fixed (see above): the scope is the one computed before.
        let after = contribution_in(before.scope, &rec.image);
        if before != after {
            if let Some(up) = self.index.update(Some(&before), Some(&after)) {
                registration(
                    &mut self.index.names,
                    &mut self.snapshots,
                    &rec.image,
                    before.scope,
                    up,
                );
            }
        }
        Some(out)
    }

    /// The registered images using `snap`.
    pub fn images_using(&self, snap: &SnapshotId) -> Vec<&Image> {
        self.snapshots
            .get(snap)
            .map_or(&[][..], |s| s.users.as_slice())
            .iter()
            .filter_map(|&image| self.images.get_by_key(image))
            .map(|r| &r.image)
            .collect()
    }

    /// How many `scope` counters hold for an account and Region.
    pub fn count_in(
        &self,
        map: &BTreeMap<Scope, usize>,
        account: &AccountId,
        region: &Region,
    ) -> usize {
        map.get(&self.scope(account, region)).copied().unwrap_or(0)
    }

    /// The [`Scope`] of an account in a Region.
    pub fn scope(&self, account: &AccountId, region: &Region) -> Scope {
        scope(&self.index.regions, account, region)
    }

    /// The image of `account` in `region` holding `name`, if any.
    pub fn image_named(&self, account: &AccountId, region: &Region, name: &str) -> Option<&Image> {
        self.index
            .names
            .get(&self.scope(account, region))
            .and_then(|names| names.get(&name_hash(name)))
            .map_or(&[][..], Keys::as_slice)
            .iter()
            .filter_map(|&image| self.images.get_by_key(image))
            .map(|r| &r.image)
            .find(|i| i.name == name)
    }

    /// Recomputes every index from scratch and compares: `Err` names the first that drifted.
    pub fn verify_indexes(&self) -> Result<(), String> {
        let mut fresh = Indexes {
            regions: self.index.regions.clone(),
            ..Indexes::default()
        };
        // Snapshot → its users, as the snapshots should record them.
        let mut users: BTreeMap<u128, Vec<u128>> = BTreeMap::new();
        for r in self.images.values_unordered() {
            let c = contribution(&fresh.regions, &r.image);
            if fresh.update(None, Some(&c)) == Some(true) {
                let i = &r.image;
                fresh
                    .names
                    .entry(c.scope)
                    .or_default()
                    .entry(name_hash(&i.name))
                    .or_default()
                    .add(id_key(i.id.as_str()));
                for s in i
                    .block_devices
                    .iter()
                    .filter_map(|d| d.snapshot_id.as_ref())
                {
                    users
                        .entry(id_key(s.as_str()))
                        .or_default()
                        .push(id_key(i.id.as_str()));
                }
            }
        }
        let users_ok = self.snapshots.iter_unordered().all(|(id, s)| {
            let expected = users.remove(&id_key(id.as_str())).unwrap_or_default();
            s.users == Keys::from_vec(expected)
        });
        for r in self.instances.values_unordered() {
            if r.inst.state != ami_core::InstanceState::Terminated {
                let key = scope(&fresh.regions, &r.inst.owner, &r.inst.region);
                bump(&mut fresh.live_instances, key, true);
            }
        }
        let i = &self.index;
        let checks = [
            ("names", fresh.names == i.names),
            ("counted", fresh.counted == i.counted),
            ("pending_copies", fresh.pending_copies == i.pending_copies),
            (
                "pending_by_instance",
                fresh.pending_by_instance == i.pending_by_instance,
            ),
            ("public", fresh.public == i.public),
            ("snapshot users", users_ok),
            ("live_instances", fresh.live_instances == i.live_instances),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(format!("index {name} drifted from the images")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::id_key;

    /// The straightforward form of [`id_key`]: every digit shifted into a u128.
    fn id_key_reference(id: &str) -> u128 {
        let bytes = id.as_bytes();
        let start = bytes.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
        let hex = &bytes[start..];
        let len = hex.len().min(17);
        let mut n: u128 = 0;
        for &b in &hex[..len] {
            n = (n << 4) | u128::from((b & 0xf) + 9 * (b >> 6));
        }
        ((n << (4 * (17 - len))) << 8) | len as u128
    }

    /// The fast id key equals the straightforward one for ids of every length up to 17 hex
    /// digits (and longer ones, cut at 17), with every hex digit in every position.
    #[test]
    fn id_key_matches_reference() {
        let digits = b"0123456789abcdef";
        for len in 0..=18 {
            for (k, _) in digits.iter().enumerate() {
                let hex: String = (0..len)
                    .map(|p| char::from(digits[(k + 7 * p) % 16]))
                    .collect();
                for id in [format!("ami-{hex}"), format!("snap-{hex}"), hex.clone()] {
                    assert_eq!(id_key(&id), id_key_reference(&id), "{id}");
                }
            }
        }
    }

    proptest::proptest! {
        /// The eight-at-a-time path agrees with the reference on any text of hex digits and
        /// dashes, whatever the prefix: ids of every length, dashes anywhere.
        #[test]
        fn id_key_fast_path_matches_reference(
            prefix in "(ami|snap|i|vol)?",
            rest in "[0-9a-f-]{0,30}",
            digits in "[0-9a-f]{17}",
        ) {
            for id in [format!("{prefix}{rest}"), format!("{prefix}-{digits}"), format!("{rest}-{digits}")] {
                proptest::prop_assert_eq!(id_key(&id), id_key_reference(&id), "{}", id);
            }
        }
    }

    /// Id keys sort exactly as the ids do, and differ whenever the ids differ.
    #[test]
    fn id_keys_sort_as_ids() {
        let mut ids = [
            "ami-0123abcd",
            "ami-0123abce",
            "ami-0123abcd000000000",
            "ami-0123abcd000000001",
            "ami-0123abcd1",
            "ami-fffffffffffffffff",
            "ami-00000000",
            "ami-00000000000000000",
        ];
        ids.sort_unstable();
        let keys: Vec<u128> = ids.iter().map(|i| id_key(i)).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }
}
