//! `ops::share` on the simulator: an image encrypted with a customer managed key shared with a
//! consumer together with its snapshots and key; idempotence; revoke; the AWS managed key
//! refusal and `reencrypt`; organizations and OUs; public sharing; faults.

use std::time::Duration;

use ami_core::api::{
    CopyImageRequest, DescribeImagesRequest, Owner, PermissionChanges, RunInstancesRequest,
};
use ami_core::ops::share::{
    self, account_sid, org_sid, ou_sid, reencrypt, ReencryptRequest, ShareSpec,
    TAG_REENCRYPTED_FROM,
};
use ami_core::ops::wait::{wait_for_image_available, WaitOptions};
use ami_core::{
    CreateVolumePermission, Ec2Ext, ImageId, InstanceState, KeyManager, KmsKey, LaunchPermission,
};
use ami_sim::{FaultPlan, Op, Sim};

mod common;
use common::{acct, baked_with_key, must, reencrypted, us};

const OWNER: &str = "111111111111";
const CONSUMER: &str = "222222222222";
const OU_MEMBER: &str = "333333333333";
const MGMT: &str = "999999999999";

fn sim(seed: u64, faults: FaultPlan) -> Sim {
    common::builder(seed, &["us-east-1", "eu-west-1"], &[OWNER, CONSUMER])
        .organization("o-abcdefghij", MGMT)
        .organizational_unit("ou-ab12-appsapps", None)
        .account_in_ou(OU_MEMBER, "ou-ab12-appsapps")
        .faults(faults)
        .build()
        .unwrap()
}

/// An unencrypted image baked by OWNER, and OWNER's customer managed key `alias/golden`.
async fn baked(sim: &Sim) -> (ImageId, KmsKey) {
    baked_with_key(sim, OWNER).await
}

/// The golden image copied under the customer managed key.
async fn cmk_image(sim: &Sim) -> (ImageId, KmsKey) {
    let (plain, key) = baked(sim).await;
    let img = reencrypted(sim, OWNER, &plain, &key).await;
    assert_eq!(img.owner, acct(OWNER));
    assert_eq!(img.source_image_id.as_ref(), Some(&plain));
    assert_eq!(
        img.tags.get(TAG_REENCRYPTED_FROM).map(String::as_str),
        Some(plain.as_str())
    );
    for enc in img.kms_keys() {
        assert_eq!(enc.key, key.arn);
        assert_eq!(enc.manager, KeyManager::Customer);
    }
    assert!(img.is_encrypted());
    (img.id, key)
}

/// What the owner has granted, as text: launch permissions, snapshot permissions, key policy.
async fn grants(sim: &Sim, image: &ImageId, key: &KmsKey) -> String {
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let kms = sim.kms(&acct(OWNER), &us());
    let img = must(|| ec2.describe_image(image)).await;
    let launch = must(|| ec2.describe_launch_permissions(image.clone())).await;
    let mut out = format!("public={} launch={launch:?}\n", img.public);
    for snap in img.snapshot_ids() {
        let perms = must(|| ec2.describe_snapshot_permissions(snap.clone())).await;
        out.push_str(&format!("snapshot {snap} {perms:?}\n"));
    }
    let policy = must(|| kms.get_key_policy(key.arn.clone())).await;
    out.push_str(&format!("policy {:?}\n", policy.statements));
    out
}

/// The story: a CMK-encrypted image shared with a consumer, with its snapshots and its key;
/// the consumer launches it; sharing again changes nothing; revoking undoes everything.
#[tokio::test(start_paused = true)]
async fn share_a_cmk_image_with_snapshots_and_key_then_revoke() {
    let sim = sim(1, FaultPlan::none());
    let (image, key) = cmk_image(&sim).await;
    let consumer_ec2 = sim.ec2(&acct(CONSUMER), &us());
    let before = grants(&sim, &image, &key).await;
    let denied = consumer_ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), "AuthFailure");

    let spec = ShareSpec::new(image.clone())
        .account(acct(CONSUMER))
        .allow_copy(true);
    let plan = share::plan(&sim, &acct(OWNER), &us(), &spec).await.unwrap();
    assert_eq!(
        plan.launch_permissions.add,
        vec![LaunchPermission::Account(acct(CONSUMER))]
    );
    assert_eq!(plan.snapshot_permissions.len(), 1);
    assert_eq!(plan.key_policies.len(), 1);
    assert_eq!(plan.key_policies[0].key, key.arn);
    let text = plan.to_string();
    assert!(
        text.contains(&format!("+ launch permission: account {CONSUMER}")),
        "{text}"
    );
    assert!(text.contains("kms:Decrypt"), "{text}");
    share::apply(&sim, &plan).await.unwrap();

    // The consumer sees it (owner unchanged), can launch it (key access at use time).
    let seen = consumer_ec2.describe_image(&image).await.unwrap();
    assert_eq!(seen.owner, acct(OWNER));
    let launched = consumer_ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap();
    assert_eq!(launched.len(), 1);
    // Exactly the consumer, exactly the consumer actions, on the key.
    let policy = sim
        .kms(&acct(OWNER), &us())
        .get_key_policy(key.arn.clone())
        .await
        .unwrap();
    let st = policy
        .statements
        .iter()
        .find(|s| s.sid == account_sid(&image))
        .unwrap();
    assert_eq!(
        st.principals,
        [ami_core::model::KeyPrincipal::Account(acct(CONSUMER))].into()
    );
    assert_eq!(st.actions, ami_core::model::KmsAction::CONSUMER.into());
    let shared = grants(&sim, &image, &key).await;
    assert_eq!(shared.matches(CONSUMER).count(), 3, "{shared}");

    // Idempotent: the same plan again changes nothing, and a new plan is empty.
    let calls = sim.call_count(Op::ModifyImageAttribute);
    share::apply(&sim, &plan).await.unwrap();
    assert_eq!(grants(&sim, &image, &key).await, shared);
    assert_eq!(
        sim.call_count(Op::PutKeyPolicy),
        1,
        "the key policy was written once"
    );
    assert_eq!(sim.call_count(Op::ModifyImageAttribute), calls + 1);
    let again = share::plan(&sim, &acct(OWNER), &us(), &spec).await.unwrap();
    assert!(again.is_empty(), "{again}");

    // Revoke undoes all three.
    let undone = share::revoke(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    assert_eq!(
        undone.launch_permissions.remove,
        vec![LaunchPermission::Account(acct(CONSUMER))]
    );
    assert_eq!(grants(&sim, &image, &key).await, before);
    let gone = consumer_ec2.describe_image(&image).await.unwrap_err();
    assert_eq!(gone.code(), "InvalidAMIID.NotFound");
    assert!(share::plan_revoke(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap()
        .is_empty());
}

/// Revoking one image's share keeps the key access another image's share of the same key
/// still needs.
#[tokio::test(start_paused = true)]
async fn revoking_one_image_keeps_key_access_for_another() {
    let sim = sim(2, FaultPlan::none());
    let (first, key) = cmk_image(&sim).await;
    let plain = sim
        .ec2(&acct(OWNER), &us())
        .describe_image(&first)
        .await
        .unwrap()
        .source_image_id
        .unwrap();
    let second = reencrypt(
        &sim,
        &acct(OWNER),
        &us(),
        ReencryptRequest::new(plain, key.arn.clone()).name("golden-2"),
    )
    .await
    .unwrap()
    .id;
    for image in [&first, &second] {
        share::share(
            &sim,
            &acct(OWNER),
            &us(),
            &ShareSpec::new(image.clone()).account(acct(CONSUMER)),
        )
        .await
        .unwrap();
    }
    share::revoke(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(first.clone()).account(acct(CONSUMER)),
    )
    .await
    .unwrap();
    let consumer_ec2 = sim.ec2(&acct(CONSUMER), &us());
    assert_eq!(
        consumer_ec2
            .describe_image(&first)
            .await
            .unwrap_err()
            .code(),
        "InvalidAMIID.NotFound"
    );
    consumer_ec2
        .run_instances(RunInstancesRequest::new(second.clone()))
        .await
        .unwrap();
}

/// The AWS managed key: refused up front with AWS's code and the fix, nothing changed;
/// `reencrypt` makes a copy that can be shared.
#[tokio::test(start_paused = true)]
async fn aws_managed_key_is_refused_and_reencrypt_fixes_it() {
    let sim = sim(3, FaultPlan::none());
    let (plain, key) = baked(&sim).await;
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let copy = ec2
        .copy_image(
            CopyImageRequest::new(us(), plain.clone(), "golden-default-key").encrypted(true),
        )
        .await
        .unwrap();
    let img = wait_for_image_available(ec2.as_ref(), &copy, &WaitOptions::default())
        .await
        .unwrap();
    assert!(img.kms_keys().iter().all(|e| e.manager == KeyManager::Aws));

    let log_before = sim.call_log().len();
    let spec = ShareSpec::new(copy.clone())
        .account(acct(CONSUMER))
        .allow_copy(true);
    let err = share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidParameter");
    assert!(err.message().contains("reencrypt"), "{}", err.message());
    let writes = sim.call_log()[log_before..]
        .iter()
        .filter(|c| {
            matches!(
                c.op,
                Op::ModifyImageAttribute | Op::ModifySnapshotAttribute | Op::PutKeyPolicy
            )
        })
        .count();
    assert_eq!(writes, 0, "nothing was changed");
    assert!(ec2
        .describe_launch_permissions(copy.clone())
        .await
        .unwrap()
        .is_empty());

    let fixed = reencrypt(
        &sim,
        &acct(OWNER),
        &us(),
        ReencryptRequest::new(copy.clone(), key.arn.clone()),
    )
    .await
    .unwrap();
    assert_eq!(fixed.name, "golden-default-key-cmk");
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(fixed.id.clone()).account(acct(CONSUMER)),
    )
    .await
    .unwrap();
    sim.ec2(&acct(CONSUMER), &us())
        .run_instances(RunInstancesRequest::new(fixed.id.clone()))
        .await
        .unwrap();

    // An AWS managed key is no target for reencrypt either.
    let err = reencrypt(
        &sim,
        &acct(OWNER),
        &us(),
        ReencryptRequest::new(copy, "alias/aws/ebs".parse().unwrap()).name("nope-aws"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValue");
}

/// Running the same reencrypt again returns the same copy.
#[tokio::test(start_paused = true)]
async fn reencrypt_is_idempotent() {
    let sim = sim(4, FaultPlan::none());
    let (plain, key) = baked(&sim).await;
    let req = ReencryptRequest::new(plain, key.arn.clone()).name("golden-again");
    let a = reencrypt(&sim, &acct(OWNER), &us(), req.clone())
        .await
        .unwrap();
    let b = reencrypt(&sim, &acct(OWNER), &us(), req).await.unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(sim.call_count(Op::CopyImage), 1);
}

/// An OU share admits the OU's accounts, with key access for them alone: the key policy
/// statement is narrowed to the OU's organization paths, so an account elsewhere in the
/// organization that can see the image cannot use its key. Revoking removes the statement.
#[tokio::test(start_paused = true)]
async fn share_with_an_ou_including_key_access() {
    let sim = sim(5, FaultPlan::none());
    let (image, key) = cmk_image(&sim).await;
    let ou = sim.organizational_unit_arn("ou-ab12-appsapps").unwrap();
    let spec = ShareSpec::new(image.clone())
        .ou(ou.clone())
        .allow_copy(true);
    let plan = share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    assert_eq!(
        plan.launch_permissions.add,
        vec![LaunchPermission::OrganizationalUnit(ou.clone())]
    );
    assert!(plan.snapshot_permissions.is_empty());
    assert_eq!(plan.notes.len(), 1, "only the note on copying: {plan}");
    assert!(plan.key_policies[0].add_orgs.is_empty(), "{plan}");
    assert_eq!(plan.key_policies[0].add_ous, [ou.clone()].into());
    let policy = sim
        .kms(&acct(OWNER), &us())
        .get_key_policy(key.arn.clone())
        .await
        .unwrap();
    let statement = policy
        .statements
        .iter()
        .find(|s| s.sid == ou_sid(&image, &ou))
        .expect("the OU statement");
    assert_eq!(statement.principal_org_id.as_deref(), Some("o-abcdefghij"));
    assert_eq!(
        statement.principal_org_paths,
        ["o-abcdefghij/r-ab12/*ou-ab12-appsapps/*".to_owned()].into()
    );

    // The OU's account launches, and its instance runs.
    let member = sim.ec2(&acct(OU_MEMBER), &us());
    let inst = member
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap()
        .remove(0);
    // The organization's management account sits at the root, outside the OU: allowed to
    // launch by hand (no key statement names it), its instance cannot read the volumes.
    sim.ec2(&acct(OWNER), &us())
        .modify_launch_permissions(
            image.clone(),
            PermissionChanges::add([LaunchPermission::Account(acct(MGMT))]),
        )
        .await
        .unwrap();
    let outsider = sim.ec2(&acct(MGMT), &us());
    let stranger = outsider
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_secs(600)).await;
    let inst = member.describe_instance(&inst.id).await.unwrap();
    assert_eq!(inst.state, InstanceState::Running);
    let stranger = outsider.describe_instance(&stranger.id).await.unwrap();
    assert_eq!(stranger.state, InstanceState::Terminated);
    assert_eq!(
        stranger.state_reason.map(|r| r.code).as_deref(),
        Some("Client.InternalError")
    );

    // An account outside the organization sees nothing.
    assert_eq!(
        sim.ec2(&acct(CONSUMER), &us())
            .describe_image(&image)
            .await
            .unwrap_err()
            .code(),
        "InvalidAMIID.NotFound"
    );
    share::revoke(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    let policy = sim
        .kms(&acct(OWNER), &us())
        .get_key_policy(key.arn.clone())
        .await
        .unwrap();
    assert!(policy
        .statements
        .iter()
        .all(|s| s.sid != ou_sid(&image, &ou) && s.sid != org_sid(&image, "o-abcdefghij")));
}

/// Public sharing follows EC2's rules: never for an encrypted image; only with block public
/// access off; then snapshots of an unencrypted image can be public too.
#[tokio::test(start_paused = true)]
async fn public_sharing_follows_the_rules() {
    let sim = sim(6, FaultPlan::none());
    let (image, _key) = cmk_image(&sim).await;
    let err = share::plan(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image).public(true),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "UnsupportedOperation");

    let ec2 = sim.ec2(&acct(OWNER), &us());
    let plain = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .filter(ami_core::api::Filter::new("name", ["golden-plain"])),
        )
        .await
        .unwrap()
        .remove(0)
        .id;
    let spec = ShareSpec::new(plain.clone()).public(true).allow_copy(true);
    // New accounts block public sharing by default (reference §3, block public access).
    assert_eq!(
        ec2.get_image_block_public_access_state().await.unwrap(),
        ami_core::model::BlockPublicAccessState::BlockNewSharing
    );
    let err = share::plan(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "OperationNotPermitted");
    ec2.disable_image_block_public_access().await.unwrap();
    share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    let img = ec2.describe_image(&plain).await.unwrap();
    assert!(img.public);
    let snap = img.snapshot_ids()[0].clone();
    assert_eq!(
        ec2.describe_snapshot_permissions(snap).await.unwrap(),
        vec![CreateVolumePermission::Public]
    );
    // Anyone can see it now.
    sim.ec2(&acct(CONSUMER), &us())
        .describe_image(&plain)
        .await
        .unwrap();
}

/// Sharing an image one does not own is refused with AWS's code.
#[tokio::test(start_paused = true)]
async fn only_the_owner_can_share() {
    let sim = sim(7, FaultPlan::none());
    let (image, _) = cmk_image(&sim).await;
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone()).account(acct(CONSUMER)),
    )
    .await
    .unwrap();
    let err = share::plan(
        &sim,
        &acct(CONSUMER),
        &us(),
        &ShareSpec::new(image).account(acct(OU_MEMBER)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "AuthFailure");
}

/// The share story under faults: the final grants, as text with ids replaced by their order of
/// appearance, and how many calls failed on the way.
async fn share_story(seed: u64, faults: FaultPlan) -> (String, usize, String) {
    let sim = sim(seed, faults);
    let (image, key) = cmk_image(&sim).await;
    let ou = sim.organizational_unit_arn("ou-ab12-appsapps").unwrap();
    let spec = ShareSpec::new(image.clone())
        .account(acct(CONSUMER))
        .ou(ou)
        .allow_copy(true);
    share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    let state = grants(&sim, &image, &key).await;
    let normalized = state
        .replace(image.as_str(), "<image>")
        .replace(key.arn.as_str(), "<key>");
    let owner_ec2 = sim.ec2(&acct(OWNER), &us());
    let snaps = must(|| owner_ec2.describe_image(&image))
        .await
        .snapshot_ids()
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    let normalized = snaps.iter().enumerate().fold(normalized, |s, (i, id)| {
        s.replace(id.as_str(), &format!("<snap{i}>"))
    });
    let failed = sim.call_log().iter().filter(|c| c.outcome.is_err()).count();
    (normalized, failed, sim.call_log_text())
}

/// With 20 % throttling and 5 % internal errors on every call, the share succeeds and the
/// grants equal those of the fault-free run with the same seed.
#[tokio::test(start_paused = true)]
async fn faults_do_not_change_the_outcome() {
    let (clean, clean_failures, _) = share_story(8, FaultPlan::none()).await;
    let (faulty, failures, _) =
        share_story(8, FaultPlan::none().throttle(0.2).internal_errors(0.05)).await;
    assert_eq!(clean_failures, 0);
    assert!(failures >= 5, "only {failures} calls failed");
    assert_eq!(faulty, clean);
    assert!(clean.contains(CONSUMER), "{clean}");
}

/// A pending image cannot be shared yet: refused with AWS's code before any change.
#[tokio::test(start_paused = true)]
async fn a_pending_image_is_refused_until_available() {
    let sim = sim(9, FaultPlan::none());
    let (plain, key) = baked(&sim).await;
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let copy = ec2
        .copy_image(
            CopyImageRequest::new(us(), plain, "golden-pending").encrypt_with(key.arn.clone()),
        )
        .await
        .unwrap();
    let spec = ShareSpec::new(copy.clone()).account(acct(CONSUMER));
    let err = share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIID.Unavailable");
    assert_eq!(sim.call_count(Op::PutKeyPolicy), 0);
    assert_eq!(sim.call_count(Op::ModifyImageAttribute), 0);
    wait_for_image_available(ec2.as_ref(), &copy, &WaitOptions::default())
        .await
        .unwrap();
    share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
}

/// The same seed and the same faults give the same calls, byte for byte: the workflows add no
/// randomness or ordering of their own (backoff jitter is seeded, maps are ordered).
#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_call_log() {
    let faults = || FaultPlan::none().throttle(0.2).internal_errors(0.05);
    let (_, _, first) = share_story(11, faults()).await;
    let (_, _, second) = share_story(11, faults()).await;
    assert_eq!(first, second);
    assert!(first.contains("PutKeyPolicy ok"), "{first}");
}

/// `share::dry_run_apply` checks every call of a plan by AWS itself and changes nothing: the
/// plan is the same afterwards; a plan gone stale (the image disabled since) is reported with
/// the real call's code.
#[tokio::test(start_paused = true)]
async fn a_share_plan_is_checked_by_dry_runs_without_changing_anything() {
    use ami_core::ops::dry_run::DryRunOutcome;
    let sim = sim(61, FaultPlan::none());
    let (image, key) = cmk_image(&sim).await;
    let spec = ShareSpec::new(image.clone())
        .account(acct(CONSUMER))
        .allow_copy(true);
    let plan = share::plan(&sim, &acct(OWNER), &us(), &spec).await.unwrap();
    let report = share::dry_run_apply(&sim, &plan).await.unwrap();
    assert!(report.would_succeed(), "{report}");
    let actions: Vec<&str> = report.checks.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            "ModifyImageAttribute",
            "ModifySnapshotAttribute",
            "PutKeyPolicy"
        ]
    );
    assert_eq!(report.checks[0].outcome, DryRunOutcome::WouldSucceed);
    assert!(matches!(
        report.checks[2].outcome,
        DryRunOutcome::ReadOnly(_)
    ));
    assert_eq!(report.checks[2].target, key.arn.as_str());
    // Nothing changed: planning again gives the same plan.
    assert_eq!(
        share::plan(&sim, &acct(OWNER), &us(), &spec).await.unwrap(),
        plan
    );

    // The image is disabled after planning: the dry run says what the apply would hit.
    sim.ec2(&acct(OWNER), &us())
        .disable_image(image.clone())
        .await
        .unwrap();
    let report = share::dry_run_apply(&sim, &plan).await.unwrap();
    assert!(!report.would_succeed());
    let first = report.failures().next().unwrap();
    assert_eq!(first.action, "ModifyImageAttribute");
    match &first.outcome {
        DryRunOutcome::WouldFail(e) => assert_eq!(e.code(), "InvalidAMIID.Unavailable"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        report.into_result().unwrap_err().code(),
        "InvalidAMIID.Unavailable"
    );
}
