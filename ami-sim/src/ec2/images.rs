//! CreateImage, CopyImage, RegisterImage and DeregisterImage.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, RegisterImageRequest,
};
use ami_core::lifecycle::create_image_effect;
use ami_core::model::{DeleteSnapshotOutcome, DeleteSnapshotResult, SnapshotState};
use ami_core::rules::{self, CopyContext, CopyEncryption};
use ami_core::{
    AccountId, BlockDevice, CreateVolumePermission, DeregistrationProtection, Encryption, Image,
    ImageId, ImageState, KeyManager, Region, Result, Snapshot, SnapshotId, StateReason, Tags,
};

use super::instances::image_not_found;
use crate::sim::Ctx;
use crate::state::{err, Event, ImageRec, KmsCheck, SnapRec, State, TokenRec};

/// Virtual time an image takes to become available: a base plus a time per GiB.
fn build_time(base_secs: u64, per_gib_secs: u64, gib: u32) -> Duration {
    Duration::from_secs(base_secs + per_gib_secs * u64::from(gib))
}

fn validate_name(name: &str) -> Result<()> {
    // AWS: §1 "Name": 3–128 characters of `[A-Za-z0-9 ()[]./-'@_]`.
    rules::validate_image_name(name)
}

fn validate_description(d: &Option<String>) -> Result<()> {
    d.as_deref().map_or(Ok(()), rules::validate_description)
}

pub(crate) fn validate_tags(tags: &Tags, limit: usize) -> Result<()> {
    if tags.len() > limit {
        return Err(err(
            "TagLimitExceeded",
            format!(
                "{} tags given; a resource can have at most {limit}",
                tags.len()
            ),
        ));
    }
    for k in tags.keys() {
        if k.starts_with("aws:") {
            return Err(err(
                "InvalidParameterValue",
                format!("Tag key {k:?} is invalid: keys starting with 'aws:' are reserved"),
            ));
        }
        if k.is_empty() || k.chars().count() > 128 {
            return Err(err(
                "InvalidParameterValue",
                format!("Tag key {k:?} is invalid: use 1 to 128 characters"),
            ));
        }
    }
    Ok(())
}

impl State {
    /// `InvalidAMIName.Duplicate` if the account already has a registered image of that name.
    fn check_name_free(&self, account: &AccountId, region: &Region, name: &str) -> Result<()> {
        let holder = self.image_named(account, region, name);
        rules::check_name_available(name, account, region, holder)
    }

    fn check_image_quota(&self, account: &AccountId, region: &Region) -> Result<()> {
        let n = self.count_in(&self.index.counted, account, region);
        if n >= self.quotas.images {
            // AWS: §3 "Limits": 50,000 AMIs per Region (exact code not documented).
            return Err(err(
                "AMIQuotaExceeded",
                format!(
                    "account {account} already has {n} images in {region}, the quota; \
                     deregister unused images or request a quota increase"
                ),
            ));
        }
        Ok(())
    }

    fn planned_failure(&mut self) -> Option<StateReason> {
        let p = self.faults.image_failure;
        self.streams.image_failure(p).then(|| StateReason {
            code: "Server.InternalError".into(),
            message: "Internal error on image creation (simulated fault)".into(),
        })
    }

    /// An idempotency check: `Ok(Some(id))` replays an earlier identical request.
    fn replay(
        &self,
        key: &Option<(AccountId, Region, &'static str, String)>,
        fingerprint: &str,
    ) -> Result<Option<ImageId>> {
        let Some(k) = key else { return Ok(None) };
        match self.tokens.get(k) {
            None => Ok(None),
            Some(t) if t.fingerprint == fingerprint => {
                Ok(t.ids.first().and_then(|i| ImageId::parse(i).ok()))
            }
            Some(_) => Err(err(
                "IdempotentParameterMismatch",
                format!(
                    "The client token {} was already used with different parameters; use a new \
                     token for a different request",
                    k.3
                ),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_snapshot(
        &mut self,
        cx: &Ctx<'_>,
        volume_id: Option<ami_core::VolumeId>,
        size: u32,
        encryption: Option<Encryption>,
        description: String,
        tags: &Tags,
        data: Arc<BTreeMap<String, String>>,
        product_codes: Vec<ami_core::ProductCode>,
    ) -> SnapshotId {
        let id = self.new_snapshot_id();
        self.snapshots.insert(
            id.clone(),
            Box::new(SnapRec {
                snap: Snapshot {
                    id: id.clone(),
                    region: cx.region.clone(),
                    owner: cx.account.clone(),
                    volume_id,
                    volume_size_gib: size,
                    state: SnapshotState::Pending,
                    encryption,
                    description,
                    tags: tags.clone(),
                    start_time: cx.now,
                },
                perms: BTreeSet::new(),
                data,
                product_codes,
                visible_at: cx.now.add(self.lag),
                users: crate::index::Keys::None,
            }),
        );
        id
    }

    fn insert_pending_image(
        &mut self,
        cx: &Ctx<'_>,
        image: Image,
        kms_checks: Vec<KmsCheck>,
        ready_in: Duration,
    ) {
        let planned_failure = self.planned_failure();
        let id = image.id.clone();
        self.insert_image(ImageRec {
            image,
            perms: Vec::new(),
            visible_at: cx.now.add(self.lag),
            deregistered_at: None,
            completion: crate::state::Completion::boxed(kms_checks, planned_failure),
        });
        self.schedule(cx.now.add(ready_in), Event::ImageDone(id));
    }

    pub(crate) fn create_image(
        &mut self,
        cx: &Ctx<'_>,
        req: CreateImageRequest,
    ) -> Result<ImageId> {
        validate_name(&req.name)?;
        validate_description(&req.description)?;
        validate_tags(&req.image_tags, self.quotas.tags_per_resource)?;
        validate_tags(&req.snapshot_tags, self.quotas.tags_per_resource)?;
        let inst = match self.instances.get(&req.instance_id) {
            Some(r)
                if r.inst.owner == *cx.account
                    && r.inst.region == *cx.region
                    && r.visible_at <= cx.now =>
            {
                r
            }
            _ => {
                return Err(err(
                    "InvalidInstanceID.NotFound",
                    format!("The instance ID '{}' does not exist", req.instance_id),
                ))
            }
        };
        // AWS: §1 "Instance states and CreateImage": running, stopping or stopped only; a
        // running instance is rebooted unless NoReboot.
        let effect = create_image_effect(&req.instance_id, inst.inst.state, req.no_reboot)?;
        if req.no_reboot {
            let pending_from_instance = self
                .index
                .pending_by_instance
                .get(&crate::index::id_key(req.instance_id.as_str()))
                .copied()
                .unwrap_or(0);
            if pending_from_instance >= self.quotas.concurrent_no_reboot_images_per_instance {
                // AWS: §1: ConcurrentCreateImageNoRebootLimitExceeded.
                return Err(err(
                    "ConcurrentCreateImageNoRebootLimitExceeded",
                    format!(
                        "instance {} already has {pending_from_instance} image(s) being created; \
                         wait for them to become available",
                        req.instance_id
                    ),
                ));
            }
        }
        self.check_name_free(cx.account, cx.region, &req.name)?;
        self.check_image_quota(cx.account, cx.region)?;

        let image_id = self.new_image_id();
        let Some(inst) = self.instances.get_mut(&req.instance_id) else {
            return Err(image_not_found(&req.instance_id));
        };
        // AWS: §1 "NoReboot=false": the instance is rebooted first, so buffered data reaches
        // the volumes; with NoReboot the snapshots are crash-consistent (flushed data only).
        if effect.flushes_buffered_writes() {
            for d in &mut inst.data {
                d.flush();
            }
        }
        if effect.reboots() {
            self.reboot_for_image(&req.instance_id, cx.now);
        }
        // Taken out while the snapshots are made (nothing below fails or looks at instances)
        // and put back before the image is inserted: no copy of the whole record.
        let Some(inst) = self.instances.remove(&req.instance_id) else {
            return Err(image_not_found(&req.instance_id));
        };
        let mut devices = Vec::with_capacity(inst.inst.volumes.len());
        let mut total = 0u32;
        // AWS: §2 "Snapshots": one snapshot per attached EBS volume.
        for (vol, data) in inst.inst.volumes.iter().zip(&inst.data) {
            let snap = self.new_snapshot(
                cx,
                Some(vol.volume_id.clone()),
                vol.size_gib,
                vol.encryption.clone(),
                // AWS: §2 "Auto-generated snapshot descriptions".
                [
                    "Created by CreateImage(",
                    inst.inst.id.as_str(),
                    ") for ",
                    image_id.as_str(),
                    " from ",
                    vol.volume_id.as_str(),
                ]
                .concat(),
                &req.snapshot_tags,
                data.flushed.clone(),
                inst.inst.product_codes.clone(),
            );
            total += vol.size_gib;
            devices.push(BlockDevice {
                device_name: vol.device_name.clone(),
                snapshot_id: Some(snap),
                volume_size_gib: vol.size_gib,
                encryption: vol.encryption.clone(),
                delete_on_termination: vol.delete_on_termination,
            });
        }
        let root = inst
            .inst
            .volumes
            .first()
            .map(|v| v.device_name.clone())
            .unwrap_or_else(|| "/dev/xvda".into());
        let image = Image {
            id: image_id.clone(),
            region: cx.region.clone(),
            name: req.name,
            description: req.description,
            owner: cx.account.clone(),
            owner_alias: None,
            state: ImageState::Pending,
            state_reason: None,
            public: false,
            block_devices: devices,
            root_device_name: root,
            architecture: inst.architecture.clone(),
            // AWS: §5 "Product codes": CreateImage from a Marketplace instance keeps the codes.
            product_codes: inst.inst.product_codes.clone(),
            tags: req.image_tags,
            creation_time: cx.now,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            // AWS: §4 "Lineage": CreateImage records the instance's source image.
            source_image_id: Some(inst.inst.image_id.clone()),
            source_region: Some(cx.region.clone()),
            source_instance_id: Some(inst.inst.id.clone()),
            last_launched_time: None,
        };
        self.instances.insert(inst.inst.id.clone(), inst);
        self.insert_pending_image(cx, image, Vec::new(), build_time(60, 6, total));
        Ok(image_id)
    }

    pub(crate) fn copy_image(&mut self, cx: &Ctx<'_>, req: CopyImageRequest) -> Result<ImageId> {
        // AWS: §4 "Limits and timing": a bad SourceRegion is InvalidRegion.
        if !self.regions.contains(&req.source_region) {
            return Err(err(
                "InvalidRegion",
                format!(
                    "For copying a snapshot or image, specify the source Region using its Region \
                     code: {} is not a Region of this simulator",
                    req.source_region
                ),
            ));
        }
        // AWS: §4 "Encryption": KmsKeyId without Encrypted=true is an error.
        if req.kms_key_id.is_some() && req.encrypted != Some(true) {
            return Err(err(
                "InvalidParameterDependency",
                "The parameter KmsKeyId requires the parameter Encrypted to be set.",
            ));
        }
        let token_key = req.client_token.as_ref().map(|t| {
            (
                cx.account.clone(),
                cx.region.clone(),
                "CopyImage",
                t.to_string(),
            )
        });
        // Only idempotent requests need the fingerprint (Debug of the request sans token).
        let fingerprint = if token_key.is_some() {
            let mut r = req.clone();
            r.client_token = None;
            format!("{r:?}")
        } else {
            String::new()
        };
        // AWS: §4 "Idempotency": same token, same parameters → the same image.
        if let Some(id) = self.replay(&token_key, &fingerprint)? {
            return Ok(id);
        }
        validate_tags(&req.image_tags, self.quotas.tags_per_resource)?;
        let src = match self.images.get(&req.source_image_id) {
            Some(r)
                if r.image.region == req.source_region
                    && r.visible_at <= cx.now
                    && r.image.state != ImageState::Deregistered =>
            {
                r
            }
            _ => return Err(image_not_found(&req.source_image_id)),
        };
        let membership = self.membership(cx.account);
        let source_permissions = Self::perms_of(src);
        // The rules read the snapshots' permissions only when the copy crosses accounts; the
        // owner's own copies skip gathering them.
        let snapshot_permissions: BTreeMap<SnapshotId, Vec<CreateVolumePermission>> =
            if src.image.owner == *cx.account {
                BTreeMap::new()
            } else {
                src.image
                    .block_devices
                    .iter()
                    .filter_map(|d| d.snapshot_id.as_ref())
                    .filter_map(|s| {
                        self.snapshots
                            .get(s)
                            .map(|r| (s.clone(), r.perms.iter().cloned().collect()))
                    })
                    .collect()
            };
        let copy_ctx = CopyContext {
            caller: cx.account,
            membership,
            destination_region: cx.region,
            source: &src.image,
            source_permissions,
            snapshot_permissions: &snapshot_permissions,
        };
        // AWS: §4 "Cross-account copy" and "Encryption": visibility, state, Marketplace and
        // billing codes, snapshot read permission, encrypted → unencrypted.
        rules::check_copy_image(&copy_ctx, &req)?;
        let key_reusable = copy_ctx.source_key_reusable();
        self.check_name_free(cx.account, cx.region, &req.name)?;
        self.check_image_quota(cx.account, cx.region)?;
        let copying = self.count_in(&self.index.pending_copies, cx.account, cx.region);
        if copying >= self.quotas.concurrent_copies {
            return Err(err(
                "ResourceLimitExceeded",
                format!(
                    "{copying} image copies into {} are already in progress, the limit; wait for \
                     some to complete",
                    cx.region
                ),
            ));
        }
        // What the copy takes from the source, taken now (the record itself is not cloned):
        // the calls below change the simulator.
        // AWS: §4 "Tags": CopyImageTags copies only the caller's own tags.
        let tags = rules::copied_tags(cx.account, &src.image, &req);
        // AWS: §4 "Cross-account copy" (the caller owns the copy) and "Lineage".
        let lineage = rules::copy_lineage(cx.account, &src.image);
        let src_id = src.image.id.clone();
        let src_devices = src.image.block_devices.clone();
        let root_device_name = src.image.root_device_name.clone();
        let architecture = src.image.architecture.clone();
        let product_codes = src.image.product_codes.clone();

        // The target key: an explicit key (validated asynchronously), or the caller's default.
        let mut kms_checks = Vec::new();
        let explicit: Option<std::result::Result<String, String>> =
            req.kms_key_id.as_ref().map(|k| {
                self.resolve_key(cx.account, cx.region, k, cx.now)
                    .map_err(|_| k.to_string())
            });
        let explicit_enc: Option<Encryption> = match &explicit {
            None => None,
            Some(Ok(id)) => self.encryption_of(id),
            Some(Err(reference)) => {
                ami_core::KmsKeyRef::parse(reference)
                    .ok()
                    .map(|key| Encryption {
                        key,
                        manager: KeyManager::Customer,
                    })
            }
        };
        if let Some(k) = &explicit {
            // AWS: §1 / §4: CopyImage validates the KMS key asynchronously; a key the caller
            // cannot use leaves the copy `failed`.
            kms_checks.push(KmsCheck {
                account: cx.account.clone(),
                key: k.clone(),
            });
        }
        let default_id = self.ensure_default_key(cx.account, cx.region, cx.now);
        let default_enc = self.encryption_of(&default_id).ok_or_else(|| {
            err(
                "KMSInternalException",
                "the EBS default key of the caller could not be created",
            )
        })?;
        let params = CopyEncryption {
            encrypted: req.encrypted,
            kms_key: explicit_enc.as_ref(),
            default_key: &default_enc,
            encryption_by_default: false,
        };
        let image_id = self.new_image_id();
        let mut devices = Vec::with_capacity(src_devices.len());
        let mut total = 0u32;
        for bd in src_devices {
            // Only what the copy takes from the source snapshot, not the whole record.
            let src_snap = bd
                .snapshot_id
                .as_ref()
                .and_then(|s| self.snapshots.get(s))
                .map(|s| {
                    (
                        s.data.clone(),
                        s.product_codes.clone(),
                        Some(s.snap.id.clone()),
                    )
                });
            // AWS: §4 "Encryption" (the table of source → target encryption).
            let target_enc = rules::copy_encryption(&bd, key_reusable, &params)?;
            // Reading an encrypted source needs the source key (checked when the copy ends).
            if let Some(e) = &bd.encryption {
                let key = self.key_id_of(e).ok_or_else(|| e.key.to_string());
                kms_checks.push(KmsCheck {
                    account: cx.account.clone(),
                    key,
                });
            }
            let (data, codes, src_snap_id) =
                src_snap.unwrap_or_else(|| (Arc::new(BTreeMap::new()), Vec::new(), None));
            let snap = self.new_snapshot(
                cx,
                None,
                bd.volume_size_gib,
                target_enc.clone(),
                // AWS: §2 "Auto-generated snapshot descriptions" (CopyImage).
                [
                    "Copied for DestinationAmi ",
                    image_id.as_str(),
                    " from SourceAmi ",
                    src_id.as_str(),
                    " for SourceSnapshot ",
                    src_snap_id.as_ref().map_or("", |s| s.as_str()),
                    ". Task created on ",
                    &cx.now.as_millis().to_string(),
                    ".",
                ]
                .concat(),
                &req.snapshot_tags,
                data,
                codes,
            );
            total += bd.volume_size_gib;
            devices.push(BlockDevice {
                device_name: bd.device_name,
                snapshot_id: Some(snap),
                volume_size_gib: bd.volume_size_gib,
                encryption: target_enc,
                delete_on_termination: bd.delete_on_termination,
            });
        }
        let image = Image {
            id: image_id.clone(),
            region: cx.region.clone(),
            name: req.name.clone(),
            description: req.description.clone(),
            owner: lineage.owner,
            owner_alias: None,
            state: ImageState::Pending,
            state_reason: None,
            public: false,
            block_devices: devices,
            root_device_name,
            architecture,
            product_codes,
            tags,
            creation_time: cx.now,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: Some(lineage.source_image_id),
            source_region: Some(lineage.source_region),
            source_instance_id: None,
            last_launched_time: None,
        };
        // AWS: §4: cross-Region copies are full copies, slower than in-Region ones.
        let ready_in = if req.source_region == *cx.region {
            build_time(45, 3, total)
        } else {
            build_time(300, 15, total)
        };
        self.insert_pending_image(cx, image, kms_checks, ready_in);
        if let Some(k) = token_key {
            self.tokens.insert(
                k,
                TokenRec {
                    fingerprint,
                    ids: vec![image_id.to_string()],
                },
            );
        }
        Ok(image_id)
    }

    pub(crate) fn register_image(
        &mut self,
        cx: &Ctx<'_>,
        req: RegisterImageRequest,
    ) -> Result<ImageId> {
        validate_name(&req.name)?;
        validate_description(&req.description)?;
        validate_tags(&req.image_tags, self.quotas.tags_per_resource)?;
        if req.block_devices.is_empty() {
            return Err(err(
                "MissingParameter",
                "RegisterImage needs at least one block device backed by a snapshot",
            ));
        }
        if !req
            .block_devices
            .iter()
            .any(|d| d.device_name == req.root_device_name)
        {
            return Err(err(
                "InvalidParameterValue",
                format!(
                    "The root device name {} is not among the block devices; add a block device \
                     for it",
                    req.root_device_name
                ),
            ));
        }
        if !matches!(
            req.architecture.as_str(),
            "x86_64" | "arm64" | "i386" | "x86_64_mac" | "arm64_mac"
        ) {
            return Err(err(
                "InvalidParameterValue",
                format!(
                    "Value ({}) for parameter architecture is invalid: use x86_64, arm64, i386, \
                     x86_64_mac or arm64_mac",
                    req.architecture
                ),
            ));
        }
        let mut devices = Vec::new();
        let mut codes = Vec::new();
        for d in &req.block_devices {
            let snap = match self.snapshots.get(&d.snapshot_id) {
                Some(s)
                    if s.snap.region == *cx.region
                        && s.visible_at <= cx.now
                        && self.can_read_snapshot(s, cx.account) =>
                {
                    s
                }
                _ => {
                    return Err(err(
                        "InvalidSnapshot.NotFound",
                        format!("The snapshot '{}' does not exist.", d.snapshot_id),
                    ))
                }
            };
            let size = d.volume_size_gib.unwrap_or(snap.snap.volume_size_gib);
            if size < snap.snap.volume_size_gib {
                return Err(err(
                    "InvalidParameterValue",
                    format!(
                        "Volume of {size} GiB is smaller than snapshot {} ({} GiB)",
                        d.snapshot_id, snap.snap.volume_size_gib
                    ),
                ));
            }
            // AWS: §5 "Product codes": codes on the snapshots carry into the image.
            for c in &snap.product_codes {
                if !codes.contains(c) {
                    codes.push(c.clone());
                }
            }
            devices.push(BlockDevice {
                device_name: d.device_name.clone(),
                snapshot_id: Some(d.snapshot_id.clone()),
                volume_size_gib: size,
                encryption: snap.snap.encryption.clone(),
                delete_on_termination: d.delete_on_termination,
            });
        }
        self.check_name_free(cx.account, cx.region, &req.name)?;
        self.check_image_quota(cx.account, cx.region)?;
        let image_id = self.new_image_id();
        let image = Image {
            id: image_id.clone(),
            region: cx.region.clone(),
            name: req.name,
            description: req.description,
            owner: cx.account.clone(),
            owner_alias: None,
            state: ImageState::Pending,
            state_reason: None,
            public: false,
            block_devices: devices,
            root_device_name: req.root_device_name,
            architecture: req.architecture,
            product_codes: codes,
            tags: req.image_tags,
            creation_time: cx.now,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            // AWS: §4 "Lineage": RegisterImage leaves the source unset.
            source_image_id: None,
            source_region: None,
            source_instance_id: None,
            last_launched_time: None,
        };
        self.insert_pending_image(cx, image, Vec::new(), Duration::from_secs(10));
        Ok(image_id)
    }

    pub(crate) fn deregister_image(
        &mut self,
        cx: &Ctx<'_>,
        req: DeregisterImageRequest,
    ) -> Result<Vec<DeleteSnapshotResult>> {
        let rec = self.visible_image(cx, &req.image_id)?;
        // AWS: §6 "Deregistration protection" (owner only; refused while protected or in the
        // 24 h cooldown).
        rules::check_deregister(cx.account, &rec.image, cx.now)?;
        // AWS: §2: snapshots are kept unless DeleteAssociatedSnapshots; those other images use
        // are skipped.
        let related: Vec<&Image> = rec
            .image
            .snapshot_ids()
            .into_iter()
            .flat_map(|s| self.images_using(s))
            .collect();
        let plan = rules::deregister_snapshot_plan(
            &rec.image,
            req.delete_associated_snapshots,
            related.iter().copied(),
            |s| self.snapshots.get(s).map(|r| r.snap.owner.clone()),
        );
        let id = req.image_id.clone();
        self.with_image(&id, |r| {
            r.image.state = ImageState::Deregistered;
            r.image.public = false;
            r.perms.clear();
            r.deregistered_at = Some(cx.now);
        });
        let mut results = Vec::new();
        for p in plan {
            if p.outcome == DeleteSnapshotOutcome::Success
                && self.snapshots.remove(&p.snapshot_id).is_none()
            {
                continue;
            }
            results.push(p);
        }
        Ok(results)
    }

    /// An image of this Region the caller can see (owns or may launch), in any state.
    pub(crate) fn visible_image(&self, cx: &Ctx<'_>, id: &ImageId) -> Result<&ImageRec> {
        match self.images.get(id) {
            Some(r)
                if r.image.region == *cx.region
                    && r.visible_at <= cx.now
                    && (r.image.owner == *cx.account || self.can_launch(r, cx.account)) =>
            {
                Ok(r)
            }
            _ => Err(image_not_found(id)),
        }
    }

    /// An image of this Region the caller owns; `AuthFailure` if it only may launch it,
    /// `InvalidAMIID.NotFound` if it cannot see it.
    pub(crate) fn owned_image(&self, cx: &Ctx<'_>, id: &ImageId) -> Result<&ImageRec> {
        match self.images.get(id) {
            Some(r) if r.image.region == *cx.region && r.visible_at <= cx.now => {
                if r.image.owner == *cx.account {
                    Ok(r)
                } else if self.can_launch(r, cx.account) {
                    // AWS: §3 "Ownership and usage": owner-only calls by a grantee.
                    Err(err("AuthFailure", format!("Not authorized for image:{id}")))
                } else {
                    Err(image_not_found(id))
                }
            }
            _ => Err(image_not_found(id)),
        }
    }
}
