//! The backend's own plumbing against a moto server: the account from STS, assume-role into
//! other accounts, KMS round trips, real error codes and paging over the wire.
//!
//! Runs when `AMI_MOTO_ENDPOINT` names a moto server (`scripts/test` starts one and sets it);
//! otherwise each test says it is skipped and returns. The conformance suite proper runs in
//! `conformance_moto.rs`.

use ami_aws::{AwsBackend, AwsConfig};
use ami_core::api::{
    CreateGrantRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest, Owner,
    PermissionChanges, RunInstancesRequest,
};
use ami_core::model::{KeyPolicyStatement, KmsAction};
use ami_core::{
    AccountId, Connector, CreateVolumePermission, Ec2, Ec2Ext, Error, ImageId, ImageState,
    KeyManager, Kms, KmsExt, LaunchPermission, OwnerAlias, Region,
};

mod moto_env;
use moto_env::moto_endpoint as endpoint;

async fn backend(url: &str) -> AwsBackend {
    AwsConfig::emulator(url)
        .assume_role_name("ami-admin")
        .max_attempts(2)
        .build()
        .await
        .unwrap()
}

/// A name no other run uses (moto keeps state between tests of one server).
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

#[tokio::test]
async fn the_account_comes_from_sts_and_keys_belong_to_it() {
    let Some(url) = endpoint("the_account_comes_from_sts_and_keys_belong_to_it") else {
        return;
    };
    let b = backend(&url).await;
    let key = b
        .kms()
        .create_key_with_alias(&unique("smoke"), "smoke")
        .await
        .unwrap();
    assert_eq!(&key.owner, b.account());
    assert_eq!(key.manager, KeyManager::Customer);
    assert_eq!(key.region, *b.region());
}

#[tokio::test]
async fn the_connector_assumes_the_role_in_another_account() {
    let Some(url) = endpoint("the_connector_assumes_the_role_in_another_account") else {
        return;
    };
    let b = backend(&url).await;
    let other = AccountId::parse("210987654321").unwrap();
    assert_ne!(&other, b.account());
    let conn = b.connector();
    let region = Region::parse("eu-west-1").unwrap();
    let kms = conn.kms(&other, &region).unwrap();
    let key = kms
        .create_key(ami_core::api::CreateKeyRequest::new("theirs"))
        .await
        .unwrap();
    assert_eq!(key.owner, other, "the key was made in the assumed account");
    assert_eq!(key.region, region);
    // The caller's own account does not see the other account's key by id.
    let err = b
        .kms_in(&region)
        .describe_key(ami_core::KmsKeyRef::parse(&key.key_id).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    assert!(err.is_not_found());
}

#[tokio::test]
async fn kms_policies_aliases_and_grants_round_trip() {
    let Some(url) = endpoint("kms_policies_aliases_and_grants_round_trip") else {
        return;
    };
    let b = backend(&url).await;
    let kms = b.kms();
    let alias = format!("alias/{}", unique("golden"));
    let key = kms.create_key_with_alias(&alias, "golden").await.unwrap();
    let by_alias = kms
        .describe_key(ami_core::KmsKeyRef::parse(&alias).unwrap())
        .await
        .unwrap();
    assert_eq!(by_alias.arn, key.arn);
    assert_eq!(by_alias.aliases, std::slice::from_ref(&alias));

    let consumer = AccountId::parse("444455556666").unwrap();
    let mut policy = kms.get_key_policy(key.arn.clone()).await.unwrap();
    policy.statements.push(KeyPolicyStatement {
        sid: "consumer".into(),
        principals: [ami_core::model::KeyPrincipal::Account(consumer.clone())].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: None,
        principal_org_paths: Default::default(),
    });
    kms.put_key_policy(key.arn.clone(), policy.clone())
        .await
        .unwrap();
    let back = kms.get_key_policy(key.arn.clone()).await.unwrap();
    assert_eq!(back.statements, policy.statements);
    assert!(back.allows(&consumer, None, KmsAction::Decrypt));

    let grant = kms
        .create_grant(CreateGrantRequest {
            key: key.arn.clone(),
            grantee: consumer.clone(),
            operations: [KmsAction::Decrypt, KmsAction::DescribeKey].into(),
            name: Some("consumer".into()),
        })
        .await
        .unwrap();
    let grants = kms.list_grants(key.arn.clone()).await.unwrap();
    let g = grants.iter().find(|g| g.id == grant).unwrap();
    assert_eq!(g.grantee, consumer);
    assert_eq!(
        g.operations,
        [KmsAction::DescribeKey, KmsAction::Decrypt].into()
    );
    kms.revoke_grant(key.arn.clone(), grant.clone())
        .await
        .unwrap();
    let after = kms.list_grants(key.arn.clone()).await.unwrap();
    assert!(after.iter().all(|g| g.id != grant), "{after:?}");
}

#[tokio::test]
async fn real_error_codes_come_back_mapped() {
    let Some(url) = endpoint("real_error_codes_come_back_mapped") else {
        return;
    };
    let b = backend(&url).await;
    let ec2 = b.ec2();
    let missing = ImageId::parse("ami-0000000000000dead").unwrap();
    let err = ec2.describe_image(&missing).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.code(), "InvalidAMIID.NotFound");
    assert!(
        err.message().contains("ami-0000000000000dead"),
        "{}",
        err.message()
    );
    let err = ec2
        .deregister_image(DeregisterImageRequest::new(missing))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIID.NotFound");
}

#[tokio::test]
async fn an_image_from_an_instance_round_trips() {
    let Some(url) = endpoint("an_image_from_an_instance_round_trips") else {
        return;
    };
    let b = backend(&url).await;
    let ec2 = b.ec2();
    let amazon = ec2
        .describe_images(
            DescribeImagesRequest::new()
                .owner(Owner::Alias(OwnerAlias::Amazon))
                .max_results(5),
        )
        .await
        .unwrap();
    let parent = amazon.items.first().expect("moto's public catalogue");
    let instances = ec2
        .run_instances(RunInstancesRequest::new(parent.id.clone()).tag("Name", "builder"))
        .await
        .unwrap();
    let instance = &instances[0];
    assert_eq!(instance.image_id, parent.id);
    assert_eq!(
        instance.tags.get("Name").map(String::as_str),
        Some("builder")
    );

    let name = unique("smoke");
    let mut req = CreateImageRequest::new(instance.id.clone(), &name).description("smoke");
    req.image_tags.insert("Team".into(), "web".into());
    let id = ec2.create_image(req).await.unwrap();
    let image = ec2.describe_image(&id).await.unwrap();
    assert_eq!(image.name, name);
    assert_eq!(&image.owner, b.account());
    assert_eq!(image.source_instance_id.as_ref(), Some(&instance.id));
    assert_eq!(image.tags.get("Team").map(String::as_str), Some("web"));
    assert!(
        matches!(image.state, ImageState::Available | ImageState::Pending),
        "{:?}",
        image.state
    );

    let consumer = AccountId::parse("444455556666").unwrap();
    ec2.modify_launch_permissions(
        id.clone(),
        PermissionChanges::add([LaunchPermission::Account(consumer.clone())]),
    )
    .await
    .unwrap();
    assert_eq!(
        ec2.describe_launch_permissions(id.clone()).await.unwrap(),
        [LaunchPermission::Account(consumer.clone())]
    );
    ec2.modify_launch_permissions(
        id.clone(),
        PermissionChanges::remove([LaunchPermission::Account(consumer)]),
    )
    .await
    .unwrap();
    assert_eq!(
        ec2.describe_launch_permissions(id.clone()).await.unwrap(),
        []
    );

    ec2.deregister_image(DeregisterImageRequest::new(id.clone()))
        .await
        .unwrap();
    ec2.terminate_instances(vec![instance.id.clone()])
        .await
        .unwrap();
}

#[tokio::test]
async fn describe_filters_and_owners_reach_moto() {
    let Some(url) = endpoint("describe_filters_and_owners_reach_moto") else {
        return;
    };
    let b = backend(&url).await;
    let ec2 = b.ec2();
    let amazon = ec2
        .describe_images(DescribeImagesRequest::new().owner(Owner::Alias(OwnerAlias::Amazon)))
        .await
        .unwrap();
    let parent = amazon.items.first().expect("moto's public catalogue");
    let instance = ec2
        .run_instances(RunInstancesRequest::new(parent.id.clone()))
        .await
        .unwrap()
        .remove(0);
    let stem = unique("filters");
    let key = format!("{stem}-flavour");
    let mut ids = Vec::new();
    for flavour in ["alpha", "beta"] {
        let mut req = CreateImageRequest::new(instance.id.clone(), format!("{stem}-{flavour}-1"));
        req.image_tags.insert(key.clone(), flavour.into());
        ids.push(ec2.create_image(req).await.unwrap());
    }
    let owned = || DescribeImagesRequest::new().owner(Owner::SelfAccount);
    let by_name = ec2
        .describe_all_images(owned().filter(ami_core::api::Filter::new(
            "name",
            [format!("{stem}-alpha-*")],
        )))
        .await
        .unwrap();
    let names: Vec<&str> = by_name.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(names, [ids[0].as_str()]);
    let by_tag = ec2
        .describe_all_images(owned().filter(ami_core::api::Filter::tag(&key, "beta")))
        .await
        .unwrap();
    let tagged: Vec<&str> = by_tag.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(tagged, [ids[1].as_str()]);
    for id in ids {
        ec2.deregister_image(DeregisterImageRequest::new(id))
            .await
            .unwrap();
    }
    ec2.terminate_instances(vec![instance.id]).await.unwrap();
}

#[tokio::test]
async fn a_key_is_found_by_id_arn_and_alias_and_aliases_are_unique() {
    let Some(url) = endpoint("a_key_is_found_by_id_arn_and_alias_and_aliases_are_unique") else {
        return;
    };
    let b = backend(&url).await;
    let kms = b.kms();
    let key = kms
        .create_key(ami_core::api::CreateKeyRequest::new("probe"))
        .await
        .unwrap();
    for r in [
        ami_core::KmsKeyRef::parse(&key.key_id).unwrap(),
        key.arn.clone(),
    ] {
        let got = kms.describe_key(r).await.unwrap();
        assert_eq!(got.arn, key.arn);
        assert_eq!(got.description, "probe");
    }
    let alias = format!("alias/{}", unique("probe"));
    kms.create_alias(alias.clone(), key.arn.clone())
        .await
        .unwrap();
    let by_alias = kms
        .describe_key(ami_core::KmsKeyRef::parse(&alias).unwrap())
        .await
        .unwrap();
    assert_eq!(by_alias.key_id, key.key_id);
    let again = kms
        .create_alias(alias.clone(), key.arn.clone())
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Conflict(_)), "{again:?}");
    assert_eq!(again.code(), "AlreadyExistsException");
}

#[tokio::test]
async fn snapshot_permissions_reach_moto() {
    let Some(url) = endpoint("snapshot_permissions_reach_moto") else {
        return;
    };
    let b = backend(&url).await;
    let ec2 = b.ec2();
    let amazon = ec2
        .describe_images(DescribeImagesRequest::new().owner(Owner::Alias(OwnerAlias::Amazon)))
        .await
        .unwrap();
    let parent = amazon.items.first().expect("moto's public catalogue");
    let instance = ec2
        .run_instances(RunInstancesRequest::new(parent.id.clone()))
        .await
        .unwrap()
        .remove(0);
    let id = ec2
        .create_image(CreateImageRequest::new(
            instance.id.clone(),
            unique("snapperms"),
        ))
        .await
        .unwrap();
    let image = ec2.describe_image(&id).await.unwrap();
    let snap = image.snapshot_ids()[0].clone();
    let consumer = CreateVolumePermission::Account(AccountId::parse("444455556666").unwrap());
    ec2.modify_snapshot_permissions(snap.clone(), PermissionChanges::add([consumer.clone()]))
        .await
        .unwrap();
    assert_eq!(
        ec2.describe_snapshot_permissions(snap.clone())
            .await
            .unwrap(),
        std::slice::from_ref(&consumer)
    );
    ec2.modify_snapshot_permissions(snap.clone(), PermissionChanges::remove([consumer]))
        .await
        .unwrap();
    assert_eq!(
        ec2.describe_snapshot_permissions(snap.clone())
            .await
            .unwrap(),
        []
    );
    ec2.deregister_image(DeregisterImageRequest::new(id))
        .await
        .unwrap();
    ec2.terminate_instances(vec![instance.id]).await.unwrap();
}
