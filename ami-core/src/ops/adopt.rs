//! The consumer's side of sharing: copy an image shared with you into your own account (any
//! Region, optionally under your own KMS key), so you own it and no longer depend on the
//! owner keeping it.
//!
//! [`preflight_adopt`] looks at the image from the consumer's side and lists every
//! [`Blocker`]: what the owner still has to grant (a launch permission, createVolumePermission
//! on a snapshot, access to a KMS key) or why it can never work (a Marketplace image, an image
//! under the owner's AWS managed key), with the exact AWS error each would cause. [`adopt`]
//! runs it first and copies only when nothing blocks, then waits until the copy is available.
//!
//! The copy is owned by the consumer, records its source (`source_image_id`,
//! `source_region`: lineage), and carries the tags [`TAG_ADOPTED_FROM`] and
//! [`TAG_SOURCE_OWNER`]. CopyImage gets a client token derived from the request, so running the
//! same adoption again returns the same copy instead of a second one; a copy that fails is
//! deregistered with its snapshots.

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{Connector, CopyImageRequest, DescribeSnapshotsRequest, Ec2Ext, Kms};
use crate::error::{Error, Result};
use crate::id::{AccountId, ClientToken, ImageId, KmsKeyRef, Region, SnapshotId};
use crate::model::{
    CreateVolumePermission, Image, KeyManager, KeyPolicy, KeyState, KmsAction, LaunchPermission,
    Tags,
};
use crate::rules::{
    check_copy_image, check_key_access, check_key_region, check_name_available, CopyContext,
    KeyView, Membership,
};

use super::bake::check_tags;
use super::images::images_named;
use super::retry::{derived_token, retry_default};
use super::wait::{wait_for_new_image, WaitOptions};

/// Tag put on an adopted copy: `<source region>/<source image id>`.
pub const TAG_ADOPTED_FROM: &str = "ami:adopted-from";
/// Tag put on an adopted copy: the account that owned the source.
pub const TAG_SOURCE_OWNER: &str = "ami:source-owner";
/// Tag put on an adopted copy: the client token of the adoption request, by which a later run
/// of the same request recognises the copy.
pub const TAG_ADOPT_REQUEST: &str = "ami:adopt-request";

/// How to adopt.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct AdoptOptions {
    /// The Region of the copy; default: the source's Region.
    pub target_region: Option<Region>,
    /// The name of the copy; default: the source's name.
    pub name: Option<String>,
    /// Your own KMS key for the copy's snapshots (in the target Region). Without one, encrypted
    /// snapshots of another account are re-encrypted with your default EBS key.
    pub kms_key: Option<KmsKeyRef>,
    /// Tags for the copy and its snapshots.
    pub tags: Tags,
    /// How to wait for the copy.
    pub wait: WaitOptions,
}

impl AdoptOptions {
    /// Defaults: same Region, same name, default key, no tags.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the Region of the copy.
    pub fn target_region(mut self, r: Region) -> Self {
        self.target_region = Some(r);
        self
    }
    /// Sets the name of the copy.
    pub fn name(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }
    /// Encrypts the copy with your key.
    pub fn kms_key(mut self, k: KmsKeyRef) -> Self {
        self.kms_key = Some(k);
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
    /// Sets the wait options.
    pub fn wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }
}

/// What kind of obstacle a [`Blocker`] is, and so who has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockerKind {
    /// It can never work (Marketplace or billing-product image, AWS managed key, other
    /// partition): the owner cannot grant it.
    Never,
    /// The image is not visible to you: the owner must share it (launch permission).
    NotShared,
    /// The image is not `available` (pending, disabled, ...).
    Unavailable,
    /// The owner must grant createVolumePermission on a snapshot.
    SnapshotPermission,
    /// The owner must give you access to a KMS key of the image's snapshots.
    KeyAccess,
    /// Your own side: your target key, or the name in the target Region.
    Yours,
}

/// One reason an adoption cannot run (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The kind.
    pub kind: BlockerKind,
    /// The AWS error the copy would fail with, and what to do.
    pub error: Error,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.kind {
            BlockerKind::Never => "never possible",
            BlockerKind::NotShared | BlockerKind::SnapshotPermission | BlockerKind::KeyAccess => {
                "owner must grant"
            }
            BlockerKind::Unavailable => "not available",
            BlockerKind::Yours => "on your side",
        };
        write!(f, "[{who}] {}: {}", self.error.code(), self.error.message())
    }
}

/// What [`preflight_adopt`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdoptPreflight {
    /// The adopting account.
    pub consumer: AccountId,
    /// The source image.
    pub image_id: ImageId,
    /// Its Region.
    pub source_region: Region,
    /// The source image as the consumer sees it (`None` when not visible).
    pub image: Option<Image>,
    /// The Region of the copy.
    pub target_region: Region,
    /// The name of the copy.
    pub name: String,
    /// A copy made by an earlier run of the same adoption, if any.
    pub existing_copy: Option<ImageId>,
    /// Everything in the way, the never-possible first.
    pub blockers: Vec<Blocker>,
}

impl AdoptPreflight {
    /// Whether nothing blocks the adoption.
    pub fn is_ready(&self) -> bool {
        self.blockers.is_empty()
    }

    /// `Ok` when ready, else the first blocker's AWS error with every blocker in its message.
    pub fn into_result(self) -> Result<Self> {
        let Some(first) = self.blockers.first() else {
            return Ok(self);
        };
        let reasons: Vec<String> = self.blockers.iter().map(ToString::to_string).collect();
        Err(Error::from_code(
            first.error.code(),
            format!(
                "account {} cannot adopt {} from {}: {}",
                self.consumer,
                self.image_id,
                self.source_region,
                reasons.join("; ")
            ),
        ))
    }
}

impl fmt::Display for AdoptPreflight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "adopt {} ({}) into account {} as {:?} in {}:",
            self.image_id, self.source_region, self.consumer, self.name, self.target_region
        )?;
        if let Some(c) = &self.existing_copy {
            writeln!(f, "  already adopted as {c}")?;
        }
        if self.blockers.is_empty() {
            writeln!(f, "  ready")?;
        }
        for b in &self.blockers {
            writeln!(f, "  {b}")?;
        }
        Ok(())
    }
}

/// An adopted image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Adopted {
    /// The copy, owned by the consumer, `available`.
    pub image: Image,
    /// The source image.
    pub source_image: ImageId,
    /// Its Region.
    pub source_region: Region,
    /// Its owner.
    pub source_owner: AccountId,
}

fn blocker(kind: BlockerKind, error: Error) -> Blocker {
    Blocker { kind, error }
}

fn kind_of_copy_refusal(e: &Error) -> BlockerKind {
    match e.code() {
        "InvalidAMIID.Unavailable" => BlockerKind::Unavailable,
        "InvalidAMIID.NotFound" => BlockerKind::NotShared,
        "InvalidAMIName.Malformed" | "InvalidParameterValue" | "InvalidParameterDependency" => {
            BlockerKind::Yours
        }
        _ => BlockerKind::Never,
    }
}

fn copy_request(
    source_region: &Region,
    image_id: &ImageId,
    name: &str,
    opts: &AdoptOptions,
) -> CopyImageRequest {
    let mut req = CopyImageRequest::new(source_region.clone(), image_id.clone(), name);
    if let Some(k) = &opts.kms_key {
        req = req.encrypt_with(k.clone());
    }
    req
}

/// Checks, from the consumer's side and without changing anything, whether `consumer` can copy
/// `image_id` (in `source_region`) into its own account, and lists every blocker.
///
/// Only errors that prevent the check itself (a bad option, a failing call) are returned as
/// `Err`; obstacles to the adoption are [`Blocker`]s.
pub async fn preflight_adopt(
    connector: &dyn Connector,
    consumer: &AccountId,
    source_region: &Region,
    image_id: &ImageId,
    opts: &AdoptOptions,
) -> Result<AdoptPreflight> {
    opts.wait.validate()?;
    check_tags(
        &opts.tags,
        &[TAG_ADOPTED_FROM, TAG_SOURCE_OWNER, TAG_ADOPT_REQUEST],
    )?;
    let target_region = opts
        .target_region
        .clone()
        .unwrap_or_else(|| source_region.clone());
    let src = connector.ec2(consumer, source_region)?;
    let mut pre = AdoptPreflight {
        consumer: consumer.clone(),
        image_id: image_id.clone(),
        source_region: source_region.clone(),
        image: None,
        target_region: target_region.clone(),
        name: opts.name.clone().unwrap_or_default(),
        existing_copy: None,
        blockers: Vec::new(),
    };
    let image = match retry_default("DescribeImages", || src.describe_image(image_id)).await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => {
            pre.blockers.push(blocker(
                BlockerKind::NotShared,
                Error::from_code(
                    e.code(),
                    format!(
                        "The image id '[{image_id}]' does not exist for account {consumer} in {source_region}: its owner must share it with this account (or its organization or OU), or the id or Region is wrong."
                    ),
                ),
            ));
            return Ok(pre);
        }
        Err(e) => return Err(e),
    };
    if pre.name.is_empty() {
        pre.name = image.name.clone();
    }
    let cross_account = &image.owner != consumer;

    // Which snapshots the consumer may read.
    let mut unreadable: Vec<SnapshotId> = Vec::new();
    if cross_account {
        for snap in image.snapshot_ids() {
            let req = DescribeSnapshotsRequest {
                restorable_by: vec![consumer.clone()],
                ..DescribeSnapshotsRequest::ids([snap.clone()])
            };
            match retry_default("DescribeSnapshots", || src.describe_snapshots(req.clone())).await {
                Ok(page) if page.items.iter().any(|s| &s.id == snap) => {}
                Ok(_) => unreadable.push(snap.clone()),
                Err(e) if e.is_not_found() || matches!(e, Error::PermissionDenied(_)) => {
                    unreadable.push(snap.clone());
                }
                Err(e) => return Err(e),
            }
        }
    }

    // The copy rules, judged on what the consumer can see: it sees the image, so it may launch
    // it; it may read exactly the snapshots found above.
    let membership = Membership::none();
    let seen = [LaunchPermission::Account(consumer.clone())];
    let req = copy_request(source_region, image_id, &pre.name, opts);
    let all_readable: BTreeMap<SnapshotId, Vec<CreateVolumePermission>> = image
        .snapshot_ids()
        .into_iter()
        .map(|s| {
            (
                s.clone(),
                vec![CreateVolumePermission::Account(consumer.clone())],
            )
        })
        .collect();
    let ctx = |perms: &BTreeMap<SnapshotId, Vec<CreateVolumePermission>>| {
        check_copy_image(
            &CopyContext {
                caller: consumer,
                membership: &membership,
                destination_region: &target_region,
                source: &image,
                source_permissions: &seen,
                snapshot_permissions: perms,
            },
            &req,
        )
    };
    if let Err(e) = ctx(&all_readable) {
        pre.blockers.push(blocker(kind_of_copy_refusal(&e), e));
    }
    for snap in &unreadable {
        // The rule's own refusal, naming this snapshot.
        let mut only_this_missing = all_readable.clone();
        only_this_missing.remove(snap);
        if let Err(e) = ctx(&only_this_missing) {
            if e.code() == "InvalidRequest" && e.message().contains(snap.as_str()) {
                pre.blockers
                    .push(blocker(BlockerKind::SnapshotPermission, e));
            }
        }
    }

    // The source's keys.
    if cross_account {
        for enc in image.kms_keys() {
            if enc.manager == KeyManager::Aws {
                pre.blockers.push(blocker(
                    BlockerKind::Never,
                    Error::from_code(
                        "InvalidParameter",
                        format!(
                            "Snapshots encrypted with the AWS Managed CMK can’t be shared. Image {image_id} is encrypted with the AWS managed key {} of account {}, which no other account can use: its owner must copy it under a customer managed key (ami_core::ops::share::reencrypt) and share that copy.",
                            enc.key, image.owner
                        ),
                    ),
                ));
                continue;
            }
            let key_region = enc.key.region().unwrap_or_else(|| source_region.clone());
            let kms = connector.kms(consumer, &key_region)?;
            let owner = enc.key.account().unwrap_or_else(|| image.owner.clone());
            let unusable = |e: &Error| {
                format!(
                    "Account {consumer} cannot use key {} of the image's snapshots: its owner, account {owner}, must allow account {consumer} {} on it (ami_core::ops::share does this). KMS said: {}",
                    enc.key,
                    KmsAction::CONSUMER.iter().map(|a| a.as_policy_action()).collect::<Vec<_>>().join(", "),
                    e.message()
                )
            };
            if let Some(e) = key_unusable(
                kms.as_ref(),
                &enc.key,
                consumer,
                &membership,
                None,
                unusable,
            )
            .await?
            {
                pre.blockers.push(blocker(BlockerKind::KeyAccess, e));
            }
        }
    }

    // The consumer's own key: it must be in the target Region (KMS keys are regional; AWS
    // accepts the CopyImage and the copy turns `failed`), then usable there.
    if let Some(key_ref) = &opts.kms_key {
        if let Err(e) = check_key_region(key_ref, None, &target_region) {
            pre.blockers.push(blocker(BlockerKind::Yours, e));
        } else {
            let kms = connector.kms(consumer, &target_region)?;
            let unusable = |e: &Error| {
                format!(
                    "The key {key_ref} for the copy cannot be used by account {consumer} in {target_region}: {} Name a key of this account in {target_region}.",
                    e.message()
                )
            };
            let found = key_unusable(
                kms.as_ref(),
                key_ref,
                consumer,
                &membership,
                Some(&target_region),
                unusable,
            )
            .await?;
            if let Some(e) = found {
                pre.blockers.push(blocker(BlockerKind::Yours, e));
            }
        }
    }

    // The name in the target Region, unless an earlier run of this adoption holds it.
    let dst = connector.ec2(consumer, &target_region)?;
    let name = pre.name.clone();
    let same_name = images_named(dst.as_ref(), &name).await?;
    let token = request_token(
        consumer,
        source_region,
        image_id,
        &target_region,
        &name,
        opts,
    )?;
    if let Some(existing) = same_name
        .iter()
        .find(|i| i.tags.get(TAG_ADOPT_REQUEST).map(String::as_str) == Some(token.as_str()))
    {
        pre.existing_copy = Some(existing.id.clone());
    } else if let Err(e) = check_name_available(&name, consumer, &target_region, &same_name) {
        pre.blockers.push(blocker(BlockerKind::Yours, e));
    }

    pre.blockers.sort_by_key(|b| b.kind);
    pre.image = Some(image);
    Ok(pre)
}

/// Why `consumer` cannot use `key` for a copy, if it cannot: a key that is not enabled is judged
/// by the consumer rules of KMS; a key that cannot be found or described gets its KMS code and
/// the message `unusable` writes; with a `destination`, a key found in another Region is refused
/// by [`check_key_region`]. Other errors (throttling past retries, transport) end the
/// pre-flight.
async fn key_unusable(
    kms: &dyn Kms,
    key_ref: &KmsKeyRef,
    consumer: &AccountId,
    membership: &Membership,
    destination: Option<&Region>,
    unusable: impl FnOnce(&Error) -> String,
) -> Result<Option<Error>> {
    match retry_default("DescribeKey", || kms.describe_key(key_ref.clone())).await {
        Ok(key) if destination.is_some_and(|d| key.region != *d) => {
            Ok(destination.and_then(|d| check_key_region(key_ref, Some(&key.region), d).err()))
        }
        Ok(key) if key.state == KeyState::Enabled => Ok(None),
        Ok(key) => {
            let policy = KeyPolicy::default();
            let view = KeyView {
                key: &key,
                policy: &policy,
                grants: &[],
            };
            Ok(check_key_access(view, consumer, membership, &KmsAction::CONSUMER).err())
        }
        Err(e) if e.is_not_found() || matches!(e, Error::PermissionDenied(_)) => {
            Ok(Some(Error::from_code(e.code(), unusable(&e))))
        }
        Err(e) => Err(e),
    }
}

fn adopted_from(source_region: &Region, image_id: &ImageId) -> String {
    format!("{source_region}/{image_id}")
}

/// The CopyImage client token of an adoption: the same request always gets the same token.
fn request_token(
    consumer: &AccountId,
    source_region: &Region,
    image_id: &ImageId,
    target_region: &Region,
    name: &str,
    opts: &AdoptOptions,
) -> Result<ClientToken> {
    derived_token(
        "adopt",
        [
            consumer.as_str(),
            source_region.as_str(),
            image_id.as_str(),
            target_region.as_str(),
            name,
            opts.kms_key.as_ref().map_or("", KmsKeyRef::as_str),
        ],
    )
}

/// Copies `image_id` (in `source_region`, shared with `consumer`) into `consumer`'s account,
/// after [`preflight_adopt`] found nothing in the way, and waits until the copy is available.
/// Refused with the first blocker's AWS error (every blocker in the message) before any
/// CopyImage.
pub async fn adopt(
    connector: &dyn Connector,
    consumer: &AccountId,
    source_region: &Region,
    image_id: &ImageId,
    opts: AdoptOptions,
) -> Result<Adopted> {
    let pre = preflight_adopt(connector, consumer, source_region, image_id, &opts)
        .await?
        .into_result()?;
    let Some(source) = pre.image else {
        return Err(Error::workflow(format!(
            "adopting {image_id}: the pre-flight saw no image; run it again"
        )));
    };
    let dst = connector.ec2(consumer, &pre.target_region)?;
    let adopted = |image: Image| Adopted {
        image,
        source_image: image_id.clone(),
        source_region: source_region.clone(),
        source_owner: source.owner.clone(),
    };
    if let Some(existing) = &pre.existing_copy {
        tracing::info!(source = %image_id, copy = %existing, "already adopted; waiting for the earlier copy");
        return wait_for_new_image(dst.as_ref(), existing, &opts.wait)
            .await
            .map(adopted);
    }
    let token = request_token(
        consumer,
        source_region,
        image_id,
        &pre.target_region,
        &pre.name,
        &opts,
    )?;
    let mut req = copy_request(source_region, image_id, &pre.name, &opts)
        .client_token(token.clone())
        .tag(TAG_ADOPT_REQUEST, token.as_str())
        .tag(TAG_ADOPTED_FROM, adopted_from(source_region, image_id))
        .tag(TAG_SOURCE_OWNER, source.owner.to_string());
    for (k, v) in &opts.tags {
        req = req.tag(k.clone(), v.clone());
    }
    let copy = retry_default("CopyImage", || dst.copy_image(req.clone())).await?;
    tracing::info!(source = %image_id, copy = %copy, consumer = %consumer, region = %pre.target_region, "adoption copy started");
    let image = wait_for_new_image(dst.as_ref(), &copy, &opts.wait).await?;
    Ok(adopted(image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Ec2, Kms, MockEc2, MockKms, Page};
    use crate::model::{
        BlockDevice, DeregistrationProtection, ImageState, OwnerAlias, ProductCode, ProductCodeType,
    };
    use crate::time::{Clock, Timestamp};
    use std::sync::Arc;

    #[derive(Debug)]
    struct FixedClock;
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::EPOCH
        }
    }

    /// Hands out the one mock EC2 client for every scope; no KMS calls are expected.
    #[derive(Debug)]
    struct Mocks(Arc<MockEc2>);
    impl Connector for Mocks {
        fn ec2(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Ec2>> {
            Ok(self.0.clone())
        }
        fn kms(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Kms>> {
            Ok(Arc::new(MockKms::new()))
        }
        fn clock(&self) -> Arc<dyn Clock> {
            Arc::new(FixedClock)
        }
    }

    fn marketplace_image() -> Image {
        Image {
            id: "ami-0123456789abcdef0".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
            name: "hardened-linux".into(),
            description: None,
            owner: "679593333241".parse().unwrap(),
            owner_alias: Some(OwnerAlias::AwsMarketplace),
            state: ImageState::Available,
            state_reason: None,
            public: true,
            block_devices: vec![BlockDevice {
                device_name: "/dev/xvda".into(),
                snapshot_id: Some("snap-0123456789abcdef0".parse().unwrap()),
                volume_size_gib: 8,
                encryption: None,
                delete_on_termination: true,
            }],
            root_device_name: "/dev/xvda".into(),
            architecture: "x86_64".into(),
            product_codes: vec![ProductCode {
                id: "abcdefghijklmnopqrstuvwxy".into(),
                kind: ProductCodeType::Marketplace,
            }],
            tags: Tags::new(),
            creation_time: Timestamp::EPOCH,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: None,
            source_region: None,
            source_instance_id: None,
            last_launched_time: None,
        }
    }

    /// A Marketplace image is refused by the pre-flight with AWS's `InvalidRequest`, and
    /// CopyImage is never called (the mock has no expectation for it).
    #[tokio::test(start_paused = true)]
    async fn marketplace_is_refused_without_copy_image() {
        let mut ec2 = MockEc2::new();
        ec2.expect_describe_images()
            .returning(|_| Ok(Page::last(vec![marketplace_image()])));
        ec2.expect_describe_snapshots()
            .returning(|_| Ok(Page::last(vec![])));
        let mocks = Mocks(Arc::new(ec2));
        let consumer: AccountId = "222222222222".parse().unwrap();
        let region: Region = "us-east-1".parse().unwrap();
        let id = marketplace_image().id;
        let pre = preflight_adopt(&mocks, &consumer, &region, &id, &AdoptOptions::new())
            .await
            .unwrap();
        // Nothing the owner could grant matters: the never-possible blocker is the only one.
        assert_eq!(pre.blockers.len(), 1, "{pre}");
        assert_eq!(pre.blockers[0].kind, BlockerKind::Never);
        assert_eq!(pre.blockers[0].error.code(), "InvalidRequest");
        assert!(pre.blockers[0].error.message().contains("Marketplace"));
        let err = adopt(&mocks, &consumer, &region, &id, AdoptOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert!(err.message().contains("cannot adopt"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_wait_options_are_refused_before_any_call() {
        let mocks = Mocks(Arc::new(MockEc2::new()));
        let err = preflight_adopt(
            &mocks,
            &"222222222222".parse().unwrap(),
            &"us-east-1".parse().unwrap(),
            &"ami-0123456789abcdef0".parse().unwrap(),
            &AdoptOptions::new().wait(WaitOptions::default().jitter(-1.0)),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
    }
}
