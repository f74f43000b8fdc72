//! ScheduleKeyDeletion and CancelKeyDeletion on the simulator: every refusal with its exact
//! AWS code (changing nothing), the `PendingDeletion` state and its deletion date, keys pending
//! deletion refused for images, cancellation to `Disabled`, and deletion (with the aliases)
//! when the waiting period ends.

mod sim_support;

use std::time::Duration;

use ami_core::api::{CopyImageRequest, CreateKeyRequest};
use ami_core::model::KeyState;
use ami_core::{Error, ImageState, InstanceState, KeyManager, Kms, KmsKeyRef};
use ami_sim::Op;
use sim_support::*;

#[tokio::test(start_paused = true)]
async fn a_window_outside_7_to_30_days_is_a_validation_error_that_changes_nothing() {
    let w = world(1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "app").await;
    for days in [0, 1, 6, 31, 365, u32::MAX] {
        let e = kms
            .schedule_key_deletion(key.arn.clone(), days)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "ValidationException", "{days} days");
        assert!(matches!(e, Error::InvalidParameter(_)), "{e:?}");
        assert!(
            e.message().contains(&format!("Value '{days}'"))
                && e.message().contains("7 to 30 days"),
            "{}",
            e.message()
        );
    }
    // Checked before the key: an unknown key with a bad window is still a validation error.
    assert_eq!(
        code(
            kms.schedule_key_deletion(key_ref("alias/nothing-here"), 5)
                .await
        ),
        "ValidationException"
    );
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);
    // Nothing was scheduled either: the key outlives the longest window.
    pass(31 * DAY).await;
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);
    assert_eq!(
        state_of(&*kms, &key_ref("alias/app")).await,
        KeyState::Enabled
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_key_is_not_found() {
    let w = world(2);
    let kms = w.sim.kms(&w.a, &w.r1);
    let unknown_id = key_ref("1234abcd-12ab-34cd-56ef-1234567890ab");
    let unknown_arn =
        key_ref("arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    for key in [unknown_id, unknown_arn, key_ref("alias/never-made")] {
        assert_eq!(
            code(kms.schedule_key_deletion(key.clone(), 7).await),
            "NotFoundException",
            "{key}"
        );
        assert_eq!(
            code(kms.cancel_key_deletion(key.clone()).await),
            "NotFoundException",
            "{key}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn another_accounts_key_is_access_denied() {
    let w = world(3);
    let owner = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*owner, "shared").await;
    let other = w.sim.kms(&w.b, &w.r1);
    let e = other
        .schedule_key_deletion(key.arn.clone(), 7)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "AccessDeniedException");
    assert!(
        e.message().contains("kms:ScheduleKeyDeletion") && e.message().contains(key.arn.as_str()),
        "{}",
        e.message()
    );
    assert_eq!(state_of(&*owner, &key.arn).await, KeyState::Enabled);
    // Not even once the owner has scheduled it may another account cancel.
    owner
        .schedule_key_deletion(key.arn.clone(), 7)
        .await
        .unwrap();
    assert_eq!(
        code(other.cancel_key_deletion(key.arn.clone()).await),
        "AccessDeniedException"
    );
    assert_eq!(state_of(&*owner, &key.arn).await, KeyState::PendingDeletion);
}

#[tokio::test(start_paused = true)]
async fn an_aws_managed_key_cannot_be_deleted() {
    let w = world(4);
    let kms = w.sim.kms(&w.a, &w.r1);
    let ebs = kms.describe_key(KmsKeyRef::aws_ebs_alias()).await.unwrap();
    assert_eq!(ebs.manager, KeyManager::Aws);
    for key in [KmsKeyRef::aws_ebs_alias(), ebs.arn.clone()] {
        let e = kms.schedule_key_deletion(key.clone(), 7).await.unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{key}");
        assert!(e.message().contains("AWS managed key"), "{}", e.message());
        assert_eq!(
            code(kms.cancel_key_deletion(key.clone()).await),
            "AccessDeniedException",
            "{key}"
        );
    }
    assert_eq!(state_of(&*kms, &ebs.arn).await, KeyState::Enabled);
}

#[tokio::test(start_paused = true)]
async fn scheduling_a_key_pending_deletion_again_is_an_invalid_state() {
    let w = world(5);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "twice").await;
    let first = kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    let e = kms
        .schedule_key_deletion(key.arn.clone(), 30)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(
        e.message().contains("pending deletion") && e.message().contains("CancelKeyDeletion"),
        "{}",
        e.message()
    );
    // The first date stands: the key is gone after 7 days, not 30.
    pass(7 * DAY).await;
    assert_eq!(w.sim.now(), first);
    assert_eq!(
        code(kms.describe_key(key.arn.clone()).await),
        "NotFoundException"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_key_not_pending_deletion_is_an_invalid_state() {
    let w = world(6);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "never").await;
    let e = kms.cancel_key_deletion(key.arn.clone()).await.unwrap_err();
    assert_eq!(e.code(), "KMSInvalidStateException");
    assert!(
        e.message().contains("not pending deletion") && e.message().contains("Enabled"),
        "{}",
        e.message()
    );
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Enabled);
    // After a cancellation the key is disabled, and not pending deletion either.
    kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    kms.cancel_key_deletion(key.arn.clone()).await.unwrap();
    assert_eq!(
        code(kms.cancel_key_deletion(key.arn.clone()).await),
        "KMSInvalidStateException"
    );
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Disabled);
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_key_is_pending_deletion_until_now_plus_the_window() {
    let w = world(7);
    let kms = w.sim.kms(&w.a, &w.r1);
    for (i, days) in [7u32, 15, 30].into_iter().enumerate() {
        let key = key_with_alias(&*kms, &format!("k{i}")).await;
        let now = w.sim.now();
        let by = [
            key.arn.clone(),
            key_ref(&key.key_id),
            key_ref(&format!("alias/k{i}")),
        ];
        let date = kms
            .schedule_key_deletion(by[i].clone(), days)
            .await
            .unwrap();
        assert_eq!(
            date,
            now.add(Duration::from_secs(u64::from(days) * DAY)),
            "{days} days"
        );
        for r in &by {
            let k = kms.describe_key(r.clone()).await.unwrap();
            assert_eq!(k.state, KeyState::PendingDeletion, "{r}");
            assert_eq!(k.aliases, [format!("alias/k{i}")]);
        }
        pass(3600).await;
    }
    assert_eq!(w.sim.call_count(Op::ScheduleKeyDeletion), 3);
    let log = w.sim.call_log_text();
    assert!(
        log.lines()
            .any(|l| l.contains(" ScheduleKeyDeletion ok ") && l.contains(" deleted at ")),
        "{log}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_image_encrypted_with_a_key_pending_deletion_can_be_neither_copied_nor_launched() {
    let w = world(8);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "golden").await;
    let enc = encrypted_image(&w, &*ec2, &key, "golden-cmk").await;
    kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();

    // Launch: accepted, then the instance terminates with Client.InternalError.
    let (state, reason) = launch(&*ec2, &enc).await;
    assert_eq!(state, InstanceState::Terminated);
    assert_eq!(reason.as_deref(), Some("Client.InternalError"));

    // Copy: accepted, then the copy fails, naming the state of the key.
    let copy = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), enc.clone(), "golden-copy"),
    )
    .await;
    assert_eq!(copy.state, ImageState::Failed);
    let reason = copy.state_reason.unwrap();
    assert_eq!(reason.code, "Server.InternalError");
    assert!(
        reason.message.contains("KMSInvalidStateException")
            && reason.message.contains("pending deletion"),
        "{reason:?}"
    );

    // Encrypting a new copy with the key fails the same way.
    let plain = baked(&w, &*ec2, "golden-plain-2").await;
    let fresh = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), plain, "golden-cmk-2").encrypt_with(key.arn.clone()),
    )
    .await;
    assert_eq!(fresh.state, ImageState::Failed);
}

/// Once the window has ended the key is gone for good: an image encrypted with it can still
/// be named, but neither launched nor copied (the key is `NotFoundException` now).
#[tokio::test(start_paused = true)]
async fn an_image_encrypted_with_a_deleted_key_can_be_neither_copied_nor_launched() {
    let w = world(12);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "golden").await;
    let enc = encrypted_image(&w, &*ec2, &key, "golden-cmk").await;
    kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    pass(8 * DAY).await;
    assert_eq!(
        code(kms.describe_key(key.arn.clone()).await),
        "NotFoundException"
    );

    let (state, reason) = launch(&*ec2, &enc).await;
    assert_eq!(state, InstanceState::Terminated);
    assert_eq!(reason.as_deref(), Some("Client.InternalError"));

    let copy = copy_and_wait(
        &*ec2,
        CopyImageRequest::new(w.r1.clone(), enc, "golden-copy"),
    )
    .await;
    assert_eq!(copy.state, ImageState::Failed);
    let reason = copy.state_reason.unwrap();
    assert!(reason.message.contains("NotFoundException"), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_deletion_leaves_the_key_disabled_beyond_the_window() {
    let w = world(9);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "kept").await;
    kms.schedule_key_deletion(key.arn.clone(), 7).await.unwrap();
    pass(DAY).await;
    kms.cancel_key_deletion(key_ref("alias/kept"))
        .await
        .unwrap();
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::Disabled);
    pass(10 * DAY).await;
    let k = kms.describe_key(key_ref("alias/kept")).await.unwrap();
    assert_eq!(k.key_id, key.key_id);
    assert_eq!(k.state, KeyState::Disabled);

    // Scheduled again for 30 days: the cancelled 7-day date is not met on the way.
    let date = kms
        .schedule_key_deletion(key.arn.clone(), 30)
        .await
        .unwrap();
    pass(29 * DAY).await;
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::PendingDeletion);
    pass(DAY).await;
    assert_eq!(w.sim.now(), date);
    assert_eq!(
        code(kms.describe_key(key.arn.clone()).await),
        "NotFoundException"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_not_cancelled_is_deleted_with_its_aliases_when_the_window_ends() {
    let w = world(10);
    let kms = w.sim.kms(&w.a, &w.r1);
    let key = key_with_alias(&*kms, "doomed").await;
    kms.create_alias("alias/doomed-too".into(), key.arn.clone())
        .await
        .unwrap();
    let keep = key_with_alias(&*kms, "kept").await;
    kms.schedule_key_deletion(key_ref("alias/doomed"), 7)
        .await
        .unwrap();
    pass(7 * DAY - 1).await;
    assert_eq!(state_of(&*kms, &key.arn).await, KeyState::PendingDeletion);
    pass(1).await;
    for r in [
        key.arn.clone(),
        key_ref(&key.key_id),
        key_ref("alias/doomed"),
        key_ref("alias/doomed-too"),
    ] {
        assert_eq!(
            code(kms.describe_key(r.clone()).await),
            "NotFoundException",
            "{r}"
        );
        assert_eq!(
            code(kms.cancel_key_deletion(r.clone()).await),
            "NotFoundException",
            "{r}"
        );
    }
    // The alias names are free again, and the other key is untouched.
    let next = kms
        .create_key(CreateKeyRequest::new("successor"))
        .await
        .unwrap();
    kms.create_alias("alias/doomed".into(), next.arn.clone())
        .await
        .unwrap();
    assert_eq!(
        kms.describe_key(key_ref("alias/doomed"))
            .await
            .unwrap()
            .key_id,
        next.key_id
    );
    let kept = kms.describe_key(key_ref("alias/kept")).await.unwrap();
    assert_eq!((kept.key_id, kept.state), (keep.key_id, KeyState::Enabled));
}

/// The deletion is deterministic: two simulators with the same seed and the same calls write
/// the same call log, deletion dates included.
#[tokio::test(start_paused = true)]
async fn the_same_calls_give_the_same_log() {
    async fn run() -> String {
        let w = world(11);
        let kms = w.sim.kms(&w.a, &w.r1);
        let key = key_with_alias(&*kms, "a").await;
        kms.schedule_key_deletion(key.arn.clone(), 9).await.unwrap();
        let _ = kms.schedule_key_deletion(key.arn.clone(), 9).await;
        pass(DAY).await;
        kms.cancel_key_deletion(key.arn.clone()).await.unwrap();
        let _ = kms.cancel_key_deletion(key.arn.clone()).await;
        w.sim.call_log_text()
    }
    assert_eq!(run().await, run().await);
}
