//! Indexes over the images and instances, kept in step with every change, so that quota,
//! name and in-use checks cost a lookup instead of a scan of every image.

use std::collections::{BTreeMap, BTreeSet};

use ami_core::{AccountId, Image, ImageId, ImageState, InstanceId, Region, SnapshotId};

use crate::state::{ImageRec, State};

/// An account and Region as one number: the account's 12 digits times 1024 plus the Region's
/// position among the simulated Regions (cheaper to compare than two strings).
pub(crate) type Scope = u64;

/// The [`Scope`] of an account in a Region.
pub(crate) fn scope(regions: &[Region], account: &AccountId, region: &Region) -> Scope {
    let a: u64 = account.as_str().parse().unwrap_or(0);
    let r = regions
        .binary_search(region)
        .map_or(1023, |i| i as u64 & 1023);
    a * 1024 + r
}

/// What one image contributes to the indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Contribution {
    /// The name it holds in its account and Region (not once deregistered).
    name: Option<(Scope, String)>,
    /// Whether it counts against the image quota (pending, available, disabled).
    counted: bool,
    /// Whether it is a copy in progress.
    pending_copy: bool,
    /// The instance a pending CreateImage is reading.
    pending_instance: Option<InstanceId>,
    /// Whether it is public.
    public: bool,
    /// The snapshots it holds in use (not once deregistered).
    snapshots: Vec<SnapshotId>,
}

fn contribution(regions: &[Region], i: &Image) -> Contribution {
    let registered = i.state != ImageState::Deregistered;
    let pending = i.state == ImageState::Pending;
    Contribution {
        name: registered.then(|| (scope(regions, &i.owner, &i.region), i.name.clone())),
        counted: matches!(
            i.state,
            ImageState::Pending | ImageState::Available | ImageState::Disabled
        ),
        pending_copy: pending && i.source_image_id.is_some() && i.source_instance_id.is_none(),
        pending_instance: if pending {
            i.source_instance_id.clone()
        } else {
            None
        },
        public: i.public,
        snapshots: if registered {
            i.snapshot_ids().into_iter().cloned().collect()
        } else {
            Vec::new()
        },
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

/// The indexes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// The simulated Regions, sorted (for [`scope`]).
    pub regions: Vec<Region>,
    /// (owner and Region, name) → the registered image holding the name.
    pub names: BTreeMap<(Scope, String), ImageId>,
    /// Images counting against the image quota, per owner and Region.
    pub counted: BTreeMap<Scope, usize>,
    /// Copies in progress, per owner and destination Region.
    pub pending_copies: BTreeMap<Scope, usize>,
    /// Pending CreateImage requests per instance.
    pub pending_by_instance: BTreeMap<InstanceId, usize>,
    /// Public images, per owner and Region.
    pub public: BTreeMap<Scope, usize>,
    /// Snapshot → the registered images using it.
    pub snapshot_users: BTreeMap<SnapshotId, BTreeSet<ImageId>>,
    /// Instances not yet terminated, per owner and Region.
    pub live_instances: BTreeMap<Scope, usize>,
}

impl Indexes {
    fn apply(&mut self, id: &ImageId, i: &Image, c: &Contribution, up: bool) {
        let key = scope(&self.regions, &i.owner, &i.region);
        if let Some(k) = &c.name {
            if up {
                self.names.insert(k.clone(), id.clone());
            } else if self.names.get(k) == Some(id) {
                self.names.remove(k);
            }
        }
        if c.counted {
            bump(&mut self.counted, key, up);
        }
        if c.pending_copy {
            bump(&mut self.pending_copies, key, up);
        }
        if let Some(inst) = &c.pending_instance {
            bump(&mut self.pending_by_instance, inst.clone(), up);
        }
        if c.public {
            bump(&mut self.public, key, up);
        }
        for s in &c.snapshots {
            if up {
                self.snapshot_users
                    .entry(s.clone())
                    .or_default()
                    .insert(id.clone());
            } else if let Some(users) = self.snapshot_users.get_mut(s) {
                users.remove(id);
                if users.is_empty() {
                    self.snapshot_users.remove(s);
                }
            }
        }
    }
}

impl State {
    /// Adds a new image (and indexes it).
    pub fn insert_image(&mut self, rec: ImageRec) {
        let c = contribution(&self.index.regions, &rec.image);
        let id = rec.image.id.clone();
        self.index.apply(&id, &rec.image, &c, true);
        self.images.insert(id, Box::new(rec));
    }

    /// Changes an image, keeping the indexes in step; `None` if there is no such image.
    pub fn with_image<R>(&mut self, id: &ImageId, f: impl FnOnce(&mut ImageRec) -> R) -> Option<R> {
        let rec = self.images.get_mut(id)?;
        let before = contribution(&self.index.regions, &rec.image);
        let out = f(rec);
        let after = contribution(&self.index.regions, &rec.image);
        if before != after {
            let image = rec.image.clone();
            self.index.apply(id, &image, &before, false);
            self.index.apply(id, &image, &after, true);
        }
        Some(out)
    }

    /// The registered images using `snap`.
    pub fn images_using(&self, snap: &SnapshotId) -> Vec<&Image> {
        self.index
            .snapshot_users
            .get(snap)
            .into_iter()
            .flatten()
            .filter_map(|id| self.images.get(id))
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
            .get(&(self.scope(account, region), name.to_owned()))
            .and_then(|id| self.images.get(id))
            .map(|r| &r.image)
    }

    /// Recomputes every index from scratch and compares: `Err` names the first that drifted.
    pub fn verify_indexes(&self) -> Result<(), String> {
        let mut fresh = Indexes {
            regions: self.index.regions.clone(),
            ..Indexes::default()
        };
        for (id, r) in &self.images {
            fresh.apply(
                id,
                &r.image,
                &contribution(&fresh.regions.clone(), &r.image),
                true,
            );
        }
        for r in self.instances.values() {
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
            ("snapshot_users", fresh.snapshot_users == i.snapshot_users),
            ("live_instances", fresh.live_instances == i.live_instances),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(format!("index {name} drifted from the images")),
            None => Ok(()),
        }
    }
}
