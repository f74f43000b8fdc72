//! A distribution survives the process dying half-way: resume it, or roll it back.
//!
//! `distribute::apply` writes every step to a journal before and after making it. Here the
//! process "dies" a few minutes into a run (its future is dropped while copies are pending);
//! `distribute::resume` then finishes the run from the journal file alone, and every copy is
//! made exactly once (CopyImage carries a client token derived from the run and the
//! destination). A second run dies the same way and is rolled back instead: every image and
//! snapshot it made is removed, pending copies included, and nothing else is touched.
//!
//! ```text
//! cargo run -p ami-examples --bin resume
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, Filter, Owner};
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::distribute::{self, DistributeOptions, DistributionSpec, RUN_TAG};
use ami_core::ops::journal::{FileJournal, JournalStore};
use ami_core::{Ec2Ext, Error, ImageId, Result};
use ami_examples::{main_with, retry, Cast, World};

fn main() -> ExitCode {
    main_with(
        "a distribution interrupted half-way, resumed from its journal, or rolled back",
        Cast::new(
            &[("owner", "111111111111")],
            &["us-east-1", "eu-west-1", "ap-southeast-2"],
        ),
        story,
    )
}

async fn story(w: World) -> Result<()> {
    let tl = &w.timeline;
    let owner = w.cast.account(0).clone();
    let home = w.cast.region(0).clone();
    let ec2 = w.ec2(&owner, &home)?;

    tl.step("An image to distribute, and a customer managed key per Region");
    let parent = w.amazon_linux(&owner, &home).await?;
    let build = w.launch(&owner, &home, &parent, "svc-build").await?;
    let baked = bake(ec2.as_ref(), BakeRequest::new(build.clone(), "svc-7")).await?;
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![build.clone()])
    })
    .await?;
    for r in &w.cast.regions {
        w.ensure_key(&owner, r, "alias/svc").await?;
    }
    tl.detail(format!("{} in {home}", baked.image.id));

    // The journal is a file: after a crash, it is all a new process needs.
    let dir = std::env::temp_dir().join(format!(
        "ami-example-resume-{}-{}",
        std::process::id(),
        w.seed
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::workflow(format!("cannot create {}: {e}", dir.display())))?;
    let outcome = runs(&w, &baked.image.id, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn runs(w: &World, image: &ImageId, dir: &std::path::Path) -> Result<()> {
    let tl = &w.timeline;
    let opts = DistributeOptions::default();

    tl.step("Run 1 starts, and the process dies 3 minutes in");
    let plan = distribute::plan(w.connector(), &spec(w, image, "svc-7-r1")).await?;
    let journal = FileJournal::open(dir.join("run-1.journal"))?;
    crash_after(w, distribute::apply(w.connector(), &plan, &journal, &opts)).await?;
    show_journal(w, &journal)?;
    show_copies(w, "svc-7-r1").await?;

    tl.step("A new process resumes run 1 from the journal file alone");
    let journal = FileJournal::open(dir.join("run-1.journal"))?;
    let manifest = distribute::resume(w.connector(), &journal, &opts).await?;
    tl.detail(manifest.to_string().trim_end());
    if let Some(sim) = w.sim() {
        // Every CopyImage of the interrupted run was settled with its client token: the calls
        // that succeeded (throttled ones are retried) all name one of the run's copies.
        let made: BTreeSet<String> = sim
            .call_log()
            .into_iter()
            .filter(|c| c.op == ami_sim::Op::CopyImage)
            .filter_map(|c| c.outcome.ok())
            .collect();
        if made.len() != manifest.images.len() {
            return Err(Error::workflow(format!(
                "CopyImage made {} images for {} copies",
                made.len(),
                manifest.images.len()
            )));
        }
        tl.detail(format!(
            "CopyImage made {} images for {} copies: none made twice",
            made.len(),
            manifest.images.len()
        ));
    }

    tl.step("Run 2 starts, and dies 3 minutes in too; this time it is rolled back");
    let plan = distribute::plan(w.connector(), &spec(w, image, "svc-7-r2")).await?;
    let journal = FileJournal::open(dir.join("run-2.journal"))?;
    crash_after(w, distribute::apply(w.connector(), &plan, &journal, &opts)).await?;
    show_copies(w, "svc-7-r2").await?;
    let report = distribute::rollback(w.connector(), &journal, &opts).await?;
    tl.detail(report.to_string().trim_end());
    show_copies(w, "svc-7-r2").await?;
    show_copies(w, "svc-7-r1").await?;
    Ok(())
}

/// The same distribution with run id `run`: every Region, the owner's key there.
fn spec(w: &World, image: &ImageId, run: &str) -> DistributionSpec {
    let mut s = DistributionSpec::new(
        w.cast.account(0).clone(),
        w.cast.region(0).clone(),
        image.clone(),
    )
    .regions(w.cast.regions.iter().cloned())
    .name_template("{source_name}-{run_id}")
    .tag("Service", "svc")
    .run_id(run);
    for r in &w.cast.regions {
        if let Ok(k) = "alias/svc".parse() {
            s = s.kms_key(r.clone(), k);
        }
    }
    s
}

/// Drops `run` after 3 minutes (of virtual time on the simulator), as if the process died.
async fn crash_after<T>(
    w: &World,
    run: impl std::future::Future<Output = Result<T>>,
) -> Result<()> {
    match tokio::time::timeout(Duration::from_secs(180), run).await {
        Err(_) => {
            w.timeline
                .event("the process dies: the run's future is dropped mid-flight");
            Ok(())
        }
        Ok(Ok(_)) => {
            w.timeline.event("the run finished before the crash");
            Ok(())
        }
        Ok(Err(e)) => Err(e),
    }
}

/// What the journal says so far, step by step.
fn show_journal(w: &World, journal: &dyn JournalStore) -> Result<()> {
    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for e in journal.entries()? {
        let step = serde_json::to_value(&e)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_str().map(str::to_owned)))
            .unwrap_or_else(|| "?".to_owned());
        *steps.entry(step).or_default() += 1;
    }
    let list: Vec<String> = steps.iter().map(|(s, n)| format!("{s} x{n}")).collect();
    w.timeline
        .detail(format!("journal so far: {}", list.join(", ")));
    Ok(())
}

/// The copies a run made, as the owner sees them in every Region.
async fn show_copies(w: &World, run: &str) -> Result<()> {
    let owner = w.cast.account(0);
    let mut found = Vec::new();
    for r in &w.cast.regions {
        let req = DescribeImagesRequest::new()
            .owner(Owner::SelfAccount)
            .filter(Filter::tag(RUN_TAG, run));
        let ec2 = w.ec2(owner, r)?;
        for img in retry("DescribeImages", || ec2.describe_all_images(req.clone())).await? {
            found.push(format!("{} {} {}", r.as_str(), img.id, img.state));
        }
    }
    w.timeline.detail(if found.is_empty() {
        format!("images of run {run}: none")
    } else {
        format!("images of run {run}: {}", found.join("; "))
    });
    Ok(())
}
