//! The cost of evaluating the pure rules of `ami_core::rules` and the approval policy of
//! `ops::govern`: the checks the simulator makes on every call and the workflows make before
//! every change.
//!
//! The image is shared with 100 accounts, an organization and an OU; the caller is reached only
//! through an OU three levels down, so every launch-permission check walks the whole list.
//!
//! Run: `cargo bench -p ami-benches --bench rules`.

use std::collections::BTreeMap;

use ami_core::api::{CopyImageRequest, PermissionChanges};
use ami_core::model::BlockPublicAccessState;
use ami_core::ops::govern::ApprovalPolicy;
use ami_core::rules::{
    check_copy_image, check_launch, launch_permissions_after, CopyContext, LaunchContext,
    Membership, ShareContext,
};
use ami_core::{
    AccountId, BlockDevice, CreateVolumePermission, DeregistrationProtection, Encryption, Image,
    ImageState, KeyManager, LaunchPermission, OrganizationArn, OrganizationalUnitArn, Region,
    SnapshotId, Timestamp,
};
use divan::black_box;

const OWNER: &str = "111122223333";
const MGMT: &str = "999999999999";
const ORG: &str = "o-abcdefghij";

fn account(n: u64) -> AccountId {
    AccountId::parse(&format!("{:012}", 200_000_000_000 + n)).unwrap()
}

fn ou(id: &str) -> OrganizationalUnitArn {
    OrganizationalUnitArn::new(&MGMT.parse().unwrap(), ORG, id).unwrap()
}

fn image() -> Image {
    let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let mut tags = BTreeMap::new();
    tags.insert("Approved".to_owned(), "true".to_owned());
    tags.insert("Family".to_owned(), "golden".to_owned());
    Image {
        id: "ami-0123456789abcdef0".parse().unwrap(),
        region: "eu-west-1".parse().unwrap(),
        name: "golden-2026-11-27".into(),
        description: None,
        owner: OWNER.parse().unwrap(),
        owner_alias: None,
        state: ImageState::Available,
        state_reason: None,
        public: false,
        block_devices: vec![BlockDevice {
            device_name: "/dev/xvda".into(),
            snapshot_id: Some("snap-0123456789abcdef0".parse().unwrap()),
            volume_size_gib: 8,
            encryption: Some(Encryption {
                key: key.parse().unwrap(),
                manager: KeyManager::Customer,
            }),
            delete_on_termination: true,
        }],
        root_device_name: "/dev/xvda".into(),
        architecture: "x86_64".into(),
        product_codes: vec![],
        tags,
        creation_time: Timestamp::EPOCH,
        deprecation_time: None,
        deregistration_protection: DeregistrationProtection::Disabled,
        source_image_id: None,
        source_region: None,
        source_instance_id: None,
        last_launched_time: None,
    }
}

/// 100 accounts, another organization, and the OU `ou-root-deep` (the caller's deepest OU).
fn permissions() -> Vec<LaunchPermission> {
    let mut p: Vec<LaunchPermission> = (0..100)
        .map(|n| LaunchPermission::Account(account(n)))
        .collect();
    let other_org = OrganizationArn::new(&"888888888888".parse().unwrap(), "o-zzzzzzzzzz").unwrap();
    p.push(LaunchPermission::Organization(other_org));
    p.push(LaunchPermission::OrganizationalUnit(ou("ou-root-deep3333")));
    p
}

/// A caller in `ou-root-aaaa1111 / ou-root-bbbb2222 / ou-root-deep3333`, shared with only
/// through the last one.
fn caller() -> (AccountId, Membership) {
    let membership = Membership {
        org: Some(OrganizationArn::new(&MGMT.parse().unwrap(), ORG).unwrap()),
        ous: vec![
            ou("ou-root-aaaa1111"),
            ou("ou-root-bbbb2222"),
            ou("ou-root-deep3333"),
        ],
    };
    ("777777777777".parse().unwrap(), membership)
}

/// RunInstances' launch check, through a nested OU at the end of 102 permissions.
#[divan::bench]
fn launch_through_nested_ou(bencher: divan::Bencher<'_, '_>) {
    let (img, perms, (who, membership)) = (image(), permissions(), caller());
    bencher.bench_local(|| {
        let ctx = LaunchContext {
            caller: black_box(&who),
            membership: &membership,
            image: &img,
            permissions: &perms,
        };
        check_launch(&ctx)
    });
}

/// ModifyImageAttribute: add one account to 102 permissions (the result is sorted, deduplicated
/// and checked against the sharing quota).
#[divan::bench]
fn share_with_one_more_account(bencher: divan::Bencher<'_, '_>) {
    let (img, perms) = (image(), permissions());
    let owner: AccountId = OWNER.parse().unwrap();
    let changes = PermissionChanges::add([LaunchPermission::Account(account(500))]);
    bencher.bench_local(|| {
        let ctx = ShareContext {
            caller: &owner,
            image: &img,
            current_permissions: &perms,
            block_public_access: BlockPublicAccessState::Unblocked,
            public_images_in_region: 0,
        };
        launch_permissions_after(&ctx, black_box(&changes))
    });
}

/// Making an image encrypted with a customer key public: refused (`UnsupportedOperation`).
#[divan::bench]
fn make_encrypted_public_refused(bencher: divan::Bencher<'_, '_>) {
    let (img, perms) = (image(), permissions());
    let owner: AccountId = OWNER.parse().unwrap();
    let changes = PermissionChanges::add([LaunchPermission::Public]);
    bencher.bench_local(|| {
        let ctx = ShareContext {
            caller: &owner,
            image: &img,
            current_permissions: &perms,
            block_public_access: BlockPublicAccessState::Unblocked,
            public_images_in_region: 0,
        };
        launch_permissions_after(&ctx, black_box(&changes)).is_err()
    });
}

/// CopyImage's synchronous checks, cross-account and cross-Region, with snapshot permission.
#[divan::bench]
fn copy_cross_account(bencher: divan::Bencher<'_, '_>) {
    let (img, perms, (who, membership)) = (image(), permissions(), caller());
    let dest: Region = "us-east-1".parse().unwrap();
    let snap: SnapshotId = "snap-0123456789abcdef0".parse().unwrap();
    let mut snaps = BTreeMap::new();
    snaps.insert(snap, vec![CreateVolumePermission::Account(who.clone())]);
    let req = CopyImageRequest::new(img.region.clone(), img.id.clone(), "golden-copy")
        .encrypt_with("alias/mine".parse().unwrap());
    bencher.bench_local(|| {
        let ctx = CopyContext {
            caller: &who,
            membership: &membership,
            destination_region: &dest,
            source: &img,
            source_permissions: &perms,
            snapshot_permissions: &snaps,
        };
        check_copy_image(&ctx, black_box(&req))
    });
}

/// The approved-image verdict (tag, owner, age, deprecation) on an approved image.
#[divan::bench]
fn approval_verdict(bencher: divan::Bencher<'_, '_>) {
    let img = image();
    let policy = ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(OWNER.parse().unwrap())
        .max_age_days(90)
        .deny_deprecated(true)
        .build()
        .unwrap();
    let now = Timestamp::from_secs(86_400);
    bencher.bench_local(|| policy.evaluate(black_box(&img), now));
}

fn main() {
    divan::main();
}
