//! `ops::distribute` on the simulator: 3 Regions, an owner and 2 receiving accounts, a customer
//! managed key per account and Region; pre-flight refusals; failure policies; faults; rollback.

use std::collections::BTreeMap;
use std::time::Duration;

use ami_core::api::{
    DescribeImagesRequest, DescribeSnapshotsRequest, ExecutableBy, Owner, RunInstancesRequest,
};
use ami_core::ops::distribute::{
    self, AccountCopies, DistributeOptions, DistributionSpec, FailurePolicy, Protection, RUN_TAG,
};
use ami_core::ops::journal::{FileJournal, JournalEntry, JournalStore, MemoryJournal};
use ami_core::{
    DeregistrationProtection, Ec2Ext, ImageId, ImageState, KeyManager, KmsKeyRef, LaunchPermission,
    Result, Timestamp, VirtualClock,
};
use ami_sim::{FaultPlan, Op, Sim};

mod common;
use common::{acct, golden_image, golden_keys, must, region};

const OWNER: &str = "111111111111";
const A1: &str = "222222222222";
const A2: &str = "333333333333";
const CONSUMER: &str = "444444444444";
const ORG: &str = "o-abcdefghij";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// A simulator with a golden image in us-east-1 of OWNER, encrypted with OWNER's customer key
/// `alias/golden`, and a key `alias/golden` for every account and Region.
async fn fixture(seed: u64, faults: FaultPlan) -> (Sim, ImageId) {
    let sim = Sim::builder()
        .seed(seed)
        .regions(REGIONS)
        .account(OWNER)
        .account(A1)
        .account(A2)
        .account(CONSUMER)
        .faults(faults)
        .build()
        .unwrap();
    golden(sim).await
}

/// The same world, with OWNER managing organization `ORG` and CONSUMER a member of it.
async fn fixture_with_org(seed: u64) -> (Sim, ImageId) {
    let sim = Sim::builder()
        .seed(seed)
        .regions(REGIONS)
        .organization(ORG, OWNER)
        .account_in_org(CONSUMER)
        .account(A1)
        .account(A2)
        .build()
        .unwrap();
    golden(sim).await
}

async fn golden(sim: Sim) -> (Sim, ImageId) {
    golden_keys(&sim, &[OWNER, A1, A2, CONSUMER], &REGIONS).await;
    let golden = golden_image(&sim, &acct(OWNER), &region("us-east-1")).await;
    (sim, golden)
}

fn spec(source: &ImageId) -> DistributionSpec {
    let mut s = DistributionSpec::new(acct(OWNER), region("us-east-1"), source.clone())
        .regions(REGIONS.map(region))
        .launch_permission(LaunchPermission::Account(acct(CONSUMER)))
        .tag("Team", "platform")
        .name_template("{source_name}-dist")
        .deprecate_at(VirtualClock::DEFAULT_EPOCH.add(Duration::from_secs(365 * 86_400)))
        .protect(Protection::WithoutCooldown)
        .run_id("golden-run-1");
    for r in REGIONS {
        s = s.kms_key(region(r), "alias/golden".parse().unwrap());
    }
    for a in [A1, A2] {
        let mut c = AccountCopies::new(acct(a));
        for r in REGIONS {
            c = c.kms_key(region(r), "alias/golden".parse().unwrap());
        }
        s = s.account_copies(c);
    }
    s
}

/// Every owned image and snapshot of every account and Region, with ids, key ids and times
/// replaced by what they mean, so runs with different ids can be compared.
async fn canonical_state(sim: &Sim) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for a in [OWNER, A1, A2, CONSUMER] {
        for r in REGIONS {
            let (account, reg) = (acct(a), region(r));
            let ec2 = sim.ec2(&account, &reg);
            let kms = sim.kms(&account, &reg);
            let golden = must(|| kms.describe_key("alias/golden".parse().unwrap()))
                .await
                .arn;
            let req = DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .include_disabled(true)
                .include_deprecated(true)
                .max_results(5);
            let mut lines = Vec::new();
            for img in must(|| ec2.describe_all_images(req.clone())).await {
                if img.state == ImageState::Deregistered {
                    continue;
                }
                let keys: Vec<String> = img
                    .kms_keys()
                    .iter()
                    .map(|e| match (&e.manager, e.key == golden) {
                        (_, true) => "golden".to_string(),
                        (KeyManager::Aws, _) => "aws".into(),
                        _ => "other-customer-key".into(),
                    })
                    .collect();
                let perms = must(|| ec2.describe_launch_permissions(img.id.clone())).await;
                lines.push(format!(
                    "image {} {} keys={keys:?} tags={:?} deprecation={:?} protection={} perms={perms:?} snapshots={}",
                    img.name,
                    img.state,
                    img.tags,
                    img.deprecation_time.map(|t| t.to_string()),
                    img.deregistration_protection.to_wire(),
                    img.snapshot_ids().len()
                ));
            }
            let mut snaps = DescribeSnapshotsRequest::owned();
            snaps.max_results = Some(5);
            for s in must(|| ec2.describe_all_snapshots(snaps.clone())).await {
                lines.push(format!("snapshot tags={:?}", s.tags));
            }
            lines.sort();
            out.insert(format!("{r}/{a}"), lines);
        }
    }
    out
}

/// The story: 3 Regions, the owner and 2 accounts that own their copies, a customer key per
/// account and Region, a consumer with launch permission, tags, deprecation, protection.
#[tokio::test(start_paused = true)]
async fn distributes_to_three_regions_and_two_accounts_with_customer_keys() {
    let (sim, source) = fixture(1, FaultPlan::none()).await;
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    assert_eq!(plan.copies.len(), 9);
    let text = plan.to_string();
    assert!(
        text.contains("share the source with 222222222222, 333333333333"),
        "{text}"
    );
    assert!(text.contains("ap-southeast-2/333333333333"), "{text}");
    let calls_before = sim.call_log().len();

    let journal = MemoryJournal::new();
    let manifest = distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(manifest.images.len(), 9);
    assert!(manifest.skipped.is_empty());

    for r in REGIONS.map(region) {
        for a in [OWNER, A1, A2].map(acct) {
            let id = manifest.image(&r, &a).unwrap();
            let ec2 = sim.ec2(&a, &r);
            let img = ec2.describe_image(id).await.unwrap();
            assert_eq!(img.owner, a, "{r}/{a} owns its copy");
            assert_eq!(img.state, ImageState::Available);
            assert_eq!(img.name, "golden-1-dist");
            assert_eq!(img.tags["Team"], "platform");
            assert_eq!(img.tags[RUN_TAG], "golden-run-1");
            let golden = sim
                .kms(&a, &r)
                .describe_key("alias/golden".parse().unwrap())
                .await
                .unwrap();
            for e in img.kms_keys() {
                assert_eq!(
                    e.key, golden.arn,
                    "{r}/{a} encrypted with its own regional key"
                );
                assert_eq!(e.manager, KeyManager::Customer);
            }
            assert!(img.deprecation_time.is_some());
            assert_eq!(
                img.deregistration_protection,
                DeregistrationProtection::Enabled
            );
            let perms = ec2.describe_launch_permissions(id.clone()).await.unwrap();
            if a == acct(OWNER) {
                assert_eq!(perms, vec![LaunchPermission::Account(acct(CONSUMER))]);
                // The consumer sees the owner's copy in every Region.
                let seen = sim
                    .ec2(&acct(CONSUMER), &r)
                    .describe_all_images(
                        DescribeImagesRequest::new().executable_by(ExecutableBy::SelfAccount),
                    )
                    .await
                    .unwrap();
                assert!(seen.iter().any(|i| &i.id == id), "{r}: consumer sees {id}");
                // ... and can launch it: the key policy admits it.
                let cec2 = sim.ec2(&acct(CONSUMER), &r);
                let inst = cec2
                    .run_instances(RunInstancesRequest::new(id.clone()))
                    .await
                    .unwrap()
                    .remove(0);
                tokio::time::sleep(Duration::from_secs(120)).await;
                let inst = cec2.describe_instance(&inst.id).await.unwrap();
                assert_eq!(
                    inst.state,
                    ami_core::InstanceState::Running,
                    "{r}: {inst:?}"
                );
            } else {
                assert!(perms.is_empty());
            }
        }
    }
    // The source is shared with the two receiving accounts (launch + snapshot permission).
    let src_ec2 = sim.ec2(&acct(OWNER), &region("us-east-1"));
    let perms = src_ec2
        .describe_launch_permissions(source.clone())
        .await
        .unwrap();
    assert_eq!(
        perms,
        vec![
            LaunchPermission::Account(acct(A1)),
            LaunchPermission::Account(acct(A2))
        ]
    );

    // Exactly one CopyImage per destination, and no retries on a fault-free run.
    let copies = sim.call_log()[calls_before..]
        .iter()
        .filter(|c| c.op == Op::CopyImage)
        .count();
    assert_eq!(copies, 9);

    // A completed journal returns its manifest without a single call.
    let n = sim.call_log().len();
    let again = distribute::resume(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(again, manifest);
    assert_eq!(sim.call_log().len(), n);
    let json = manifest.to_json().unwrap();
    let back: distribute::Manifest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, manifest);
}

/// A name already used in one target Region refuses the whole plan before any copy.
#[tokio::test(start_paused = true)]
async fn preflight_refuses_a_name_in_use_and_changes_nothing() {
    let (sim, source) = fixture(2, FaultPlan::none()).await;
    let spec = spec(&source).name_template("{source_name}");
    let n = sim.call_log().len();
    let err = distribute::plan(&sim, &spec).await.unwrap_err();
    assert_eq!(err.code(), "InvalidAMIName.Duplicate");
    assert!(err.message().contains("us-east-1/111111111111"), "{err}");
    assert!(err.message().contains("golden-1"), "{err}");
    assert!(sim.call_log()[n..].iter().all(|c| !matches!(
        c.op,
        Op::CopyImage | Op::ModifyImageAttribute | Op::CreateGrant
    )));
}

/// A key that lives in another Region, or an unknown key, is refused with the Region named.
#[tokio::test(start_paused = true)]
async fn preflight_refuses_wrong_region_and_unknown_keys() {
    let (sim, source) = fixture(3, FaultPlan::none()).await;
    let us_key = sim
        .kms(&acct(OWNER), &region("us-east-1"))
        .describe_key("alias/golden".parse().unwrap())
        .await
        .unwrap()
        .arn;
    let err = distribute::plan(&sim, &spec(&source).kms_key(region("eu-west-1"), us_key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValue");
    assert!(err.message().contains("eu-west-1/111111111111"), "{err}");

    let missing: KmsKeyRef = "alias/nope".parse().unwrap();
    let err = distribute::plan(
        &sim,
        &spec(&source).kms_key(region("ap-southeast-2"), missing),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    assert!(
        err.message().contains("ap-southeast-2/111111111111"),
        "{err}"
    );

    let err = distribute::plan(
        &sim,
        &spec(&source).kms_key(region("eu-west-1"), KmsKeyRef::aws_ebs_alias()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "InvalidParameter");
}

/// With 20 % throttling and 5 % internal errors the run still completes, and the final state
/// equals the fault-free run with the same seed.
#[tokio::test(start_paused = true)]
async fn faults_do_not_change_the_outcome() {
    let mut states = Vec::new();
    for faults in [
        FaultPlan::none(),
        FaultPlan::none().throttle(0.2).internal_errors(0.05),
    ] {
        let (sim, source) = fixture(4, faults).await;
        let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
        let journal = MemoryJournal::new();
        let manifest = distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
            .await
            .unwrap();
        assert_eq!(manifest.images.len(), 9);
        let failed = sim.call_log().iter().filter(|c| c.outcome.is_err()).count();
        states.push((canonical_state(&sim).await, failed));
    }
    assert_eq!(states[0].1, 0);
    assert!(states[1].1 > 10, "faults were injected: {}", states[1].1);
    assert_eq!(states[0].0, states[1].0);
}

/// A Region that keeps failing is skipped by policy; the others complete.
#[tokio::test(start_paused = true)]
async fn a_failing_region_is_skipped_and_the_others_complete() {
    let (sim, source) = fixture(5, FaultPlan::none()).await;
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    let now = sim.now();
    let bad = region("ap-southeast-2");
    sim.region_outage(&bad, now, now.add(Duration::from_secs(86_400)));
    let journal = MemoryJournal::new();
    let options = DistributeOptions::default()
        .failure_policy(FailurePolicy::SkipRegion { after_attempts: 3 });
    let manifest = distribute::apply(&sim, &plan, &journal, &options)
        .await
        .unwrap();
    assert_eq!(manifest.images.len(), 6);
    assert_eq!(manifest.skipped.len(), 3);
    for s in &manifest.skipped {
        assert_eq!(s.destination.region, bad);
        assert!(s.reason.contains("ServiceUnavailable"), "{}", s.reason);
        assert!(
            s.reason
                .starts_with("Region ap-southeast-2 given up: ap-southeast-2/"),
            "{}",
            s.reason
        );
    }
    assert!(journal
        .entries()
        .unwrap()
        .iter()
        .any(|e| matches!(e, JournalEntry::RegionSkipped { region, .. } if region == &bad)));
    // Nothing was left in the skipped Region once it is back.
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    for a in [OWNER, A1, A2].map(acct) {
        let imgs = sim
            .ec2(&a, &bad)
            .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
            .await
            .unwrap();
        assert!(imgs.is_empty(), "{bad}/{a}: {imgs:?}");
    }
}

/// Under the default policy the first failing destination ends the run with its AWS code and
/// the destination named; a rollback then leaves nothing behind.
#[tokio::test(start_paused = true)]
async fn abort_reports_the_destination_and_rollback_cleans_up() {
    let (sim, source) = fixture(6, FaultPlan::none()).await;
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    let before = canonical_state(&sim).await;
    let now = sim.now();
    sim.region_outage(
        &region("eu-west-1"),
        now.add(Duration::from_secs(60)),
        now.add(Duration::from_secs(86_400)),
    );
    let journal = MemoryJournal::new();
    let err = distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ServiceUnavailable");
    assert!(err.message().contains("eu-west-1/"), "{err}");
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    let report = distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.images.len(), 9, "{report}");
    assert_eq!(report.source_access_revoked, vec![acct(A1), acct(A2)]);
    assert_eq!(canonical_state(&sim).await, before);
    // Resuming a rolled-back run is refused.
    let err = distribute::resume(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Workflow");
}

/// Rolling back a completed, protected run lifts the protection it set and removes every copy
/// and snapshot; the source's sharing is back to what it was.
#[tokio::test(start_paused = true)]
async fn rollback_of_a_completed_run_restores_the_start() {
    let (sim, source) = fixture(7, FaultPlan::none()).await;
    let before = canonical_state(&sim).await;
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    let journal = MemoryJournal::new();
    distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_ne!(canonical_state(&sim).await, before);
    let report = distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.images.len(), 9);
    assert_eq!(canonical_state(&sim).await, before);
    // No key policy keeps a statement the run added.
    for a in [OWNER, A1, A2] {
        for r in REGIONS {
            let policy = sim
                .kms(&acct(a), &region(r))
                .get_key_policy("alias/golden".parse().unwrap())
                .await
                .unwrap();
            assert!(
                policy
                    .statements
                    .iter()
                    .all(|s| !s.sid.starts_with("ami-share:")),
                "{r}/{a}: {policy:?}"
            );
        }
    }
    let _: Timestamp = sim.now();
}

/// A journal that refuses every append after the first `budget`: the process died there.
#[derive(Debug)]
struct Dying<'a> {
    inner: &'a FileJournal,
    budget: usize,
    used: std::sync::atomic::AtomicUsize,
}

impl JournalStore for Dying<'_> {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        if self.used.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= self.budget {
            return Err(ami_core::Error::Journal {
                message: "crashed".into(),
            });
        }
        self.inner.append(entry)
    }
    fn entries(&self) -> Result<Vec<JournalEntry>> {
        self.inner.entries()
    }
}

/// A run journaled to a file, killed mid-way with its last line torn, resumes from the
/// reopened file: every destination ends with exactly one copy.
#[tokio::test(start_paused = true)]
async fn a_file_journal_survives_a_torn_write_and_resumes() {
    use std::io::Write;
    let (sim, source) = fixture(8, FaultPlan::none()).await;
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    let path = std::env::temp_dir().join(format!("ami-distribute-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    {
        let file = FileJournal::open(&path).unwrap();
        let dying = Dying {
            inner: &file,
            budget: 14,
            used: 0.into(),
        };
        let err = distribute::apply(&sim, &plan, &dying, &DistributeOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "Journal");
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(br#"{"step":"copy_sta"#).unwrap();
    drop(f);
    let file = FileJournal::open(&path).unwrap();
    assert_eq!(file.entries().unwrap().len(), 14);
    let manifest = distribute::resume(&sim, &file, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(manifest.images.len(), 9);
    for r in REGIONS.map(region) {
        for a in [OWNER, A1, A2].map(acct) {
            let copies: Vec<_> = sim
                .ec2(&a, &r)
                .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
                .await
                .unwrap()
                .into_iter()
                .filter(|i| i.name == "golden-1-dist")
                .collect();
            assert_eq!(copies.len(), 1, "{r}/{a}: {copies:?}");
            assert_eq!(Some(&copies[0].id), manifest.image(&r, &a));
        }
    }
    std::fs::remove_file(&path).unwrap();
}

/// A copy protected with a cooldown cannot be deregistered for 24 hours after the rollback
/// lifts its protection: the rollback says so and removes everything else; run again after the
/// cooldown, it finishes, and the start is restored.
#[tokio::test(start_paused = true)]
async fn rollback_waits_out_a_protection_cooldown() {
    let (sim, source) = fixture(9, FaultPlan::none()).await;
    let before = canonical_state(&sim).await;
    let plan = distribute::plan(&sim, &spec(&source).protect(Protection::WithCooldown))
        .await
        .unwrap();
    let journal = MemoryJournal::new();
    distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    let err = distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Workflow");
    assert!(err.message().contains("run it again"), "{err}");
    tokio::time::sleep(Duration::from_secs(86_400 + 60)).await;
    let report = distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.images.len(), 9, "{report}");
    assert_eq!(canonical_state(&sim).await, before);
}

/// Shared with an organization, each owner copy gets an organization statement in its key's
/// policy (through ops::share), so a member account can launch it; rollback removes the
/// statements with the copies.
#[tokio::test(start_paused = true)]
async fn an_organization_member_can_launch_the_encrypted_copies() {
    let (sim, source) = fixture_with_org(10).await;
    let before = canonical_state(&sim).await;
    let org = ami_core::OrganizationArn::new(&acct(OWNER), ORG).unwrap();
    let mut s = spec(&source);
    s.launch_permissions = vec![LaunchPermission::Organization(org)];
    let plan = distribute::plan(&sim, &s).await.unwrap();
    let journal = MemoryJournal::new();
    let manifest = distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    for r in REGIONS.map(region) {
        let id = manifest.image(&r, &acct(OWNER)).unwrap();
        let cec2 = sim.ec2(&acct(CONSUMER), &r);
        let inst = cec2
            .run_instances(RunInstancesRequest::new(id.clone()))
            .await
            .unwrap()
            .remove(0);
        tokio::time::sleep(Duration::from_secs(120)).await;
        let inst = cec2.describe_instance(&inst.id).await.unwrap();
        assert_eq!(
            inst.state,
            ami_core::InstanceState::Running,
            "{r}: {inst:?}"
        );
        cec2.terminate_instances(vec![inst.id]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(canonical_state(&sim).await, before);
    for r in REGIONS.map(region) {
        let policy = sim
            .kms(&acct(OWNER), &r)
            .get_key_policy("alias/golden".parse().unwrap())
            .await
            .unwrap();
        assert!(
            policy
                .statements
                .iter()
                .all(|s| !s.sid.starts_with("ami-share:")),
            "{r}: {policy:?}"
        );
    }
}

/// Rollback removes only what the run added: access to the source that an account had before
/// the run (launch and snapshot permission) stays.
#[tokio::test(start_paused = true)]
async fn rollback_keeps_sharing_that_existed_before() {
    use ami_core::api::PermissionChanges;
    use ami_core::CreateVolumePermission;
    let (sim, source) = fixture(12, FaultPlan::none()).await;
    let ec2 = sim.ec2(&acct(OWNER), &region("us-east-1"));
    ec2.modify_launch_permissions(
        source.clone(),
        PermissionChanges::add([LaunchPermission::Account(acct(A1))]),
    )
    .await
    .unwrap();
    let snap = ec2.describe_image(&source).await.unwrap().snapshot_ids()[0].clone();
    ec2.modify_snapshot_permissions(
        snap.clone(),
        PermissionChanges::add([CreateVolumePermission::Account(acct(A1))]),
    )
    .await
    .unwrap();
    let plan = distribute::plan(&sim, &spec(&source)).await.unwrap();
    let journal = MemoryJournal::new();
    distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    let report = distribute::rollback(&sim, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.source_access_revoked, vec![acct(A2)]);
    assert_eq!(
        ec2.describe_launch_permissions(source.clone())
            .await
            .unwrap(),
        vec![LaunchPermission::Account(acct(A1))]
    );
    assert_eq!(
        ec2.describe_snapshot_permissions(snap).await.unwrap(),
        vec![CreateVolumePermission::Account(acct(A1))]
    );
}

/// A Region the connector cannot reach is refused at planning, naming it.
#[tokio::test(start_paused = true)]
async fn preflight_refuses_an_unknown_region() {
    let (sim, source) = fixture(13, FaultPlan::none()).await;
    let err = distribute::plan(&sim, &spec(&source).region(region("eu-south-2")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidRegion");
    assert!(err.message().contains("eu-south-2/111111111111"), "{err}");
}

/// `distribute::dry_run_apply` sends the source share and every CopyImage the owner makes as
/// dry runs: all would succeed and nothing is created; copies by other accounts wait for the
/// share and say so. Once the source is deregistered, every copy check fails with the real
/// CopyImage's code.
#[tokio::test(start_paused = true)]
async fn a_distribution_plan_is_checked_by_dry_runs_without_changing_anything() {
    use ami_core::ops::dry_run::DryRunOutcome;
    let (sim, golden) = fixture(71, FaultPlan::none()).await;
    let plan = distribute::plan(&sim, &spec(&golden)).await.unwrap();
    let images_before = sim.inspect_images().len();
    let copies_before = sim.call_count(Op::CopyImage);
    let report = distribute::dry_run_apply(&sim, &plan).await.unwrap();
    assert!(report.would_succeed(), "{report}");
    assert_eq!(sim.inspect_images().len(), images_before);
    assert_eq!(sim.call_count(Op::CopyImage), copies_before + 3);
    let own: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.action == "CopyImage" && c.account == acct(OWNER))
        .collect();
    assert_eq!(own.len(), 3);
    assert!(own.iter().all(|c| c.outcome == DryRunOutcome::WouldSucceed));
    let others = report
        .checks
        .iter()
        .filter(|c| c.action == "CopyImage" && c.account != acct(OWNER))
        .count();
    assert_eq!(others, 6);
    assert!(report
        .checks
        .iter()
        .filter(|c| c.action == "CopyImage" && c.account != acct(OWNER))
        .all(|c| matches!(c.outcome, DryRunOutcome::ReadOnly(_))));
    assert_eq!(report.checks[0].action, "ModifyImageAttribute");
    assert_eq!(report.checks[0].outcome, DryRunOutcome::WouldSucceed);

    sim.ec2(&acct(OWNER), &region("us-east-1"))
        .deregister_image(ami_core::api::DeregisterImageRequest::new(golden.clone()))
        .await
        .unwrap();
    let report = distribute::dry_run_apply(&sim, &plan).await.unwrap();
    let codes: Vec<String> = report
        .failures()
        .filter(|c| c.action == "CopyImage")
        .map(|c| match &c.outcome {
            DryRunOutcome::WouldFail(e) => e.code().to_owned(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(codes.len(), 3, "{report}");
    assert!(
        codes.iter().all(|c| c == "InvalidAMIID.NotFound"),
        "{codes:?}"
    );
}
