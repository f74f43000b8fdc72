//! The multi-account scenarios of the mission: sharing, encrypted sharing, cross-account
//! copies and retirement, across accounts inside and outside an organization.

mod sim_support;

use std::collections::BTreeSet;

use ami_core::api::{
    CopyImageRequest, CreateGrantRequest, CreateKeyRequest, DeregisterImageRequest,
    DescribeImagesRequest, ExecutableBy, Owner, PermissionChanges, RunInstancesRequest,
};
use ami_core::model::{KeyPolicyStatement, KeyPrincipal, KmsAction, ResourceId};
use ami_core::{
    CreateVolumePermission, Ec2, Ec2Ext, ImageId, ImageState, InstanceState, KmsKey,
    LaunchPermission,
};
use sim_support::*;

fn share_with(account: &ami_core::AccountId) -> PermissionChanges<LaunchPermission> {
    PermissionChanges::add([LaunchPermission::Account(account.clone())])
}

async fn allow_snapshots(ec2: &dyn Ec2, image: &ImageId, account: &ami_core::AccountId) {
    let img = ec2.describe_image(image).await.unwrap();
    for s in img.snapshot_ids() {
        ec2.modify_snapshot_permissions(
            s.clone(),
            PermissionChanges::add([CreateVolumePermission::Account(account.clone())]),
        )
        .await
        .unwrap();
    }
}

/// A customer managed key of `w.a` in r1, and an available image of `w.a` encrypted with it.
async fn cmk_image(w: &World) -> (KmsKey, ImageId) {
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let key = w
        .sim
        .kms(&w.a, &w.r1)
        .create_key(CreateKeyRequest::new("golden images"))
        .await
        .unwrap();
    let plain = baked(w, &*ec2, "golden-plain").await;
    let enc = ec2
        .copy_image(
            CopyImageRequest::new(w.r1.clone(), plain, "golden-cmk").encrypt_with(key.arn.clone()),
        )
        .await
        .unwrap();
    let img = wait_image(&*ec2, &enc).await;
    assert_eq!(img.state, ImageState::Available);
    assert!(img
        .block_devices
        .iter()
        .all(|d| d.encryption.as_ref().map(|e| &e.key) == Some(&key.arn)));
    (key, enc)
}

#[tokio::test(start_paused = true)]
async fn shared_unencrypted_image_is_seen_and_launched_and_stays_owned_by_its_owner() {
    let w = world(100);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let consumer = w.sim.ec2(&w.c, &w.r1);
    let img = baked(&w, &*owner, "app-1.0").await;
    owner
        .create_tags(
            vec![ResourceId::Image(img.clone())],
            [("team".to_owned(), "core".to_owned())].into(),
        )
        .await
        .unwrap();
    // Not visible before sharing.
    assert!(consumer.describe_image(&img).await.is_err());
    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();

    let seen = consumer.describe_image(&img).await.unwrap();
    assert_eq!(seen.owner, w.a, "sharing never changes the owner");
    assert!(seen.tags.is_empty(), "tags are not visible to grantees");
    let shared = consumer
        .describe_all_images(DescribeImagesRequest::new().executable_by(ExecutableBy::SelfAccount))
        .await
        .unwrap();
    assert_eq!(shared.iter().map(|i| &i.id).collect::<Vec<_>>(), vec![&img]);

    let inst = running(&*consumer, &img).await;
    let i = consumer.describe_instance(&inst).await.unwrap();
    assert_eq!(i.owner, w.c);
    assert_eq!(i.image_id, img);
    assert_eq!(owner.describe_image(&img).await.unwrap().owner, w.a);
}

#[tokio::test(start_paused = true)]
async fn aws_managed_key_image_cannot_be_shared() {
    let w = world(101);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let plain = baked(&w, &*owner, "plain").await;
    let enc = owner
        .copy_image(CopyImageRequest::new(w.r1.clone(), plain, "default-key").encrypted(true))
        .await
        .unwrap();
    let img = wait_image(&*owner, &enc).await;
    assert_eq!(
        img.block_devices[0].encryption.as_ref().unwrap().manager,
        ami_core::KeyManager::Aws
    );
    for target in [
        LaunchPermission::Account(w.c.clone()),
        LaunchPermission::Organization(w.sim.organization_arn(ORG).unwrap()),
    ] {
        let e = owner
            .modify_launch_permissions(enc.clone(), PermissionChanges::add([target]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "InvalidParameter");
    }
}

#[tokio::test(start_paused = true)]
async fn cmk_image_shared_without_the_key_fails_to_launch_and_to_copy() {
    let w = world(102);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let consumer = w.sim.ec2(&w.c, &w.r1);
    let (_key, img) = cmk_image(&w).await;
    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();
    allow_snapshots(&*owner, &img, &w.c).await;

    // Launch: accepted, then the instance terminates with Client.InternalError.
    let inst = consumer
        .run_instances(RunInstancesRequest::new(img.clone()))
        .await
        .unwrap()
        .remove(0);
    wait_instance(&*consumer, &inst.id, InstanceState::Terminated).await;
    let reason = consumer
        .describe_instance(&inst.id)
        .await
        .unwrap()
        .state_reason
        .unwrap();
    assert_eq!(reason.code, "Client.InternalError");

    // Copy: accepted, then the copy fails asynchronously.
    let copy = consumer
        .copy_image(CopyImageRequest::new(w.r1.clone(), img, "my-copy"))
        .await
        .unwrap();
    let copy = wait_image(&*consumer, &copy).await;
    assert_eq!(copy.state, ImageState::Failed);
    assert!(copy.state_reason.is_some());
}

#[tokio::test(start_paused = true)]
async fn cmk_image_shared_with_the_key_is_copied_and_owned_by_the_consumer_with_lineage() {
    let w = world(103);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let (key, img) = cmk_image(&w).await;
    let kms = w.sim.kms(&w.a, &w.r1);
    // Consumer c through the key policy, consumer b through a grant.
    let mut policy = kms.get_key_policy(key.arn.clone()).await.unwrap();
    policy.statements.push(KeyPolicyStatement {
        sid: "consumer c".into(),
        principals: [KeyPrincipal::Account(w.c.clone())].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: None,
        principal_org_paths: Default::default(),
    });
    kms.put_key_policy(key.arn.clone(), policy).await.unwrap();
    kms.create_grant(CreateGrantRequest {
        key: key.arn.clone(),
        grantee: w.b.clone(),
        operations: KmsAction::CONSUMER.into(),
        name: Some("consumer-b".into()),
    })
    .await
    .unwrap();
    for consumer in [&w.c, &w.b] {
        owner
            .modify_launch_permissions(img.clone(), share_with(consumer))
            .await
            .unwrap();
        allow_snapshots(&*owner, &img, consumer).await;
        let ec2 = w.sim.ec2(consumer, &w.r2);
        // Cross-Region and cross-account in one call, re-encrypted with the consumer's key.
        let own_key = w
            .sim
            .kms(consumer, &w.r2)
            .create_key(CreateKeyRequest::new("mine"))
            .await
            .unwrap();
        let copy = ec2
            .copy_image(
                CopyImageRequest::new(w.r1.clone(), img.clone(), "golden-mine")
                    .encrypt_with(own_key.arn.clone()),
            )
            .await
            .unwrap();
        let copy = wait_image(&*ec2, &copy).await;
        assert_eq!(copy.state, ImageState::Available, "{:?}", copy.state_reason);
        assert_eq!(&copy.owner, consumer, "the copier owns the copy");
        assert_eq!(copy.source_image_id.as_ref(), Some(&img));
        assert_eq!(copy.source_region.as_ref(), Some(&w.r1));
        assert_eq!(copy.region, w.r2);
        assert!(copy
            .block_devices
            .iter()
            .all(|d| d.encryption.as_ref().map(|e| &e.key) == Some(&own_key.arn)));
        // The consumer's copy launches, and the source is unchanged.
        running(&*ec2, &copy.id).await;
        assert_eq!(owner.describe_image(&img).await.unwrap().owner, w.a);
    }
}

#[tokio::test(start_paused = true)]
async fn shared_without_snapshot_permission_copy_fails_with_invalid_request() {
    let w = world(104);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*owner, "no-snap-perm").await;
    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();
    let consumer = w.sim.ec2(&w.c, &w.r1);
    let e = consumer
        .copy_image(CopyImageRequest::new(w.r1.clone(), img.clone(), "try"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRequest");
    // Launching does not need the snapshot permission.
    running(&*consumer, &img).await;
    // With it, the copy works.
    allow_snapshots(&*owner, &img, &w.c).await;
    let copy = consumer
        .copy_image(CopyImageRequest::new(w.r1.clone(), img, "try"))
        .await
        .unwrap();
    assert_eq!(wait_image(&*consumer, &copy).await.owner, w.c);
}

#[tokio::test(start_paused = true)]
async fn marketplace_image_cannot_be_copied_across_accounts_but_can_be_rebaked() {
    let w = world(105);
    let ec2 = w.sim.ec2(&w.c, &w.r1);
    let mp = w.sim.marketplace_image(&w.r1, "hardened-linux").unwrap();
    let e = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), mp.clone(), "mine"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRequest");
    // The documented workaround: launch, then CreateImage; the codes are kept.
    let inst = running(&*ec2, &mp).await;
    let id = ec2
        .create_image(ami_core::api::CreateImageRequest::new(inst, "rebaked"))
        .await
        .unwrap();
    let img = wait_image(&*ec2, &id).await;
    assert_eq!(img.owner, w.c);
    assert!(img.is_marketplace());
    assert_eq!(img.source_image_id, Some(mp));
}

#[tokio::test(start_paused = true)]
async fn protected_image_cannot_be_deregistered_until_the_cooldown_has_passed() {
    let w = world(106);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "keep-me").await;
    ec2.enable_image_deregistration_protection(img.clone(), true)
        .await
        .unwrap();
    let dereg = || ec2.deregister_image(DeregisterImageRequest::new(img.clone()));
    assert_eq!(dereg().await.unwrap_err().code(), "OperationNotPermitted");
    ec2.disable_image_deregistration_protection(img.clone())
        .await
        .unwrap();
    let p = ec2
        .describe_image(&img)
        .await
        .unwrap()
        .deregistration_protection;
    assert!(
        p.to_wire().starts_with("disabled after "),
        "{}",
        p.to_wire()
    );
    pass(23 * 3600).await;
    assert_eq!(dereg().await.unwrap_err().code(), "OperationNotPermitted");
    pass(3600).await;
    dereg().await.unwrap();
    assert_eq!(
        ec2.describe_image(&img).await.unwrap().state,
        ImageState::Deregistered
    );
}

/// The names of `w.a`'s images `account` sees in r1.
async fn visible(w: &World, account: &ami_core::AccountId) -> BTreeSet<String> {
    w.sim
        .ec2(account, &w.r1)
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::Account(w.a.clone())))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn organization_and_nested_ou_shares_reach_members_only() {
    let w = world(107);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let by_ou = baked(&w, &*owner, "for-the-ou").await;
    let by_org = baked(&w, &*owner, "for-the-org").await;
    owner
        .modify_launch_permissions(
            by_ou.clone(),
            PermissionChanges::add([LaunchPermission::OrganizationalUnit(
                w.sim.organizational_unit_arn(OU).unwrap(),
            )]),
        )
        .await
        .unwrap();
    owner
        .modify_launch_permissions(
            by_org.clone(),
            PermissionChanges::add([LaunchPermission::Organization(
                w.sim.organization_arn(ORG).unwrap(),
            )]),
        )
        .await
        .unwrap();
    let both: BTreeSet<String> = ["for-the-org".into(), "for-the-ou".into()].into();
    assert_eq!(visible(&w, &w.b).await, both, "b sits in the OU");
    assert_eq!(
        visible(&w, &w.d).await,
        both,
        "d sits in an OU nested in it"
    );
    assert!(
        visible(&w, &w.c).await.is_empty(),
        "c is outside the organization"
    );

    // Removing b's (non-existent) explicit grant changes nothing: access comes from the OU.
    owner
        .modify_launch_permissions(
            by_ou.clone(),
            PermissionChanges::remove([LaunchPermission::Account(w.b.clone())]),
        )
        .await
        .unwrap();
    running(&*w.sim.ec2(&w.b, &w.r1), &by_ou).await;
    // b cannot cancel access it has through the OU.
    let e = w
        .sim
        .ec2(&w.b, &w.r1)
        .cancel_image_launch_permission(by_ou.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidParameter");
    // executable-by another account counts explicit grants only.
    let explicit_for_b = owner
        .describe_all_images(
            DescribeImagesRequest::new().executable_by(ExecutableBy::Account(w.b.clone())),
        )
        .await
        .unwrap();
    assert!(explicit_for_b.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancel_disable_and_reset_remove_access() {
    let w = world(108);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let consumer = w.sim.ec2(&w.c, &w.r1);
    let img = baked(&w, &*owner, "access").await;
    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();
    consumer
        .cancel_image_launch_permission(img.clone())
        .await
        .unwrap();
    assert!(consumer.describe_image(&img).await.is_err());
    assert!(owner
        .describe_launch_permissions(img.clone())
        .await
        .unwrap()
        .is_empty());

    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();
    owner.disable_image(img.clone()).await.unwrap();
    assert_eq!(
        consumer
            .run_instances(RunInstancesRequest::new(img.clone()))
            .await
            .unwrap_err()
            .code(),
        "AuthFailure"
    );
    owner.enable_image(img.clone()).await.unwrap();
    assert!(
        owner
            .describe_launch_permissions(img.clone())
            .await
            .unwrap()
            .is_empty(),
        "enabling does not give former grants back"
    );
    owner
        .modify_launch_permissions(img.clone(), share_with(&w.c))
        .await
        .unwrap();
    owner.reset_launch_permissions(img.clone()).await.unwrap();
    assert!(consumer.describe_image(&img).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn an_org_wide_key_policy_admits_members_only() {
    let w = world(109);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let (key, img) = cmk_image(&w).await;
    let kms = w.sim.kms(&w.a, &w.r1);
    let mut policy = kms.get_key_policy(key.arn.clone()).await.unwrap();
    policy.statements.push(KeyPolicyStatement {
        sid: "organization members".into(),
        principals: [KeyPrincipal::Any].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: Some(ORG.into()),
        principal_org_paths: Default::default(),
    });
    kms.put_key_policy(key.arn.clone(), policy).await.unwrap();
    owner
        .modify_launch_permissions(
            img.clone(),
            PermissionChanges::add([
                LaunchPermission::Organization(w.sim.organization_arn(ORG).unwrap()),
                LaunchPermission::Account(w.c.clone()),
            ]),
        )
        .await
        .unwrap();
    // The member d (in a nested OU) may describe the key by ARN; the outsider c may not.
    w.sim
        .kms(&w.d, &w.r1)
        .describe_key(key.arn.clone())
        .await
        .unwrap();
    assert_eq!(
        w.sim
            .kms(&w.c, &w.r1)
            .describe_key(key.arn.clone())
            .await
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    let mut states = Vec::new();
    for consumer in [&w.d, &w.c] {
        allow_snapshots(&*owner, &img, consumer).await;
        let ec2 = w.sim.ec2(consumer, &w.r1);
        let copy = ec2
            .copy_image(CopyImageRequest::new(w.r1.clone(), img.clone(), "via-org"))
            .await
            .unwrap();
        states.push(wait_image(&*ec2, &copy).await.state);
    }
    assert_eq!(states, vec![ImageState::Available, ImageState::Failed]);
    // The clock the workflows read is the simulator's.
    assert_eq!(ami_core::Connector::clock(&w.sim).now(), w.sim.now());
}
