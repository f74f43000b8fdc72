//! Values shared by the rules tests: accounts, an organization, images, keys.
#![allow(dead_code)]

use std::collections::BTreeSet;

use ami_core::model::{Grant, KeyPolicy, KeyPolicyStatement, KeyPrincipal, KeyState, KmsAction};
use ami_core::rules::Membership;
use ami_core::{
    AccountId, BlockDevice, DeregistrationProtection, Encryption, Image, ImageId, ImageState,
    KeyManager, KmsKey, KmsKeyRef, OrganizationArn, OrganizationalUnitArn, Region, SnapshotId,
    Timestamp,
};

pub const REGION: &str = "eu-west-1";
pub const OTHER_REGION: &str = "us-east-1";

pub fn account(n: u64) -> AccountId {
    AccountId::from_number(n)
}
/// The owner of the images.
pub fn owner() -> AccountId {
    account(111_122_223_333)
}
/// An account in the organization, in OU `child` (nested in `parent`).
pub fn member() -> AccountId {
    account(444_455_556_666)
}
/// An account outside any organization.
pub fn stranger() -> AccountId {
    account(777_788_889_999)
}
pub fn region() -> Region {
    REGION.parse().unwrap()
}
pub fn other_region() -> Region {
    OTHER_REGION.parse().unwrap()
}
pub fn org() -> OrganizationArn {
    OrganizationArn::new(&owner(), "o-abcdefghij").unwrap()
}
pub fn parent_ou() -> OrganizationalUnitArn {
    OrganizationalUnitArn::new(&owner(), "o-abcdefghij", "ou-ab12-parent00").unwrap()
}
pub fn child_ou() -> OrganizationalUnitArn {
    OrganizationalUnitArn::new(&owner(), "o-abcdefghij", "ou-ab12-child000").unwrap()
}
pub fn other_ou() -> OrganizationalUnitArn {
    OrganizationalUnitArn::new(&owner(), "o-abcdefghij", "ou-ab12-other000").unwrap()
}
/// The member's membership: the organization, and the OU path parent → child.
pub fn member_membership() -> Membership {
    Membership::of(org(), vec![parent_ou(), child_ou()])
}
pub fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

pub fn image_id(n: u128) -> ImageId {
    ImageId::from_u128(n)
}
pub fn snapshot_id(n: u128) -> SnapshotId {
    SnapshotId::from_u128(n)
}

pub fn key_ref(account: &AccountId, region: &Region, n: u32) -> KmsKeyRef {
    KmsKeyRef::key_arn(
        region,
        account,
        &format!("{n:08x}-12ab-34cd-56ef-1234567890ab"),
    )
    .unwrap()
}
pub fn customer_key(account: &AccountId) -> Encryption {
    Encryption {
        key: key_ref(account, &region(), 1),
        manager: KeyManager::Customer,
    }
}
pub fn aws_key(account: &AccountId) -> Encryption {
    Encryption {
        key: key_ref(account, &region(), 0xeb5),
        manager: KeyManager::Aws,
    }
}
pub fn block_device(n: u128, encryption: Option<Encryption>) -> BlockDevice {
    BlockDevice {
        device_name: format!("/dev/xvd{}", (b'a' + (n % 26) as u8) as char),
        snapshot_id: Some(snapshot_id(n)),
        volume_size_gib: 8,
        encryption,
        delete_on_termination: true,
    }
}

/// An available, unencrypted, private image of `owner()` in `region()`, created a year ago.
pub fn image(n: u128) -> Image {
    Image {
        id: image_id(n),
        region: region(),
        name: format!("golden-{n}"),
        description: None,
        owner: owner(),
        owner_alias: None,
        state: ImageState::Available,
        state_reason: None,
        public: false,
        block_devices: vec![block_device(n, None)],
        root_device_name: "/dev/xvda".into(),
        architecture: "x86_64".into(),
        product_codes: vec![],
        tags: Default::default(),
        creation_time: now().sub(std::time::Duration::from_secs(365 * 24 * 3600)),
        deprecation_time: None,
        deregistration_protection: DeregistrationProtection::Disabled,
        source_image_id: None,
        source_region: None,
        source_instance_id: None,
        last_launched_time: None,
    }
}

/// `image(n)` with its snapshot encrypted with `enc`.
pub fn encrypted_image(n: u128, enc: Encryption) -> Image {
    let mut i = image(n);
    i.block_devices[0].encryption = Some(enc);
    i
}

pub fn kms_key(enc: &Encryption, owner: &AccountId) -> KmsKey {
    KmsKey {
        key_id: enc.key.key_id().unwrap_or("x").to_owned(),
        arn: enc.key.clone(),
        owner: owner.clone(),
        region: region(),
        manager: enc.manager,
        state: KeyState::Enabled,
        description: String::new(),
        multi_region: false,
        aliases: vec![],
        creation_time: Timestamp::EPOCH,
    }
}

/// The owner's default policy plus a statement admitting `consumers` to the consumer actions.
pub fn policy_for(owner: &AccountId, consumers: &[AccountId]) -> KeyPolicy {
    let mut p = KeyPolicy::default_for(owner);
    if !consumers.is_empty() {
        p.statements.push(KeyPolicyStatement {
            sid: "consumers".into(),
            principals: consumers
                .iter()
                .cloned()
                .map(KeyPrincipal::Account)
                .collect(),
            actions: KmsAction::CONSUMER.into(),
            principal_org_id: None,
            principal_org_paths: Default::default(),
        });
    }
    p
}

/// The owner's default policy plus `*` narrowed to the organization `o-abcdefghij`.
pub fn org_policy(owner: &AccountId) -> KeyPolicy {
    let mut p = KeyPolicy::default_for(owner);
    p.statements.push(KeyPolicyStatement {
        sid: "org".into(),
        principals: [KeyPrincipal::Any].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: Some("o-abcdefghij".into()),
        principal_org_paths: Default::default(),
    });
    p
}

pub fn grant(key: &KmsKey, grantee: &AccountId, ops: &[KmsAction]) -> Grant {
    Grant {
        id: "grant-1".into(),
        key_arn: key.arn.clone(),
        grantee: grantee.clone(),
        operations: ops.iter().copied().collect::<BTreeSet<_>>(),
        name: None,
    }
}
