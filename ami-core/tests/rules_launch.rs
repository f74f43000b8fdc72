//! Launch rules: launch permission (owner, explicit, organization, OU, public), image state,
//! deprecation, and the KMS access encrypted snapshots need.

mod rules_fixtures;

use ami_core::model::{KeyPolicy, KmsAction};
use ami_core::rules::{
    check_launch, check_launch_keys, launch_failure_reason, KeyView, LaunchContext, Membership,
};
use ami_core::{AccountId, Image, ImageState, LaunchPermission};
use rules_fixtures::*;

use LaunchPermission as P;

fn with(f: impl FnOnce(&mut Image)) -> Image {
    let mut i = image(1);
    f(&mut i);
    i
}

#[test]
fn check_launch_table() {
    let m = member_membership();
    let none = Membership::none();
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        AccountId,
        &Membership,
        Image,
        Vec<LaunchPermission>,
        Result<(), &str>,
    )> = vec![
        ("owner", owner(), &none, image(1), vec![], Ok(())),
        (
            "explicit account",
            member(),
            &m,
            image(1),
            vec![P::Account(member())],
            Ok(()),
        ),
        (
            "organization",
            member(),
            &m,
            image(1),
            vec![P::Organization(org())],
            Ok(()),
        ),
        (
            "the account's own OU",
            member(),
            &m,
            image(1),
            vec![P::OrganizationalUnit(child_ou())],
            Ok(()),
        ),
        (
            "a parent OU covers nested OUs",
            member(),
            &m,
            image(1),
            vec![P::OrganizationalUnit(parent_ou())],
            Ok(()),
        ),
        (
            "public flag",
            stranger(),
            &none,
            with(|i| i.public = true),
            vec![],
            Ok(()),
        ),
        (
            "public permission",
            stranger(),
            &none,
            image(1),
            vec![P::Public],
            Ok(()),
        ),
        (
            "deprecated images launch by id",
            member(),
            &m,
            with(|i| i.deprecation_time = Some(now().sub(std::time::Duration::from_secs(60)))),
            vec![P::Account(member())],
            Ok(()),
        ),
        (
            "no permission",
            stranger(),
            &none,
            image(1),
            vec![P::Account(member())],
            Err("AuthFailure"),
        ),
        (
            "another OU",
            member(),
            &m,
            image(1),
            vec![P::OrganizationalUnit(other_ou())],
            Err("AuthFailure"),
        ),
        (
            "organization share, account outside it",
            stranger(),
            &none,
            image(1),
            vec![P::Organization(org())],
            Err("AuthFailure"),
        ),
        (
            "disabled image of another account",
            member(),
            &m,
            with(|i| i.state = ImageState::Disabled),
            vec![P::Account(member())],
            Err("AuthFailure"),
        ),
        (
            "disabled image, owner",
            owner(),
            &none,
            with(|i| i.state = ImageState::Disabled),
            vec![],
            Err("InvalidAMIID.Unavailable"),
        ),
        (
            "pending image",
            member(),
            &m,
            with(|i| i.state = ImageState::Pending),
            vec![P::Account(member())],
            Err("InvalidAMIID.Unavailable"),
        ),
        (
            "failed image",
            owner(),
            &none,
            with(|i| i.state = ImageState::Failed),
            vec![],
            Err("InvalidAMIID.Unavailable"),
        ),
        (
            "deregistered image",
            owner(),
            &none,
            with(|i| i.state = ImageState::Deregistered),
            vec![],
            Err("InvalidAMIID.Unavailable"),
        ),
    ];
    for (name, caller, membership, image, perms, expect) in table {
        let ctx = LaunchContext {
            caller: &caller,
            membership,
            image: &image,
            permissions: &perms,
        };
        match (expect, check_launch(&ctx)) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                if code == "AuthFailure" {
                    assert!(
                        e.message()
                            .starts_with(&format!("Not authorized for images: [{}]", image.id)),
                        "{}",
                        e.message()
                    );
                }
            }
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn launch_key_access_table() {
    let owner = owner();
    let member = member();
    let m = member_membership();
    let cmk = customer_key(&owner);
    let aws = aws_key(&owner);
    let cmk_key = kms_key(&cmk, &owner);
    let aws_key_ = kms_key(&aws, &owner);
    let shared = policy_for(&owner, std::slice::from_ref(&member));
    let owner_only = policy_for(&owner, &[]);
    // Even a policy that names the account cannot open an AWS managed key to it.
    let aws_policy_naming_member = policy_for(&owner, std::slice::from_ref(&member));
    let decrypt_only = vec![grant(&cmk_key, &member, &[KmsAction::Decrypt])];
    let none = vec![];
    let empty_policy = KeyPolicy::default();
    #[allow(clippy::type_complexity)]
    let table: Vec<(&str, &AccountId, Image, KeyView<'_>, Result<(), &str>)> = vec![
        (
            "unencrypted image needs no key",
            &member,
            image(1),
            KeyView {
                key: &cmk_key,
                policy: &owner_only,
                grants: &none,
            },
            Ok(()),
        ),
        (
            "customer key shared with the account",
            &member,
            encrypted_image(1, cmk.clone()),
            KeyView {
                key: &cmk_key,
                policy: &shared,
                grants: &none,
            },
            Ok(()),
        ),
        (
            "customer key not shared",
            &member,
            encrypted_image(1, cmk.clone()),
            KeyView {
                key: &cmk_key,
                policy: &owner_only,
                grants: &none,
            },
            Err("AccessDeniedException"),
        ),
        (
            "a grant of Decrypt only is not enough",
            &member,
            encrypted_image(1, cmk.clone()),
            KeyView {
                key: &cmk_key,
                policy: &owner_only,
                grants: &decrypt_only,
            },
            Err("AccessDeniedException"),
        ),
        (
            "AWS managed key, owner",
            &owner,
            encrypted_image(1, aws.clone()),
            KeyView {
                key: &aws_key_,
                policy: &empty_policy,
                grants: &none,
            },
            Ok(()),
        ),
        (
            "AWS managed key, another account",
            &member,
            encrypted_image(1, aws.clone()),
            KeyView {
                key: &aws_key_,
                policy: &aws_policy_naming_member,
                grants: &none,
            },
            Err("AccessDeniedException"),
        ),
    ];
    for (name, caller, image, view, expect) in table {
        let perms = vec![LaunchPermission::Account(member.clone())];
        let ctx = LaunchContext {
            caller,
            membership: &m,
            image: &image,
            permissions: &perms,
        };
        match (expect, check_launch_keys(&ctx, &[view])) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                let reason = launch_failure_reason(&e);
                assert_eq!(reason.code, "Client.InternalError");
            }
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}
