//! KMS: keys, aliases, key policies, grants, the AWS managed EBS key, scheduled deletion,
//! disabling and enabling.

use std::collections::BTreeSet;
use std::time::Duration;

use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step, Stop};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{CreateGrantRequest, CreateKeyRequest, Kms, KEY_DELETION_WINDOW_DAYS};
use crate::id::{AccountId, KmsKeyRef};
use crate::model::{KeyManager, KeyPolicyStatement, KeyPrincipal, KeyState, KmsAction};

checks! {
    /// CreateKey makes an enabled customer managed key; DescribeKey finds it by id, ARN and
    /// alias; a second alias of the same name fails with `AlreadyExistsException`.
    check_kms_key_create_describe => kms_key_create_describe;
    /// GetKeyPolicy returns the default policy (the owner may use the key); PutKeyPolicy
    /// replaces it.
    check_kms_key_policy => kms_key_policy;
    /// CreateGrant, ListGrants and RevokeGrant.
    check_kms_grants => kms_grants;
    /// `alias/aws/ebs` names an AWS managed key.
    check_kms_aws_managed_key => kms_aws_managed_key;
    /// ScheduleKeyDeletion with the shortest waiting period (7 days) returns a deletion date
    /// 7 days away and turns the key `PendingDeletion`; CancelKeyDeletion turns it `Disabled`
    /// (not `Enabled`).
    check_key_deletion => key_deletion;
    /// ScheduleKeyDeletion with a waiting period of 5 or 31 days fails with
    /// `ValidationException` and leaves the key enabled; scheduling a key already pending
    /// deletion, and cancelling a key not pending deletion, fail with
    /// `KMSInvalidStateException`.
    check_key_deletion_errors => key_deletion_errors;
    /// DisableKey turns a key `Disabled` (a second DisableKey changes nothing) and EnableKey
    /// turns it `Enabled` again.
    check_key_disable_enable => key_disable_enable;
    /// EnableKey and DisableKey of a key pending deletion fail with
    /// `KMSInvalidStateException`, leaving it pending deletion.
    check_key_enable_pending_deletion => key_enable_pending_deletion;
}

fn parse_ref(s: &str) -> Result<KmsKeyRef, Stop> {
    KmsKeyRef::parse(s).map_err(|e| Stop::Fail(format!("{s:?} is no key reference: {e}")))
}

async fn kms_key_create_describe(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let kms = &ctx.primary.kms;
    let description = fx.name("key");
    let key = fx
        .create_key(kms, CreateKeyRequest::new(description.clone()))
        .await?;
    ensure!(
        key.manager == KeyManager::Customer,
        "manager {:?}",
        key.manager
    );
    ensure!(key.state == KeyState::Enabled, "state {:?}", key.state);
    ensure!(&key.owner == kms.account(), "owner {}", key.owner);
    ensure!(&key.region == kms.region(), "region {}", key.region);
    ensure!(
        key.description == description,
        "description {:?}",
        key.description
    );
    ensure!(
        !key.multi_region,
        "a single-Region key was made multi-Region"
    );
    ensure!(
        key.arn.as_str().ends_with(&format!(":key/{}", key.key_id))
            && key.arn.account().as_ref() == Some(kms.account())
            && key.arn.region().as_ref() == Some(kms.region()),
        "ARN {} does not name key {} of {}/{}",
        key.arn,
        key.key_id,
        kms.account(),
        kms.region()
    );
    for r in [parse_ref(&key.key_id)?, key.arn.clone()] {
        let got = kms
            .describe_key(r.clone())
            .await
            .during(format_args!("DescribeKey {r}"))?;
        ensure!(
            got.key_id == key.key_id && got.arn == key.arn,
            "DescribeKey {r} gave {got:?}"
        );
    }
    let alias = format!("alias/{}", fx.name("alias"));
    kms.create_alias(alias.clone(), key.arn.clone())
        .await
        .during("CreateAlias")?;
    let by_alias = kms
        .describe_key(parse_ref(&alias)?)
        .await
        .during(format_args!("DescribeKey {alias}"))?;
    ensure!(
        by_alias.key_id == key.key_id,
        "{alias} names {}, not {}",
        by_alias.key_id,
        key.key_id
    );
    expect_code(
        kms.create_alias(alias.clone(), key.arn.clone()).await,
        "AlreadyExistsException",
        "CreateAlias of an alias in use",
    )?;
    Ok(())
}

async fn kms_key_policy(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    let owner = kms.account().clone();
    let policy = kms
        .get_key_policy(key.arn.clone())
        .await
        .during("GetKeyPolicy")?;
    for action in [
        KmsAction::Decrypt,
        KmsAction::CreateGrant,
        KmsAction::DescribeKey,
    ] {
        ensure!(
            policy.allows(&owner, None, action),
            "the default policy does not let the owner {action:?}: {policy:?}"
        );
    }
    let consumer = other_account(ctx);
    ensure!(
        !policy.allows(&consumer, None, KmsAction::Decrypt),
        "the default policy lets {consumer} decrypt"
    );
    let mut new = policy.clone();
    new.statements.push(KeyPolicyStatement {
        sid: "consumers".into(),
        principals: [KeyPrincipal::Account(consumer.clone())].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: None,
        principal_org_paths: Default::default(),
    });
    kms.put_key_policy(key.arn.clone(), new)
        .await
        .during("PutKeyPolicy")?;
    let back = kms
        .get_key_policy(key.arn.clone())
        .await
        .during("GetKeyPolicy")?;
    for action in KmsAction::CONSUMER {
        ensure!(
            back.allows(&consumer, None, action),
            "after PutKeyPolicy {consumer} may not {action:?}: {back:?}"
        );
    }
    ensure!(
        back.allows(&owner, None, KmsAction::Decrypt),
        "PutKeyPolicy lost the owner statement: {back:?}"
    );
    let stranger = AccountId::from_number(999_988_887_777);
    ensure!(
        !back.allows(&stranger, None, KmsAction::Decrypt),
        "a stranger may decrypt: {back:?}"
    );
    Ok(())
}

async fn kms_grants(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::KmsGrants)?;
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    let grantee = other_account(ctx);
    let operations: BTreeSet<KmsAction> = [KmsAction::Decrypt, KmsAction::DescribeKey].into();
    let id = kms
        .create_grant(CreateGrantRequest {
            key: key.arn.clone(),
            grantee: grantee.clone(),
            operations: operations.clone(),
            name: Some(fx.name("grant")),
        })
        .await
        .during("CreateGrant")?;
    let grants = kms
        .list_grants(key.arn.clone())
        .await
        .during("ListGrants")?;
    let Some(g) = grants.iter().find(|g| g.id == id) else {
        fail!("grant {id} missing from ListGrants: {grants:?}");
    };
    ensure!(g.grantee == grantee, "grantee {}", g.grantee);
    ensure!(
        operations.is_subset(&g.operations),
        "operations {:?}, expected {operations:?}",
        g.operations
    );
    kms.revoke_grant(key.arn.clone(), id.clone())
        .await
        .during("RevokeGrant")?;
    let grants = kms
        .list_grants(key.arn.clone())
        .await
        .during("ListGrants")?;
    ensure!(
        grants.iter().all(|g| g.id != id),
        "grant {id} still listed after RevokeGrant"
    );
    Ok(())
}

async fn kms_aws_managed_key(ctx: &Ctx, _fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::AwsManagedKeys)?;
    let kms = &ctx.primary.kms;
    let key = kms
        .describe_key(KmsKeyRef::aws_ebs_alias())
        .await
        .during("DescribeKey alias/aws/ebs")?;
    ensure!(
        key.manager == KeyManager::Aws,
        "alias/aws/ebs is managed by {:?}",
        key.manager
    );
    ensure!(&key.region == kms.region(), "region {}", key.region);
    Ok(())
}

/// The state DescribeKey gives `key`.
async fn key_state(kms: &dyn Kms, key: &KmsKeyRef, when: &str) -> Result<KeyState, Stop> {
    Ok(kms
        .describe_key(key.clone())
        .await
        .during(format_args!("DescribeKey {when}"))?
        .state)
}

async fn key_deletion(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::KeyDeletion)?;
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    // Named by key id here (the errors check names it by ARN).
    let id = parse_ref(&key.key_id)?;
    let days = *KEY_DELETION_WINDOW_DAYS.start();
    let window = Duration::from_secs(u64::from(days) * 24 * 3600);
    let before = ctx.clock.now();
    let date = kms
        .schedule_key_deletion(id.clone(), days)
        .await
        .during(format_args!("ScheduleKeyDeletion after {days} days"))?;
    let after = ctx.clock.now();
    // A few minutes of slack for the clocks of a remote service, and up to a day should the
    // service round the date up.
    let earliest = before.add(window).sub(Duration::from_secs(300));
    let latest = after.add(window).add(Duration::from_secs(24 * 3600));
    ensure!(
        earliest <= date && date <= latest,
        "ScheduleKeyDeletion after {days} days, called at {before}, gave deletion date {date}"
    );
    let state = key_state(kms.as_ref(), &key.arn, "after ScheduleKeyDeletion").await?;
    ensure!(
        state == KeyState::PendingDeletion,
        "after ScheduleKeyDeletion the key is {state:?}, not PendingDeletion"
    );
    kms.cancel_key_deletion(id)
        .await
        .during("CancelKeyDeletion")?;
    let state = key_state(kms.as_ref(), &key.arn, "after CancelKeyDeletion").await?;
    ensure!(
        state == KeyState::Disabled,
        "after CancelKeyDeletion the key is {state:?}, not Disabled as on AWS"
    );
    Ok(())
}

async fn key_deletion_errors(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::KeyDeletion)?;
    ctx.require(Feature::KeyDeletionChecks)?;
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    let (min, max) = (
        *KEY_DELETION_WINDOW_DAYS.start(),
        *KEY_DELETION_WINDOW_DAYS.end(),
    );
    for days in [min - 2, max + 1] {
        expect_code(
            kms.schedule_key_deletion(key.arn.clone(), days).await,
            "ValidationException",
            format_args!("ScheduleKeyDeletion after {days} days"),
        )?;
    }
    let state = key_state(kms.as_ref(), &key.arn, "after refused windows").await?;
    ensure!(
        state == KeyState::Enabled,
        "a refused ScheduleKeyDeletion left the key {state:?}"
    );
    expect_code(
        kms.cancel_key_deletion(key.arn.clone()).await,
        "KMSInvalidStateException",
        "CancelKeyDeletion of an enabled key",
    )?;
    kms.schedule_key_deletion(key.arn.clone(), min)
        .await
        .during("ScheduleKeyDeletion")?;
    expect_code(
        kms.schedule_key_deletion(key.arn.clone(), max).await,
        "KMSInvalidStateException",
        "ScheduleKeyDeletion of a key pending deletion",
    )?;
    let state = key_state(kms.as_ref(), &key.arn, "after a refused second schedule").await?;
    ensure!(
        state == KeyState::PendingDeletion,
        "a refused second ScheduleKeyDeletion left the key {state:?}"
    );
    Ok(())
}

async fn key_disable_enable(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::KeyDeletion)?;
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    // Named by key id, which every backend resolves for the caller's own key.
    let id = parse_ref(&key.key_id)?;
    kms.disable_key(id.clone()).await.during("DisableKey")?;
    let state = key_state(kms.as_ref(), &id, "after DisableKey").await?;
    ensure!(
        state == KeyState::Disabled,
        "after DisableKey the key is {state:?}, not Disabled"
    );
    kms.disable_key(id.clone())
        .await
        .during("DisableKey of a disabled key")?;
    let state = key_state(kms.as_ref(), &id, "after a second DisableKey").await?;
    ensure!(
        state == KeyState::Disabled,
        "after a second DisableKey the key is {state:?}, not Disabled"
    );
    kms.enable_key(id.clone()).await.during("EnableKey")?;
    let state = key_state(kms.as_ref(), &id, "after EnableKey").await?;
    ensure!(
        state == KeyState::Enabled,
        "after EnableKey the key is {state:?}, not Enabled"
    );
    Ok(())
}

async fn key_enable_pending_deletion(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::KeyDeletion)?;
    ctx.require(Feature::KeyEnableChecks)?;
    let kms = &ctx.primary.kms;
    let name = fx.name("key");
    let key = fx.create_key(kms, CreateKeyRequest::new(name)).await?;
    let id = parse_ref(&key.key_id)?;
    let days = *KEY_DELETION_WINDOW_DAYS.start();
    kms.schedule_key_deletion(id.clone(), days)
        .await
        .during("ScheduleKeyDeletion")?;
    expect_code(
        kms.enable_key(id.clone()).await,
        "KMSInvalidStateException",
        "EnableKey of a key pending deletion",
    )?;
    expect_code(
        kms.disable_key(id.clone()).await,
        "KMSInvalidStateException",
        "DisableKey of a key pending deletion",
    )?;
    let state = key_state(
        kms.as_ref(),
        &id,
        "after a refused EnableKey and DisableKey",
    )
    .await?;
    ensure!(
        state == KeyState::PendingDeletion,
        "a refused EnableKey or DisableKey left the key {state:?}, not PendingDeletion"
    );
    Ok(())
}
