//! Crash consistency of `ops::distribute`: the run is stopped at every journal write (the
//! process "dies" when the journal refuses an entry, before the side effect that entry
//! announces), then resumed or rolled back from what the journal holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, DescribeSnapshotsRequest, Owner};
use ami_core::ops::distribute::{
    self, AccountCopies, DistributeOptions, DistributionPlan, DistributionSpec, Protection,
};
use ami_core::ops::journal::{JournalEntry, JournalStore, MemoryJournal};
use ami_core::{Ec2Ext, Error, ImageState, LaunchPermission, Result, VirtualClock};
use ami_sim::{FaultPlan, Sim};
use proptest::prelude::*;

mod common;
use common::{acct, golden_image, golden_keys, must, region};

const OWNER: &str = "111111111111";
const A1: &str = "222222222222";
const CONSUMER: &str = "444444444444";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// A journal that accepts `budget` entries and then refuses every append: the process died.
#[derive(Debug)]
struct DyingJournal {
    inner: Arc<MemoryJournal>,
    budget: usize,
    used: AtomicUsize,
}

impl JournalStore for DyingJournal {
    fn append(&self, entry: &JournalEntry) -> Result<()> {
        if self.used.fetch_add(1, Ordering::SeqCst) >= self.budget {
            return Err(Error::Journal {
                message: "crashed".into(),
            });
        }
        self.inner.append(entry)
    }
    fn entries(&self) -> Result<Vec<JournalEntry>> {
        self.inner.entries()
    }
}

/// The golden image of OWNER in us-east-1 (customer key), keys everywhere, and the plan:
/// owner + 1 receiving account in 2 Regions, shared with a consumer, deprecated, protected.
async fn fixture(seed: u64, faults: FaultPlan) -> (Sim, DistributionPlan) {
    let sim = Sim::builder()
        .seed(seed)
        .regions(REGIONS)
        .account(OWNER)
        .account(A1)
        .account(CONSUMER)
        .faults(faults)
        .build()
        .unwrap();
    golden_keys(&sim, &[OWNER, A1], &REGIONS).await;
    let (owner, home) = (acct(OWNER), region("us-east-1"));
    let golden = golden_image(&sim, &owner, &home).await;

    let mut spec = DistributionSpec::new(owner, home, golden)
        .regions(REGIONS.map(region))
        .launch_permission(LaunchPermission::Account(acct(CONSUMER)))
        .tag("Team", "platform")
        .name_template("{source_name}-dist")
        .deprecate_at(VirtualClock::DEFAULT_EPOCH.add(Duration::from_secs(365 * 86_400)))
        .protect(Protection::WithoutCooldown)
        .run_id("crash-run");
    let mut copies = AccountCopies::new(acct(A1));
    for r in REGIONS {
        spec = spec.kms_key(region(r), "alias/golden".parse().unwrap());
        copies = copies.kms_key(region(r), "alias/golden".parse().unwrap());
    }
    spec = spec.account_copies(copies);
    let plan = distribute::plan(&sim, &spec).await.unwrap();
    (sim, plan)
}

/// Every owned image (name, state, tags, deprecation, protection, launch permissions) and
/// snapshot (tags) of every account and Region, read with small pages; plus the source's
/// sharing and the grants on the source key.
async fn state(sim: &Sim, plan: &DistributionPlan) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for a in [OWNER, A1, CONSUMER] {
        for r in REGIONS {
            let ec2 = sim.ec2(&acct(a), &region(r));
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
                let perms = must(|| ec2.describe_launch_permissions(img.id.clone())).await;
                lines.push(format!(
                    "image {} {} tags={:?} deprecation={:?} protection={} perms={perms:?} snapshots={}",
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
                lines.push(format!("snapshot {} tags={:?}", s.state_name(), s.tags));
            }
            lines.sort();
            out.insert(format!("{r}/{a}"), lines);
        }
    }
    let src = &plan.source;
    let ec2 = sim.ec2(&src.account, &src.region);
    let mut shared = vec![format!(
        "launch {:?}",
        must(|| ec2.describe_launch_permissions(src.image_id.clone())).await
    )];
    for s in &plan.source_snapshots {
        shared.push(format!(
            "snapshot {:?}",
            must(|| ec2.describe_snapshot_permissions(s.clone())).await
        ));
    }
    out.insert("source".into(), shared);
    for a in [OWNER, A1] {
        for r in REGIONS {
            let kms = sim.kms(&acct(a), &region(r));
            let policy = must(|| kms.get_key_policy("alias/golden".parse().unwrap())).await;
            let mut statements: Vec<String> = policy
                .statements
                .iter()
                .map(|s| {
                    let sid = match s.sid.split(':').collect::<Vec<_>>().as_slice() {
                        ["ami-share", _image, rest @ ..] => {
                            format!("ami-share:<image>:{}", rest.join(":"))
                        }
                        _ => s.sid.clone(),
                    };
                    format!("{sid} {:?}", s.principals)
                })
                .collect();
            statements.sort();
            out.insert(format!("key {r}/{a}"), statements);
        }
    }
    out
}

trait StateName {
    fn state_name(&self) -> String;
}
impl StateName for ami_core::Snapshot {
    fn state_name(&self) -> String {
        format!("{:?}", self.state)
    }
}

async fn crash_at(seed: u64, budget: usize) -> (Sim, DistributionPlan, Arc<MemoryJournal>) {
    let (sim, plan) = fixture(seed, FaultPlan::none()).await;
    let inner = Arc::new(MemoryJournal::new());
    let dying = DyingJournal {
        inner: inner.clone(),
        budget,
        used: AtomicUsize::new(0),
    };
    let err = distribute::apply(&sim, &plan, &dying, &DistributeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Journal", "crash after {budget} entries: {err}");
    (sim, plan, inner)
}

/// Stopping the run after any number of journal entries and resuming it gives exactly the
/// state of an uninterrupted run (no duplicate copy, nothing missing); rolling it back instead
/// gives exactly the state before the run (no image or snapshot it created remains, and the
/// source's sharing is as it was).
#[tokio::test(start_paused = true)]
async fn every_crash_point_resumes_or_rolls_back_cleanly() {
    let seed = 11;
    let (sim, plan) = fixture(seed, FaultPlan::none()).await;
    let before = state(&sim, &plan).await;
    let journal = MemoryJournal::new();
    let reference = distribute::apply(&sim, &plan, &journal, &DistributeOptions::default())
        .await
        .unwrap();
    let after = state(&sim, &plan).await;
    let total = journal.len();
    assert!(total > 20, "{total} entries");

    for budget in 0..total {
        // Resume.
        let (sim, plan2, inner) = crash_at(seed, budget).await;
        assert_eq!(plan2, plan);
        // A crash before the first entry left nothing to resume from: apply the plan again.
        let manifest = if inner.is_empty() {
            distribute::apply(&sim, &plan, inner.as_ref(), &DistributeOptions::default()).await
        } else {
            distribute::resume(&sim, inner.as_ref(), &DistributeOptions::default()).await
        }
        .unwrap();
        assert_eq!(
            manifest.images.len(),
            reference.images.len(),
            "budget {budget}"
        );
        assert_eq!(
            state(&sim, &plan).await,
            after,
            "resume after {budget} entries"
        );

        // Roll back.
        let (sim, _, inner) = crash_at(seed, budget).await;
        distribute::rollback(&sim, inner.as_ref(), &DistributeOptions::default())
            .await
            .unwrap();
        assert_eq!(
            state(&sim, &plan).await,
            before,
            "rollback after {budget} entries"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    /// For any seed and any crash point, under 10 % throttling, a crash then a resume ends in
    /// the same images (names, tags, permissions, protection) as an uninterrupted run.
    #[test]
    fn crash_then_resume_converges_under_faults(seed in 0u64..1000, cut in 0usize..40) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let faults = || FaultPlan::none().throttle(0.1);
            let (sim, plan) = fixture(seed, faults()).await;
            let journal = MemoryJournal::new();
            distribute::apply(&sim, &plan, &journal, &DistributeOptions::default()).await.unwrap();
            let want = state(&sim, &plan).await;
            let budget = cut % journal.len();

            let (sim, plan) = fixture(seed, faults()).await;
            let inner = Arc::new(MemoryJournal::new());
            let dying = DyingJournal { inner: inner.clone(), budget, used: AtomicUsize::new(0) };
            let err = distribute::apply(&sim, &plan, &dying, &DistributeOptions::default()).await.unwrap_err();
            assert_eq!(err.code(), "Journal", "seed {seed}");
            if inner.is_empty() {
                distribute::apply(&sim, &plan, inner.as_ref(), &DistributeOptions::default()).await.unwrap();
            } else {
                distribute::resume(&sim, inner.as_ref(), &DistributeOptions::default()).await.unwrap();
            }
            assert_eq!(state(&sim, &plan).await, want, "seed {seed}, crash after {budget} entries");
        });
    }
}
