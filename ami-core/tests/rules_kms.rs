//! KMS access rules: key policy (account, organization condition), grants, key state, and AWS
//! managed keys serving only their own account.

mod rules_fixtures;

use ami_core::model::{KeyState, KmsAction};
use ami_core::rules::{check_key_access, key_allows, key_allows_all, KeyView, Membership};
use ami_core::{AccountId, KmsKey};
use rules_fixtures::*;

#[test]
fn key_access_table() {
    let owner = owner();
    let member = member();
    let stranger = stranger();
    let in_org = member_membership();
    let outside = Membership::none();
    let cmk = kms_key(&customer_key(&owner), &owner);
    let aws = kms_key(&aws_key(&owner), &owner);
    let mut disabled = cmk.clone();
    disabled.state = KeyState::Disabled;
    let mut deleting = cmk.clone();
    deleting.state = KeyState::PendingDeletion;
    let default_policy = policy_for(&owner, &[]);
    let shared = policy_for(&owner, std::slice::from_ref(&member));
    let by_org = org_policy(&owner);
    let no_grants = vec![];
    let consumer_grant = vec![grant(&cmk, &stranger, &KmsAction::CONSUMER)];
    let mut other_key = cmk.clone();
    other_key.arn = key_ref(&owner, &region(), 99);
    let grant_for_other_key = vec![grant(&other_key, &stranger, &KmsAction::CONSUMER)];

    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        &KmsKey,
        _,
        &Vec<_>,
        &AccountId,
        &Membership,
        Result<(), &str>,
    )> = vec![
        (
            "owner under the default policy",
            &cmk,
            &default_policy,
            &no_grants,
            &owner,
            &outside,
            Ok(()),
        ),
        (
            "stranger under the default policy",
            &cmk,
            &default_policy,
            &no_grants,
            &stranger,
            &outside,
            Err("AccessDeniedException"),
        ),
        (
            "account named in the policy",
            &cmk,
            &shared,
            &no_grants,
            &member,
            &in_org,
            Ok(()),
        ),
        (
            "organization condition, member",
            &cmk,
            &by_org,
            &no_grants,
            &member,
            &in_org,
            Ok(()),
        ),
        (
            "organization condition, outsider",
            &cmk,
            &by_org,
            &no_grants,
            &stranger,
            &outside,
            Err("AccessDeniedException"),
        ),
        (
            "grant to the account",
            &cmk,
            &default_policy,
            &consumer_grant,
            &stranger,
            &outside,
            Ok(()),
        ),
        (
            "grant on another key",
            &cmk,
            &default_policy,
            &grant_for_other_key,
            &stranger,
            &outside,
            Err("AccessDeniedException"),
        ),
        (
            "disabled key, even for its owner",
            &disabled,
            &default_policy,
            &no_grants,
            &owner,
            &outside,
            Err("DisabledException"),
        ),
        (
            "key pending deletion",
            &deleting,
            &shared,
            &no_grants,
            &member,
            &in_org,
            Err("KMSInvalidStateException"),
        ),
        (
            "AWS managed key, its account",
            &aws,
            &default_policy,
            &no_grants,
            &owner,
            &outside,
            Ok(()),
        ),
        (
            "AWS managed key, another account named in a policy",
            &aws,
            &shared,
            &no_grants,
            &member,
            &in_org,
            Err("AccessDeniedException"),
        ),
        (
            "AWS managed key, grant to another account",
            &aws,
            &default_policy,
            &consumer_grant,
            &stranger,
            &outside,
            Err("AccessDeniedException"),
        ),
    ];
    for (name, key, policy, grants, account, membership, expect) in table {
        let view = KeyView {
            key,
            policy,
            grants,
        };
        let got = check_key_access(view, account, membership, &KmsAction::CONSUMER);
        assert_eq!(
            key_allows_all(view, account, membership, &KmsAction::CONSUMER),
            got.is_ok(),
            "{name}: key_allows_all agrees with check_key_access"
        );
        match (expect, got) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => {
                assert_eq!(e.code(), code, "{name}: {e}");
                assert!(e.message().contains(key.arn.as_str()), "{}", e.message());
            }
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn access_denied_names_the_missing_action_and_the_fix() {
    let owner = owner();
    let cmk = kms_key(&customer_key(&owner), &owner);
    let policy = policy_for(&owner, &[]);
    let grants = vec![grant(&cmk, &member(), &[KmsAction::DescribeKey])];
    let view = KeyView {
        key: &cmk,
        policy: &policy,
        grants: &grants,
    };
    assert!(key_allows(
        view,
        &member(),
        &Membership::none(),
        KmsAction::DescribeKey
    ));
    assert!(!key_allows(
        view,
        &member(),
        &Membership::none(),
        KmsAction::Decrypt
    ));
    let e =
        check_key_access(view, &member(), &Membership::none(), &KmsAction::CONSUMER).unwrap_err();
    assert!(
        e.message().starts_with(&format!(
            "User: arn:aws:iam::{}:root is not authorized to perform: kms:CreateGrant on resource: {}",
            member(),
            cmk.arn
        )),
        "{}",
        e.message()
    );
    assert!(e.message().contains("grant"), "{}", e.message());
}
