//! Sharing rules: ModifyImageAttribute launchPermission, reset, cancel, raw item validation.

mod rules_fixtures;

use ami_core::api::PermissionChanges;
use ami_core::model::{BlockPublicAccessState, ProductCodeType};
use ami_core::rules::{
    launch_permissions_after, launch_permissions_after_cancel, launch_permissions_after_reset,
    parse_launch_permission_item, parse_launch_permission_items, LaunchPermissionItem, Membership,
    ShareContext, MAX_SHARE_TARGETS,
};
use ami_core::{AccountId, Image, ImageState, LaunchPermission, ProductCode};
use rules_fixtures::*;

use LaunchPermission as P;

struct Case {
    name: &'static str,
    caller: AccountId,
    image: Image,
    current: Vec<LaunchPermission>,
    bpa: BlockPublicAccessState,
    public_images: usize,
    changes: PermissionChanges<LaunchPermission>,
    expect: Result<Vec<LaunchPermission>, &'static str>,
}

fn case(name: &'static str, changes: PermissionChanges<LaunchPermission>) -> Case {
    Case {
        name,
        caller: owner(),
        image: image(1),
        current: vec![],
        bpa: BlockPublicAccessState::Unblocked,
        public_images: 0,
        changes,
        expect: Ok(vec![]),
    }
}

fn state(s: ImageState) -> Image {
    let mut i = image(1);
    i.state = s;
    i
}

fn with_product_code() -> Image {
    let mut i = image(1);
    i.product_codes.push(ProductCode {
        id: "abcdefghijklmnopqrstuvwxy".into(),
        kind: ProductCodeType::Marketplace,
    });
    i
}

fn public_image() -> Image {
    let mut i = image(1);
    i.public = true;
    i
}

#[test]
fn modify_launch_permissions_table() {
    let acct = P::Account(member());
    let org_p = P::Organization(org());
    let ou_p = P::OrganizationalUnit(parent_ou());
    let cases = vec![
        Case {
            expect: Ok(vec![acct.clone()]),
            ..case(
                "share with one account",
                PermissionChanges::add([acct.clone()]),
            )
        },
        Case {
            expect: Ok(vec![acct.clone(), org_p.clone(), ou_p.clone()]),
            ..case(
                "share with account, organization and OU",
                PermissionChanges::add([org_p.clone(), ou_p.clone(), acct.clone()]),
            )
        },
        Case {
            expect: Ok(vec![P::Public]),
            ..case("make public", PermissionChanges::add([P::Public]))
        },
        Case {
            caller: member(),
            expect: Err("AuthFailure"),
            ..case("not the owner", PermissionChanges::add([acct.clone()]))
        },
        Case {
            image: state(ImageState::Pending),
            expect: Err("InvalidAMIID.Unavailable"),
            ..case("pending image", PermissionChanges::add([acct.clone()]))
        },
        Case {
            image: state(ImageState::Disabled),
            expect: Err("InvalidAMIID.Unavailable"),
            ..case("disabled image", PermissionChanges::add([acct.clone()]))
        },
        Case {
            image: state(ImageState::Failed),
            expect: Err("InvalidAMIID.Unavailable"),
            ..case("failed image", PermissionChanges::add([acct.clone()]))
        },
        Case {
            image: state(ImageState::Deregistered),
            expect: Err("InvalidAMIID.Unavailable"),
            ..case(
                "deregistered image",
                PermissionChanges::remove([acct.clone()]),
            )
        },
        Case {
            image: encrypted_image(1, aws_key(&owner())),
            expect: Err("InvalidParameter"),
            ..case(
                "AWS managed key, to an account",
                PermissionChanges::add([acct.clone()]),
            )
        },
        Case {
            image: encrypted_image(1, aws_key(&owner())),
            expect: Err("InvalidParameter"),
            ..case(
                "AWS managed key, to an organization",
                PermissionChanges::add([org_p.clone()]),
            )
        },
        Case {
            image: encrypted_image(1, aws_key(&owner())),
            expect: Err("UnsupportedOperation"),
            ..case(
                "AWS managed key, public",
                PermissionChanges::add([P::Public]),
            )
        },
        Case {
            image: encrypted_image(1, customer_key(&owner())),
            expect: Ok(vec![acct.clone()]),
            ..case(
                "customer key, to an account",
                PermissionChanges::add([acct.clone()]),
            )
        },
        Case {
            image: encrypted_image(1, customer_key(&owner())),
            expect: Err("UnsupportedOperation"),
            ..case(
                "customer key, public",
                PermissionChanges::add([acct.clone(), P::Public]),
            )
        },
        Case {
            image: with_product_code(),
            expect: Err("UnsupportedOperation"),
            ..case("product code, public", PermissionChanges::add([P::Public]))
        },
        Case {
            image: with_product_code(),
            expect: Ok(vec![acct.clone()]),
            ..case(
                "product code, to an account",
                PermissionChanges::add([acct.clone()]),
            )
        },
        Case {
            bpa: BlockPublicAccessState::BlockNewSharing,
            expect: Err("OperationNotPermitted"),
            ..case("block public access", PermissionChanges::add([P::Public]))
        },
        Case {
            bpa: BlockPublicAccessState::BlockNewSharing,
            expect: Ok(vec![acct.clone()]),
            ..case(
                "block public access, private share",
                PermissionChanges::add([acct.clone()]),
            )
        },
        Case {
            image: public_image(),
            bpa: BlockPublicAccessState::BlockNewSharing,
            public_images: 5,
            expect: Ok(vec![P::Public]),
            ..case(
                "already public stays public",
                PermissionChanges::add([P::Public]),
            )
        },
        Case {
            image: public_image(),
            bpa: BlockPublicAccessState::BlockNewSharing,
            expect: Ok(vec![]),
            ..case(
                "make private under block public access",
                PermissionChanges::remove([P::Public]),
            )
        },
        Case {
            public_images: 5,
            expect: Err("ResourceLimitExceeded"),
            ..case("sixth public image", PermissionChanges::add([P::Public]))
        },
        Case {
            public_images: 4,
            expect: Ok(vec![P::Public]),
            ..case("fifth public image", PermissionChanges::add([P::Public]))
        },
        Case {
            current: vec![org_p.clone()],
            expect: Ok(vec![org_p.clone()]),
            ..case(
                "removing an account with access through its organization changes nothing",
                PermissionChanges::remove([acct.clone()]),
            )
        },
        Case {
            current: vec![acct.clone(), ou_p.clone()],
            expect: Ok(vec![ou_p.clone()]),
            ..case(
                "remove an explicit account",
                PermissionChanges::remove([acct.clone()]),
            )
        },
        Case {
            current: vec![acct.clone()],
            expect: Ok(vec![org_p.clone()]),
            ..case(
                "add and remove in one call",
                PermissionChanges {
                    add: vec![org_p.clone()],
                    remove: vec![acct.clone()],
                },
            )
        },
    ];
    for c in cases {
        let ctx = ShareContext {
            caller: &c.caller,
            image: &c.image,
            current_permissions: &c.current,
            block_public_access: c.bpa,
            public_images_in_region: c.public_images,
        };
        let got = launch_permissions_after(&ctx, &c.changes);
        match (&c.expect, got) {
            (Ok(want), Ok(got)) => assert_eq!(&got, want, "{}", c.name),
            (Err(code), Err(e)) => assert_eq!(e.code(), *code, "{}: {e}", c.name),
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", c.name),
        }
    }
}

#[test]
fn refusal_messages_keep_aws_wording_and_name_the_fix() {
    let owner = owner();
    let enc = encrypted_image(1, aws_key(&owner));
    let ctx = ShareContext {
        caller: &owner,
        image: &enc,
        current_permissions: &[],
        block_public_access: BlockPublicAccessState::Unblocked,
        public_images_in_region: 0,
    };
    let e = launch_permissions_after(&ctx, &PermissionChanges::add([P::Account(member())]))
        .unwrap_err();
    assert!(e.message().starts_with(
        "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another snapshot."
    ));
    assert!(
        e.message().contains("customer managed key"),
        "{}",
        e.message()
    );
    let e = launch_permissions_after(&ctx, &PermissionChanges::add([P::Public])).unwrap_err();
    assert!(e
        .message()
        .starts_with("Encrypted snapshots can’t be shared publicly. Specify another snapshot."));

    let plain = image(1);
    let stranger = stranger();
    let ctx = ShareContext {
        caller: &stranger,
        image: &plain,
        ..ctx
    };
    let e = launch_permissions_after(&ctx, &PermissionChanges::add([P::Public])).unwrap_err();
    assert!(
        e.message()
            .starts_with(&format!("Not authorized for image:{}", plain.id)),
        "{}",
        e.message()
    );
    let ctx = ShareContext {
        caller: &owner,
        block_public_access: BlockPublicAccessState::BlockNewSharing,
        ..ctx
    };
    let e = launch_permissions_after(&ctx, &PermissionChanges::add([P::Public])).unwrap_err();
    assert!(e.message().starts_with("You can’t publicly share this image because block public access for AMIs is enabled for this account. To publicly share the image, you must call the DisableImageBlockPublicAccess API."));
}

#[test]
fn at_most_1000_share_targets_and_public_does_not_count() {
    let owner = owner();
    let img = image(1);
    let current: Vec<_> = (0..MAX_SHARE_TARGETS as u64 - 1)
        .map(|n| P::Account(account(n)))
        .collect();
    let ctx = ShareContext {
        caller: &owner,
        image: &img,
        current_permissions: &current,
        block_public_access: BlockPublicAccessState::Unblocked,
        public_images_in_region: 0,
    };
    let after = launch_permissions_after(
        &ctx,
        &PermissionChanges::add([P::Account(account(999_999)), P::Public]),
    )
    .unwrap();
    assert_eq!(after.len(), MAX_SHARE_TARGETS + 1);
    let e = launch_permissions_after(
        &ctx,
        &PermissionChanges::add([P::Account(account(999_999)), P::Organization(org())]),
    )
    .unwrap_err();
    assert_eq!(e.code(), "ResourceLimitExceeded");
}

#[test]
fn raw_items_are_validated_all_or_nothing() {
    use LaunchPermissionItem as I;
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        LaunchPermissionItem<'_>,
        Result<LaunchPermission, (&str, &str)>,
    )> = vec![
        (
            I::UserId("000123456789"),
            Ok(P::Account("000123456789".parse().unwrap())),
        ),
        (I::Group("all"), Ok(P::Public)),
        (
            I::UserId("1234-5678-9012"),
            Err((
                "InvalidAMIAttributeItemValue",
                "Invalid attribute item value \"1234-5678-9012\" for userId item type.",
            )),
        ),
        (
            I::UserId(" 123456789012"),
            Err((
                "InvalidAMIAttributeItemValue",
                "Invalid attribute item value \" 123456789012\" for userId item type.",
            )),
        ),
        (
            I::Group("everyone"),
            Err((
                "InvalidAMIAttributeItemValue",
                "Invalid attribute item value \"everyone\" for UserGroup item type.",
            )),
        ),
        (
            I::OrganizationArn("arn:aws:organizations::111122223333:organization/o-abcdefghij"),
            Ok(P::Organization(org())),
        ),
        (
            I::OrganizationArn("o-abcdefghij"),
            Err(("InvalidParameterValue", "invalid organization ARN")),
        ),
        (
            I::OrganizationalUnitArn("ou-ab12-child000"),
            Err(("InvalidParameterValue", "invalid organizational unit ARN")),
        ),
    ];
    for (item, expect) in table {
        match (expect, parse_launch_permission_item(item)) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{item:?}"),
            (Err((code, start)), Err(e)) => {
                assert_eq!(e.code(), code, "{item:?}");
                assert!(e.message().starts_with(start), "{}", e.message());
            }
            (want, got) => panic!("{item:?}: expected {want:?}, got {got:?}"),
        }
    }
    // One bad item refuses the whole list.
    let e = parse_launch_permission_items(&[
        I::UserId("111122223333"),
        I::UserId("12345"),
        I::Group("all"),
    ])
    .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIAttributeItemValue");
    assert_eq!(
        parse_launch_permission_items(&[I::UserId("111122223333"), I::Group("all")]).unwrap(),
        vec![P::Account(owner()), P::Public]
    );
}

#[test]
fn reset_and_cancel() {
    let img = image(1);
    assert_eq!(
        launch_permissions_after_reset(&owner(), &img).unwrap(),
        vec![]
    );
    assert_eq!(
        launch_permissions_after_reset(&member(), &img)
            .unwrap_err()
            .code(),
        "AuthFailure"
    );

    let current = vec![P::Account(member()), P::Organization(org())];
    // The grantee gives up its explicit grant.
    assert_eq!(
        launch_permissions_after_cancel(&member(), &member_membership(), &img, &current).unwrap(),
        vec![P::Organization(org())]
    );
    // Access through the organization cannot be cancelled by the grantee.
    let e = launch_permissions_after_cancel(
        &member(),
        &member_membership(),
        &img,
        &[P::Organization(org())],
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidParameter");
    assert!(e.message().contains("organization"), "{}", e.message());
    // The owner has nothing to cancel.
    assert_eq!(
        launch_permissions_after_cancel(&owner(), &Membership::none(), &img, &current)
            .unwrap_err()
            .code(),
        "InvalidParameter"
    );
    // An account the image is not shared with does not see it.
    assert_eq!(
        launch_permissions_after_cancel(&stranger(), &Membership::none(), &img, &current)
            .unwrap_err()
            .code(),
        "InvalidAMIID.NotFound"
    );
}

#[test]
fn lowered_limits_are_enforced() {
    use ami_core::rules::{launch_permissions_after_with_limits, ShareLimits};
    let owner = owner();
    let img = image(1);
    let current = vec![P::Account(member())];
    let limits = ShareLimits {
        max_share_targets: 2,
        max_public_images: 1,
    };
    assert_eq!(ShareLimits::default().max_share_targets, 1000);
    assert_eq!(ShareLimits::default().max_public_images, 5);
    let ctx = ShareContext {
        caller: &owner,
        image: &img,
        current_permissions: &current,
        block_public_access: BlockPublicAccessState::Unblocked,
        public_images_in_region: 1,
    };
    let table = [
        (PermissionChanges::add([P::Organization(org())]), Ok(2)),
        (
            PermissionChanges::add([P::Organization(org()), P::Account(stranger())]),
            Err("ResourceLimitExceeded"),
        ),
        (
            PermissionChanges::add([P::Public]),
            Err("ResourceLimitExceeded"),
        ),
    ];
    for (changes, expect) in table {
        match (
            expect,
            launch_permissions_after_with_limits(&ctx, &changes, limits),
        ) {
            (Ok(n), Ok(after)) => assert_eq!(after.len(), n, "{changes:?}"),
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{changes:?}"),
            (want, got) => panic!("{changes:?}: expected {want:?}, got {got:?}"),
        }
    }
}
