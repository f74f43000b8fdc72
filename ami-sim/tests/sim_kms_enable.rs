//! EnableKey and DisableKey on the simulator: every refusal with its exact AWS code (changing
//! nothing), idempotence, a disabled key refused for images until it is enabled again, and a
//! key brought back from a cancelled deletion.

mod sim_support;

use ami_core::api::CopyImageRequest;
use ami_core::model::KeyState;
use ami_core::{ImageState, InstanceState, KeyManager, Kms, KmsKey, KmsKeyRef};
use ami_sim::Op;
use sim_support::*;

#[tokio::test(start_paused = true)]
async fn an_unknown_key_is_not_found() {
    let w = world(21);
    let kms = w.sim.kms(&w.a, &w.r1);
    let unknown_id = key_ref("1234abcd-12ab-34cd-56ef-1234567890ab");
    let unknown_arn =
        key_ref("arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    for key in [unknown_id, unknown_arn, key_ref("alias/never-made")] {
        assert_eq!(
            code(kms.enable_key(key.clone()).await),
            "NotFoundException",
            "{key}"
        );
        assert_eq!(
            code(kms.disable_key(key.clone()).await),
            "NotFoundException",
            "{key}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn another_accounts_key_is_access_denied_and_keeps_its_state() {
    let w = world(22);
    let owner = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*owner, "shared").await;
    let other = w.sim.kms(&w.b, &w.r1);
    let e = other.disable_key(key.arn.clone()).await.unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert!(
        e.message().contains("kms:DisableKey") && e.message().contains(key.arn.as_str()),
        "{}",
        e.message()
    );
    assert_eq!(state_of(&*owner, &key.arn).await, KeyState::Enabled);

    owner.disable_key(key.arn.clone()).await.unwrap();
    let e = other.enable_key(key.arn.clone()).await.unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert!(e.message().contains("kms:EnableKey"), "{}", e.message());
    assert_eq!(state_of(&*owner, &key.arn).await, KeyState::Disabled);
}

#[tokio::test(start_paused = true)]
async fn an_aws_managed_key_can_be_neither_disabled_nor_enabled() {
    let w = world(23);
    let kms = w.sim.kms(&w.a, &w.r1);
    let ebs = kms.describe_key(KmsKeyRef::aws_ebs_alias()).await.unwrap();
    assert_eq!(ebs.manager, KeyManager::Aws);
    for key in [KmsKeyRef::aws_ebs_alias(), ebs.arn.clone()] {
        let e = kms.disable_key(key.clone()).await.unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{key}");
        assert!(e.message().contains("AWS managed key"), "{}", e.message());
        let e = kms.enable_key(key.clone()).await.unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{key}");
        assert!(e.message().contains("kms:EnableKey"), "{}", e.message());
    }
    assert_eq!(state_of(&*kms, &ebs.arn).await, KeyState::Enabled);
}

#[tokio::test(start_paused = true)]
async fn a_key_pending_deletion_can_be_neither_enabled_nor_disabled() {
    let w = world(24);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "doomed").await;
    let date = kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    for (what, r) in [
        ("EnableKey", kms.enable_key(key.arn.clone()).await),
        ("DisableKey", kms.disable_key(key_ref("alias/doomed")).await),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "KMSInvalidStateException", "{what}");
        assert!(
            e.message().contains("pending deletion")
                && e.message().contains("CancelKeyDeletion")
                && e.message().contains(what),
            "{}",
            e.message()
        );
    }
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::PendingDeletion);
    // The deletion still happens on its date.
    pass(7 * DAY).await;
    assert_eq!(w.sim.now(), date);
    assert_eq!(
        code(kms.describe_key(key.arn.clone()).await),
        "NotFoundException"
    );
}

#[tokio::test(start_paused = true)]
async fn enabling_an_enabled_key_and_disabling_a_disabled_key_succeed_and_change_nothing() {
    let w = world(25);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "steady").await;
    kms.enable_key(key.arn.clone()).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);

    kms.disable_key(key.arn.clone()).await.unwrap();
    kms.disable_key(key_ref("alias/steady")).await.unwrap();
    kms.disable_key(key_ref(&key.key_id)).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Disabled);

    kms.enable_key(key_ref("alias/steady")).await.unwrap();
    kms.enable_key(key.arn.clone()).await.unwrap();
    let after = kms.describe_key(key.arn.clone()).await.unwrap();
    assert_eq!(after.state, KeyState::Enabled);
    // Nothing else about the key moved.
    assert_eq!(after, key_with_state(&key, KeyState::Enabled, &after));

    // Each call is logged as a KMS call that succeeded.
    let ops: Vec<(Op, bool)> = w
        .sim
        .call_log()
        .into_iter()
        .filter(|c| matches!(c.op, Op::EnableKey | Op::DisableKey))
        .map(|c| (c.op, c.outcome.is_ok()))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::EnableKey, true),
            (Op::DisableKey, true),
            (Op::DisableKey, true),
            (Op::DisableKey, true),
            (Op::EnableKey, true),
            (Op::EnableKey, true),
        ]
    );
    assert!(Op::EnableKey.is_kms() && Op::DisableKey.is_kms());
    assert!(Op::ALL.contains(&Op::EnableKey) && Op::ALL.contains(&Op::DisableKey));
}

/// `key` as DescribeKey should give it in state `state`, its aliases taken from `seen`.
fn key_with_state(key: &KmsKey, state: KeyState, seen: &KmsKey) -> KmsKey {
    KmsKey {
        state,
        aliases: seen.aliases.clone(),
        ..key.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_disabled_key_fails_launches_and_copies_until_it_is_enabled_again() {
    let w = world(26);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "golden").await;
    let enc = encrypted_image(&w, &*ec2, &key, "golden-cmk").await;
    kms.disable_key(key.arn.clone()).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Disabled);

    // Launch: accepted, then the instance terminates with Client.InternalError.
    let (state, reason) = launch(&*ec2, &enc).await;
    assert_eq!(state, InstanceState::Terminated);
    assert_eq!(reason.as_deref(), Some("Client.InternalError"));

    // Copy: accepted, then the copy fails, naming the disabled key.
    let copy = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), enc.clone(), "golden-copy"),
    )
    .await;
    assert_eq!(copy.state, ImageState::Failed);
    let reason = copy.state_reason.unwrap();
    assert!(
        reason.message.contains("DisabledException") && reason.message.contains("EnableKey"),
        "{reason:?}"
    );

    // Enabled again: the same image launches and copies.
    kms.enable_key(key_ref("alias/golden")).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);
    let (state, reason) = launch(&*ec2, &enc).await;
    assert_eq!(state, InstanceState::Running, "{reason:?}");
    let copy = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), enc.clone(), "golden-copy-2"),
    )
    .await;
    assert_eq!(copy.state, ImageState::Available, "{:?}", copy.state_reason);
}

#[tokio::test(start_paused = true)]
async fn schedule_cancel_enable_gives_back_a_working_key() {
    let w = world(27);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "revived").await;
    let enc = encrypted_image(&w, &*ec2, &key, "revived-cmk").await;

    kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    pass(DAY).await;
    kms.cancel_key_deletion(key.arn.clone()).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Disabled);
    kms.enable_key(key.arn.clone()).await.unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);

    // Past the cancelled date the key is still there, enabled, and serves images.
    pass(10 * DAY).await;
    assert_eq!(
        state_of(&*kms, &key_ref("alias/revived")).await,
        KeyState::Enabled
    );
    let (state, reason) = launch(&*ec2, &enc).await;
    assert_eq!(state, InstanceState::Running, "{reason:?}");
    let copy = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), enc.clone(), "revived-copy")
            .encrypt_with(key.arn.clone()),
    )
    .await;
    assert_eq!(copy.state, ImageState::Available, "{:?}", copy.state_reason);
}

/// Enabling and disabling are deterministic: two simulators with the same seed and the same
/// calls write the same call log.
#[tokio::test(start_paused = true)]
async fn the_same_calls_give_the_same_log() {
    async fn run() -> String {
        let w = world(28);
        let kms = w.sim.kms(&w.a, &w.r1);
        let key = key_with_alias(&*kms, "a").await;
        kms.disable_key(key.arn.clone()).await.unwrap();
        kms.disable_key(key.arn.clone()).await.unwrap();
        kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
        let _ = kms.enable_key(key.arn.clone()).await;
        kms.cancel_key_deletion(key.arn.clone()).await.unwrap();
        kms.enable_key(key.arn.clone()).await.unwrap();
        w.sim.call_log_text()
    }
    assert_eq!(run().await, run().await);
}

/// A launch AWS accepts from an image whose key is disabled fails later; `wait_for_running`
/// turns that into `Error::LaunchFailed` with AWS's state reason (`Client.InternalError`, the
/// KMS cause in the message) instead of a generic state error, and `Ok` once the key is back.
#[tokio::test(start_paused = true)]
async fn wait_for_running_surfaces_the_launch_failure_reason() {
    use ami_core::api::RunInstancesRequest;
    use ami_core::ops::wait::{wait_for_running, WaitOptions};
    use ami_core::Error;

    let w = world(29);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "app").await;
    let image = encrypted_image(&w, &*ec2, &key, "enc-app").await;
    kms.disable_key(key.arn.clone()).await.unwrap();

    let id = ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap()
        .remove(0)
        .id;
    let err = wait_for_running(&*ec2, &id, &WaitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "LaunchFailed");
    match err {
        Error::LaunchFailed {
            instance_id,
            reason,
        } => {
            assert_eq!(instance_id, id);
            assert_eq!(reason.code, "Client.InternalError");
            assert!(
                reason.message.contains("DisabledException"),
                "{}",
                reason.message
            );
        }
        other => panic!("expected LaunchFailed, got {other:?}"),
    }

    kms.enable_key(key.arn.clone()).await.unwrap();
    let id = ec2
        .run_instances(RunInstancesRequest::new(image))
        .await
        .unwrap()
        .remove(0)
        .id;
    let inst = wait_for_running(&*ec2, &id, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(inst.state, InstanceState::Running);
}
