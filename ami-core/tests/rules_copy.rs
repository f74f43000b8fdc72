//! Copy rules: CopyImage checks, the encryption of the copy, KMS access, lineage and tags.

mod rules_fixtures;

use std::collections::BTreeMap;

use ami_core::api::CopyImageRequest;
use ami_core::model::{KeyState, ProductCodeType};
use ami_core::rules::{
    check_copy_image, check_copy_keys, copied_tags, copy_encryption, copy_failure_reason,
    copy_lineage, CopyContext, CopyEncryption, KeyView, Membership,
};
use ami_core::{
    AccountId, CreateVolumePermission, Encryption, Image, ImageState, KeyManager, LaunchPermission,
    OwnerAlias, ProductCode, Region, SnapshotId,
};
use rules_fixtures::*;

struct Case {
    name: &'static str,
    caller: AccountId,
    membership: Membership,
    dest: Region,
    source: Image,
    permissions: Vec<LaunchPermission>,
    snapshot_grants: BTreeMap<SnapshotId, Vec<CreateVolumePermission>>,
    req: CopyImageRequest,
    expect: Result<(), &'static str>,
}

fn req() -> CopyImageRequest {
    CopyImageRequest::new(region(), image_id(1), "golden-copy")
}

/// A cross-account copy by `member()` of `image(1)`, shared with it and with its snapshot
/// readable: allowed.
fn base(name: &'static str) -> Case {
    let src = image(1);
    let grants = [(
        snapshot_id(1),
        vec![CreateVolumePermission::Account(member())],
    )]
    .into();
    Case {
        name,
        caller: member(),
        membership: Membership::none(),
        dest: other_region(),
        source: src,
        permissions: vec![LaunchPermission::Account(member())],
        snapshot_grants: grants,
        req: req(),
        expect: Ok(()),
    }
}

fn with_state(s: ImageState) -> Image {
    let mut i = image(1);
    i.state = s;
    i
}

#[test]
fn check_copy_image_table() {
    let mut marketplace = image(1);
    marketplace.owner_alias = Some(OwnerAlias::AwsMarketplace);
    let mut marketplace_code = image(1);
    marketplace_code.product_codes.push(ProductCode {
        id: "prodcode1".into(),
        kind: ProductCodeType::Marketplace,
    });
    let mut billing = image(1);
    billing.product_codes.push(ProductCode {
        id: "devpay1".into(),
        kind: ProductCodeType::Devpay,
    });
    let mut public = image(1);
    public.public = true;

    let cases = vec![
        base("cross-account copy of a shared image with readable snapshots"),
        Case {
            caller: owner(),
            snapshot_grants: BTreeMap::new(),
            permissions: vec![],
            ..base("the owner copies its own image; no snapshot grants needed")
        },
        Case {
            membership: member_membership(),
            permissions: vec![LaunchPermission::OrganizationalUnit(parent_ou())],
            ..base("shared through a parent OU")
        },
        Case {
            source: public.clone(),
            permissions: vec![],
            snapshot_grants: [(snapshot_id(1), vec![CreateVolumePermission::Public])].into(),
            ..base("public image with public snapshots")
        },
        Case {
            req: CopyImageRequest::new(region(), image_id(1), "x"),
            expect: Err("InvalidAMIName.Malformed"),
            ..base("name too short")
        },
        Case {
            req: CopyImageRequest::new(region(), image_id(1), "golden*copy"),
            expect: Err("InvalidAMIName.Malformed"),
            ..base("bad name character")
        },
        Case {
            req: req().description("d".repeat(256)),
            expect: Err("InvalidParameterValue"),
            ..base("description too long")
        },
        Case {
            req: {
                let mut r = req();
                r.kms_key_id = Some(customer_key(&member()).key);
                r
            },
            expect: Err("InvalidParameterDependency"),
            ..base("KmsKeyId without Encrypted")
        },
        Case {
            dest: "cn-north-1".parse().unwrap(),
            expect: Err("InvalidRequest"),
            ..base("across partitions")
        },
        Case {
            permissions: vec![],
            expect: Err("InvalidAMIID.NotFound"),
            ..base("not shared with the caller")
        },
        Case {
            permissions: vec![LaunchPermission::OrganizationalUnit(other_ou())],
            membership: member_membership(),
            expect: Err("InvalidAMIID.NotFound"),
            ..base("shared with another OU")
        },
        Case {
            source: with_state(ImageState::Pending),
            expect: Err("InvalidAMIID.Unavailable"),
            ..base("pending source")
        },
        Case {
            source: with_state(ImageState::Failed),
            expect: Err("InvalidAMIID.Unavailable"),
            ..base("failed source")
        },
        Case {
            caller: owner(),
            source: with_state(ImageState::Disabled),
            expect: Err("InvalidAMIID.Unavailable"),
            ..base("the owner copies its disabled image")
        },
        Case {
            source: with_state(ImageState::Disabled),
            expect: Err("InvalidAMIID.NotFound"),
            ..base("a disabled image of another account, with a stale grant")
        },
        Case {
            source: marketplace,
            expect: Err("InvalidRequest"),
            ..base("Marketplace image across accounts")
        },
        Case {
            source: marketplace_code.clone(),
            expect: Err("InvalidRequest"),
            ..base("Marketplace product code across accounts")
        },
        Case {
            caller: owner(),
            source: marketplace_code,
            ..base("Marketplace product code within the account")
        },
        Case {
            source: billing,
            expect: Err("InvalidRequest"),
            ..base("billing product code across accounts")
        },
        Case {
            snapshot_grants: BTreeMap::new(),
            expect: Err("InvalidRequest"),
            ..base("no read permission on the snapshot")
        },
        Case {
            snapshot_grants: [(
                snapshot_id(1),
                vec![CreateVolumePermission::Account(stranger())],
            )]
            .into(),
            expect: Err("InvalidRequest"),
            ..base("snapshot shared with someone else")
        },
        Case {
            source: public,
            permissions: vec![],
            snapshot_grants: BTreeMap::new(),
            expect: Err("InvalidRequest"),
            ..base("public image whose snapshots are private")
        },
        Case {
            source: encrypted_image(1, customer_key(&owner())),
            req: req().encrypted(false),
            expect: Err("InvalidRequest"),
            ..base("encrypted to unencrypted")
        },
        Case {
            source: encrypted_image(1, customer_key(&owner())),
            req: req().encrypted(true),
            ..base("encrypted to encrypted")
        },
        Case {
            req: req().encrypt_with(customer_key(&member()).key),
            ..base("unencrypted to encrypted with a key")
        },
    ];
    for c in cases {
        let ctx = CopyContext {
            caller: &c.caller,
            membership: &c.membership,
            destination_region: &c.dest,
            source: &c.source,
            source_permissions: &c.permissions,
            snapshot_permissions: &c.snapshot_grants,
        };
        match (c.expect, check_copy_image(&ctx, &c.req)) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{}: {e}", c.name),
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", c.name),
        }
    }
}

#[test]
fn copy_refusals_keep_aws_wording() {
    let c = Case {
        snapshot_grants: BTreeMap::new(),
        ..base("")
    };
    let ctx = CopyContext {
        caller: &c.caller,
        membership: &c.membership,
        destination_region: &c.dest,
        source: &c.source,
        source_permissions: &c.permissions,
        snapshot_permissions: &c.snapshot_grants,
    };
    let e = check_copy_image(&ctx, &c.req).unwrap_err();
    assert!(e
        .message()
        .starts_with("You do not have permission to access the storage of this ami"));
    assert!(
        e.message().contains(&snapshot_id(1).to_string()),
        "{}",
        e.message()
    );

    let enc = encrypted_image(1, customer_key(&owner()));
    let o = owner();
    let ctx = CopyContext {
        caller: &o,
        source: &enc,
        ..ctx
    };
    let e = check_copy_image(&ctx, &req().encrypted(false)).unwrap_err();
    assert!(e.message().starts_with(&format!(
        "Snapshot {} is encrypted. Creating an unencrypted copy from an encrypted snapshot is not supported.",
        snapshot_id(1)
    )));
    let mut r = req();
    r.kms_key_id = Some(customer_key(&member()).key);
    let e = check_copy_image(&ctx, &r).unwrap_err();
    assert!(e
        .message()
        .starts_with("The parameter KmsKeyId requires the parameter Encrypted to be set."));
}

/// The encryption table of the reference (section 4), row by row.
#[test]
fn copy_encryption_table() {
    let src_key = customer_key(&owner());
    let default = Encryption {
        key: key_ref(&member(), &other_region(), 0xeb5),
        manager: KeyManager::Aws,
    };
    let chosen = Encryption {
        key: key_ref(&member(), &other_region(), 7),
        manager: KeyManager::Customer,
    };
    let plain = block_device(1, None);
    let encrypted = block_device(1, Some(src_key.clone()));
    let p = |encrypted: Option<bool>, kms_key: Option<&Encryption>, by_default: bool| {
        (encrypted, kms_key.cloned(), by_default)
    };
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        &_,
        bool,
        (Option<bool>, Option<Encryption>, bool),
        Result<Option<Encryption>, &str>,
    )> = vec![
        (
            "unencrypted, no parameters",
            &plain,
            true,
            p(None, None, false),
            Ok(None),
        ),
        (
            "unencrypted, encryption by default",
            &plain,
            true,
            p(None, None, true),
            Ok(Some(default.clone())),
        ),
        (
            "unencrypted, Encrypted=true",
            &plain,
            true,
            p(Some(true), None, false),
            Ok(Some(default.clone())),
        ),
        (
            "unencrypted, Encrypted=false",
            &plain,
            true,
            p(Some(false), None, false),
            Ok(None),
        ),
        (
            "unencrypted, Encrypted=true + key",
            &plain,
            false,
            p(Some(true), Some(&chosen), false),
            Ok(Some(chosen.clone())),
        ),
        (
            "own encrypted, no parameters: same key",
            &encrypted,
            true,
            p(None, None, false),
            Ok(Some(src_key.clone())),
        ),
        (
            "own encrypted, Encrypted=true: same key",
            &encrypted,
            true,
            p(Some(true), None, true),
            Ok(Some(src_key.clone())),
        ),
        (
            "shared or cross-Region encrypted, no parameters: default key",
            &encrypted,
            false,
            p(None, None, false),
            Ok(Some(default.clone())),
        ),
        (
            "shared encrypted, Encrypted=true: default key",
            &encrypted,
            false,
            p(Some(true), None, false),
            Ok(Some(default.clone())),
        ),
        (
            "own encrypted, re-encrypt with a key",
            &encrypted,
            true,
            p(Some(true), Some(&chosen), false),
            Ok(Some(chosen.clone())),
        ),
        (
            "shared encrypted, re-encrypt with a key",
            &encrypted,
            false,
            p(Some(true), Some(&chosen), false),
            Ok(Some(chosen.clone())),
        ),
        (
            "encrypted, Encrypted=false",
            &encrypted,
            true,
            p(Some(false), None, false),
            Err("InvalidRequest"),
        ),
        (
            "key without Encrypted",
            &plain,
            true,
            p(None, Some(&chosen), false),
            Err("InvalidParameterDependency"),
        ),
        (
            "key with Encrypted=false",
            &encrypted,
            true,
            p(Some(false), Some(&chosen), false),
            Err("InvalidParameterDependency"),
        ),
    ];
    for (name, dev, reusable, (encrypted, kms_key, by_default), expect) in table {
        let params = CopyEncryption {
            encrypted,
            kms_key: kms_key.as_ref(),
            default_key: &default,
            encryption_by_default: by_default,
        };
        match (expect, copy_encryption(dev, reusable, &params)) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{name}"),
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn source_key_reusable_only_for_own_same_region_copies() {
    let src = image(1);
    let perms = vec![];
    let grants = BTreeMap::new();
    let none = Membership::none();
    let (o, m, r, other) = (owner(), member(), region(), other_region());
    let ctx = |caller: &'static str, dest: &'static str| (caller, dest);
    for ((caller, dest), want) in [
        (ctx("owner", "same"), true),
        (ctx("owner", "other"), false),
        (ctx("member", "same"), false),
    ] {
        let c = if caller == "owner" { &o } else { &m };
        let d = if dest == "same" { &r } else { &other };
        let cc = CopyContext {
            caller: c,
            membership: &none,
            destination_region: d,
            source: &src,
            source_permissions: &perms,
            snapshot_permissions: &grants,
        };
        assert_eq!(cc.source_key_reusable(), want, "{caller} {dest}");
        assert_eq!(cc.is_cross_account(), caller != "owner");
    }
}

#[test]
fn copy_key_access() {
    let src_enc = customer_key(&owner());
    let src = encrypted_image(1, src_enc.clone());
    let perms = vec![LaunchPermission::Account(member())];
    let grants = BTreeMap::new();
    let membership = member_membership();
    let dest = other_region();
    let member = member();
    let ctx = CopyContext {
        caller: &member,
        membership: &membership,
        destination_region: &dest,
        source: &src,
        source_permissions: &perms,
        snapshot_permissions: &grants,
    };
    let key = kms_key(&src_enc, &owner());

    let owner_only = policy_for(&owner(), &[]);
    let shared = policy_for(&owner(), std::slice::from_ref(&member));
    let by_org = org_policy(&owner());
    let no_grants = vec![];
    let some_grants = vec![grant(&key, &member, &ami_core::model::KmsAction::CONSUMER)];
    let mut disabled = key.clone();
    disabled.state = KeyState::Disabled;

    let table = [
        (
            "policy admits the account",
            &key,
            &shared,
            &no_grants,
            Ok(()),
        ),
        (
            "policy admits the organization",
            &key,
            &by_org,
            &no_grants,
            Ok(()),
        ),
        (
            "a grant admits the account",
            &key,
            &owner_only,
            &some_grants,
            Ok(()),
        ),
        (
            "nothing admits the account",
            &key,
            &owner_only,
            &no_grants,
            Err("AccessDeniedException"),
        ),
        (
            "the key is disabled",
            &disabled,
            &shared,
            &no_grants,
            Err("DisabledException"),
        ),
    ];
    for (name, key, policy, grants, expect) in table {
        let views = [KeyView {
            key,
            policy,
            grants,
        }];
        match (expect, check_copy_keys(&ctx, None, &views)) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    // The view of a needed key is missing.
    assert_eq!(
        check_copy_keys(&ctx, None, &[]).unwrap_err().code(),
        "NotFoundException"
    );
    // The target key must be usable too.
    let target = customer_key(&stranger());
    let target_key = kms_key(&target, &stranger());
    let target_policy = policy_for(&stranger(), &[]);
    let views = [
        KeyView {
            key: &key,
            policy: &shared,
            grants: &no_grants,
        },
        KeyView {
            key: &target_key,
            policy: &target_policy,
            grants: &no_grants,
        },
    ];
    // A target key of the source Region is not usable in the destination Region.
    let e = check_copy_keys(&ctx, Some(&target), &views).unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
    assert!(e.message().contains("not in us-east-1"), "{}", e.message());
    let mut target_key = target_key.clone();
    target_key.region = other_region();
    let views = [
        views[0],
        KeyView {
            key: &target_key,
            ..views[1]
        },
    ];
    let e = check_copy_keys(&ctx, Some(&target), &views).unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    let reason = copy_failure_reason(&e);
    assert!(reason
        .message
        .starts_with("Copy image failed with an internal error"));
    assert!(reason.message.contains("AccessDeniedException"));
}

#[test]
fn the_copier_owns_the_copy_and_lineage_is_recorded() {
    let src = image(1);
    let l = copy_lineage(&member(), &src);
    assert_eq!(l.owner, member());
    assert_eq!(l.source_image_id, src.id);
    assert_eq!(l.source_region, src.region);
}

#[test]
fn copied_tags_only_from_own_images_without_aws_tags() {
    let mut src = image(1);
    src.tags.insert("team".into(), "core".into());
    src.tags.insert("aws:backup:source".into(), "x".into());
    src.tags.insert("stage".into(), "test".into());
    let r = req().copy_image_tags(true).tag("stage", "prod");
    let own = copied_tags(&owner(), &src, &r);
    assert_eq!(
        own.into_iter().collect::<Vec<_>>(),
        vec![
            ("stage".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "core".to_owned())
        ]
    );
    let theirs = copied_tags(&member(), &src, &r);
    assert_eq!(
        theirs.into_iter().collect::<Vec<_>>(),
        vec![("stage".to_owned(), "prod".to_owned())]
    );
    assert!(copied_tags(&owner(), &src, &req()).is_empty());
}
