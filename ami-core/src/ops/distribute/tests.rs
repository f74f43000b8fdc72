//! The exact call sequence of one destination Region, pinned with mockall mocks.

use std::sync::Arc;
use std::time::Duration;

use mockall::{predicate::eq, Sequence};

use super::*;
use crate::api::{Connector, Ec2, Kms, MockEc2, MockKms, Page};
use crate::error::Result;
use crate::id::{AccountId, ImageId, KmsKeyRef, Region, SnapshotId};
use crate::model::{
    BlockDevice, DeregistrationProtection, Encryption, Image, ImageState, KeyManager, KeyPolicy,
    KeyPrincipal, KeyState, KmsKey, LaunchPermission,
};
use crate::ops::journal::{JournalEntry, JournalStore, MemoryJournal};
use crate::time::{Clock, Timestamp, VirtualClock};

#[derive(Debug)]
struct MockConnector {
    source: Arc<MockEc2>,
    dest: Arc<MockEc2>,
    kms: Arc<MockKms>,
    clock: Arc<VirtualClock>,
    source_region: Region,
}

impl Connector for MockConnector {
    fn ec2(&self, _account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>> {
        Ok(if region == &self.source_region {
            self.source.clone()
        } else {
            self.dest.clone()
        })
    }
    fn kms(&self, _account: &AccountId, _region: &Region) -> Result<Arc<dyn Kms>> {
        Ok(self.kms.clone())
    }
    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}

fn image(
    id: &ImageId,
    region: &Region,
    owner: &AccountId,
    state: ImageState,
    snap: &str,
    key: &KmsKeyRef,
) -> Image {
    Image {
        id: id.clone(),
        region: region.clone(),
        name: "golden-1".into(),
        description: None,
        owner: owner.clone(),
        owner_alias: None,
        state,
        state_reason: None,
        public: false,
        block_devices: vec![BlockDevice {
            device_name: "/dev/xvda".into(),
            snapshot_id: Some(SnapshotId::parse(snap).unwrap()),
            volume_size_gib: 8,
            encryption: Some(Encryption {
                key: key.clone(),
                manager: KeyManager::Customer,
            }),
            delete_on_termination: true,
        }],
        root_device_name: "/dev/xvda".into(),
        architecture: "x86_64".into(),
        product_codes: vec![],
        tags: Default::default(),
        creation_time: VirtualClock::DEFAULT_EPOCH,
        deprecation_time: None,
        deregistration_protection: DeregistrationProtection::Disabled,
        source_image_id: None,
        source_region: None,
        source_instance_id: None,
        last_launched_time: None,
    }
}

/// One Region, one owner copy shared with one account: plan reads the source, the key and the
/// name; apply copies, waits, shares it (ops::share: launch permission and key policy),
/// deprecates, and protects it last.
#[tokio::test(start_paused = true)]
async fn one_region_call_sequence() {
    let owner = AccountId::from_number(111_111_111_111);
    let consumer = AccountId::from_number(222_222_222_222);
    let src_region: Region = "us-east-1".parse().unwrap();
    let dst_region: Region = "eu-west-1".parse().unwrap();
    let src_id = ImageId::from_u128(1);
    let new_id = ImageId::from_u128(2);
    let src_key =
        KmsKeyRef::key_arn(&src_region, &owner, "11111111-1111-1111-1111-111111111111").unwrap();
    let dst_key_arn =
        KmsKeyRef::key_arn(&dst_region, &owner, "22222222-2222-2222-2222-222222222222").unwrap();
    let alias: KmsKeyRef = "alias/golden".parse().unwrap();
    let deprecate_at = VirtualClock::DEFAULT_EPOCH.add(Duration::from_secs(30 * 86_400));

    let mut seq = Sequence::new();
    let mut source = MockEc2::new();
    let mut dest = MockEc2::new();
    let mut kms = MockKms::new();

    // plan
    let src_img = image(
        &src_id,
        &src_region,
        &owner,
        ImageState::Available,
        "snap-00000001",
        &src_key,
    );
    source
        .expect_describe_images()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Page::last(vec![src_img.clone()])));
    let key = KmsKey {
        key_id: "22222222-2222-2222-2222-222222222222".into(),
        arn: dst_key_arn.clone(),
        owner: owner.clone(),
        region: dst_region.clone(),
        manager: KeyManager::Customer,
        state: KeyState::Enabled,
        description: "golden".into(),
        multi_region: false,
        aliases: vec!["alias/golden".into()],
        creation_time: VirtualClock::DEFAULT_EPOCH,
    };
    kms.expect_describe_key()
        .with(eq(alias.clone()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(key.clone()));
    dest.expect_describe_images()
        .withf(|r| {
            r.filters
                .iter()
                .any(|f| f.name == "name" && f.values == ["golden-1"])
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Page::last(vec![])));

    // apply
    let (nid, sid) = (new_id.clone(), src_id.clone());
    dest.expect_copy_image()
        .withf(move |r| {
            r.source_image_id == sid
                && r.kms_key_id.as_ref().map(|k| k.as_str()) == Some("alias/golden")
                && r.encrypted == Some(true)
                && r.client_token.is_some()
                && r.image_tags.contains_key(RUN_TAG)
                && r.snapshot_tags.contains_key(RUN_TAG)
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(nid.clone()));
    let copy = image(
        &new_id,
        &dst_region,
        &owner,
        ImageState::Available,
        "snap-00000002",
        &dst_key_arn,
    );
    dest.expect_describe_images()
        .withf({
            let id = new_id.clone();
            move |r| r.image_ids == [id.clone()]
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Page::last(vec![copy.clone()])));
    // ops::share: read the copy, its launch permissions and its key policy; then write the
    // key policy (re-read first) and the launch permission.
    dest.expect_account().return_const(owner.clone());
    let copy2 = image(
        &new_id,
        &dst_region,
        &owner,
        ImageState::Available,
        "snap-00000002",
        &dst_key_arn,
    );
    dest.expect_describe_images()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Page::last(vec![copy2.clone()])));
    dest.expect_describe_launch_permissions()
        .with(eq(new_id.clone()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(vec![]));
    let policy = KeyPolicy::default_for(&owner);
    for _ in 0..2 {
        let p = policy.clone();
        kms.expect_get_key_policy()
            .with(eq(dst_key_arn.clone()))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(p.clone()));
    }
    kms.expect_put_key_policy()
        .withf({
            let (k, c, sid) = (
                dst_key_arn.clone(),
                consumer.clone(),
                crate::ops::share::account_sid(&new_id),
            );
            move |key, p| {
                key == &k
                    && p.statements.iter().any(|s| {
                        s.sid == sid && s.principals.contains(&KeyPrincipal::Account(c.clone()))
                    })
            }
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    dest.expect_modify_launch_permissions()
        .withf({
            let (id, c) = (new_id.clone(), consumer.clone());
            move |i, ch| {
                i == &id && ch.add == [LaunchPermission::Account(c.clone())] && ch.remove.is_empty()
            }
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    dest.expect_enable_image_deprecation()
        .with(eq(new_id.clone()), eq(deprecate_at))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    dest.expect_enable_image_deregistration_protection()
        .with(eq(new_id.clone()), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let connector = MockConnector {
        source: Arc::new(source),
        dest: Arc::new(dest),
        kms: Arc::new(kms),
        clock: Arc::new(VirtualClock::new(VirtualClock::DEFAULT_EPOCH)),
        source_region: src_region.clone(),
    };
    let spec = DistributionSpec::new(owner.clone(), src_region.clone(), src_id.clone())
        .region(dst_region.clone())
        .kms_key(dst_region.clone(), alias)
        .launch_permission(LaunchPermission::Account(consumer.clone()))
        .deprecate_at(deprecate_at)
        .protect(Protection::WithoutCooldown)
        .run_id("r1");
    let plan = plan(&connector, &spec).await.unwrap();
    assert_eq!(plan.minimum_calls(), 6);
    let text = plan.to_string();
    assert!(text.contains("eu-west-1/111111111111"), "{text}");
    let journal = MemoryJournal::new();
    let manifest = apply(&connector, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(manifest.image(&dst_region, &owner), Some(&new_id));

    let steps: Vec<String> = journal
        .entries()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["step"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        steps,
        [
            "run_started",
            "copy_requested",
            "copy_started",
            "copy_available",
            "permission_granted",
            "deprecation_set",
            "protection_requested",
            "protection_enabled",
            "run_completed"
        ]
    );
    // Applying the completed journal again makes no call (the mocks would panic).
    let again = apply(&connector, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(again, manifest);
    match &journal.entries().unwrap()[1] {
        JournalEntry::CopyRequested { client_token, .. } => {
            assert_eq!(client_token.as_str(), "r1-111111111111-eu-west-1")
        }
        other => panic!("unexpected {other:?}"),
    }
    let _ = Timestamp::EPOCH;
}

/// A plan with an AWS managed key for a shared copy is refused before any change, naming the
/// Region and the fix.
#[tokio::test(start_paused = true)]
async fn aws_managed_key_for_a_shared_copy_is_refused() {
    let owner = AccountId::from_number(111_111_111_111);
    let src_region: Region = "us-east-1".parse().unwrap();
    let dst_region: Region = "eu-west-1".parse().unwrap();
    let src_id = ImageId::from_u128(1);
    let src_key =
        KmsKeyRef::key_arn(&src_region, &owner, "11111111-1111-1111-1111-111111111111").unwrap();
    let mut source = MockEc2::new();
    let src_img = image(
        &src_id,
        &src_region,
        &owner,
        ImageState::Available,
        "snap-00000001",
        &src_key,
    );
    source
        .expect_describe_images()
        .returning(move |_| Ok(Page::last(vec![src_img.clone()])));
    let mut dest = MockEc2::new();
    dest.expect_describe_images()
        .returning(|_| Ok(Page::last(vec![])));
    let connector = MockConnector {
        source: Arc::new(source),
        dest: Arc::new(dest),
        kms: Arc::new(MockKms::new()),
        clock: Arc::new(VirtualClock::new(VirtualClock::DEFAULT_EPOCH)),
        source_region: src_region.clone(),
    };
    let spec = DistributionSpec::new(owner, src_region, src_id)
        .region(dst_region.clone())
        .kms_key(dst_region, KmsKeyRef::aws_ebs_alias())
        .launch_permission(LaunchPermission::Account(AccountId::from_number(5)));
    let err = plan(&connector, &spec).await.unwrap_err();
    assert_eq!(err.code(), "InvalidParameter");
    assert!(err.message().contains("eu-west-1/111111111111"), "{err}");
    assert!(err.message().contains("customer managed key"), "{err}");
}
