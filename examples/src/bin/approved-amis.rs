//! Production launches only approved images.
//!
//! One `ApprovalPolicy` (required tag, allowed owner, maximum age, not deprecated) becomes an
//! IAM policy and EC2 Allowed-AMIs criteria (preventive, each with what it cannot express), a
//! launch guard (on the simulator, the IAM policy in action: `UnauthorizedOperation`), and a
//! compliance scan (detective: what already runs, and what became unapproved with time).
//!
//! ```text
//! cargo run -p ami-examples --bin approved-amis
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ami_core::api::RunInstancesRequest;
use ami_core::model::ResourceId;
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::govern::{scan, ApprovalPolicy, ScanScope};
use ami_core::ops::share::{self, ShareSpec};
use ami_core::{AccountId, Ec2Ext, Error, ImageId, Region, Result, Tags};
use ami_examples::{main_with, retry, Cast, World};

fn main() -> ExitCode {
    main_with(
        "an approved-image policy: IAM policy, Allowed-AMIs criteria, launch guard, compliance scan",
        Cast::new(
            &[("factory", "111111111111"), ("workload", "222222222222")],
            &["us-east-1"],
        ),
        story,
    )
}

async fn story(w: World) -> Result<()> {
    let tl = &w.timeline;
    let (factory, workload) = (w.cast.account(0).clone(), w.cast.account(1).clone());
    let region = w.cast.region(0).clone();
    let ec2 = w.ec2(&factory, &region)?;

    tl.step("The factory publishes two images to the workload account");
    let parent = w.amazon_linux(&factory, &region).await?;
    let build = w.launch(&factory, &region, &parent, "base-build").await?;
    // The bake stops the instance and starts it again, so it can be baked twice.
    let approved = bake(ec2.as_ref(), BakeRequest::new(build.clone(), "base-1")).await?;
    let experimental = bake(
        ec2.as_ref(),
        BakeRequest::new(build.clone(), "base-1-experimental"),
    )
    .await?;
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![build.clone()])
    })
    .await?;
    let mut tags = Tags::new();
    tags.insert("Approved".into(), "true".into());
    retry("CreateTags", || {
        ec2.create_tags(
            vec![ResourceId::Image(approved.image.id.clone())],
            tags.clone(),
        )
    })
    .await?;
    for img in [&approved.image.id, &experimental.image.id] {
        let spec = ShareSpec::new(img.clone()).account(workload.clone());
        share::share(w.connector(), &factory, &region, &spec).await?;
    }
    tl.detail(format!(
        "{} base-1, tagged Approved=true",
        approved.image.id
    ));
    tl.detail(format!(
        "{} base-1-experimental, not approved",
        experimental.image.id
    ));

    tl.step("The policy, and what each AWS mechanism can enforce of it");
    let policy = ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(factory.clone())
        .max_age_days(30)
        .deny_deprecated(true)
        .build()?;
    let iam = serde_json::to_string_pretty(&policy.iam_policy())
        .map_err(|e| Error::workflow(e.to_string()))?;
    tl.detail(format!("IAM policy (attach to production roles):\n{iam}"));
    tl.detail(format!(
        "  IAM cannot check: {}",
        policy.iam_unenforced().join(", ")
    ));
    tl.detail(format!(
        "Allowed-AMIs ImageCriteria: {}",
        policy.image_criteria().to_json()
    ));
    tl.detail(format!(
        "  Allowed AMIs cannot check: {}",
        policy.criteria_unenforced().join(", ")
    ));

    tl.step("Verdicts");
    // Images as their owner sees them: AWS does not show an image's tags to the accounts it
    // is shared with, but IAM's ec2:ResourceTag condition (and so the guard) uses them.
    let amazon = w.amazon_linux(&factory, &region).await?;
    for id in [&approved.image.id, &experimental.image.id, &amazon] {
        let img = retry("DescribeImages", || ec2.describe_image(id)).await?;
        tl.detail(format!(
            "{id} {:?}: {}",
            img.name,
            policy.evaluate(&img, tl.now())
        ));
    }

    tl.step("Before the policy, the workload launched the experimental image");
    let early = w
        .launch(&workload, &region, &experimental.image.id, "early-bird")
        .await?;
    tl.detail(format!("{early} running {}", experimental.image.id));

    tl.step("The policy is enforced on the workload account's launches");
    if !w.enforce_policy(&workload, &policy) {
        tl.detail("(on AWS: attach the IAM policy above; this run only evaluates it)");
    }
    let ok = w
        .launch(&workload, &region, &approved.image.id, "web")
        .await?;
    tl.detail(format!("launch base-1: {ok} running"));
    refused(&w, &workload, &region, &experimental.image.id).await?;

    tl.step("Compliance scan");
    let scope = ScanScope::new([factory.clone(), workload.clone()], [region.clone()]);
    report(&w, &policy, &scope).await?;

    if w.sim().is_some() {
        tl.step("45 days later, base-1 is older than the policy allows");
        tokio::time::sleep(Duration::from_secs(45 * 86_400)).await;
        report(&w, &policy, &scope).await?;
        refused(&w, &workload, &region, &approved.image.id).await?;
    }
    Ok(())
}

/// Launching `image` is refused with `UnauthorizedOperation` where the policy is enforced.
async fn refused(w: &World, account: &AccountId, region: &Region, image: &ImageId) -> Result<()> {
    let ec2 = w.ec2(account, region)?;
    let req = RunInstancesRequest::new(image.clone());
    match retry("RunInstances", || ec2.run_instances(req.clone())).await {
        Err(e) if e.code() == "UnauthorizedOperation" => {
            w.timeline
                .detail(format!("launch {image}: refused, {}", e.code()));
            w.timeline.detail(format!("  {}", e.message()));
            Ok(())
        }
        Err(e) => Err(e),
        Ok(started) if w.sim().is_none() => {
            w.timeline
                .detail(format!("launch {image}: allowed (no IAM policy attached)"));
            let ids: Vec<_> = started.into_iter().map(|i| i.id).collect();
            retry("TerminateInstances", || {
                ec2.terminate_instances(ids.clone())
            })
            .await?;
            Ok(())
        }
        Ok(_) => Err(Error::workflow(format!(
            "launching {image} was not refused"
        ))),
    }
}

async fn report(w: &World, policy: &ApprovalPolicy, scope: &ScanScope) -> Result<()> {
    let r = scan(w.connector(), policy, scope).await?;
    w.timeline.detail(format!(
        "at {}: {} instance(s), {} compliant, {} finding(s)",
        r.evaluated_at,
        r.instances_scanned,
        r.compliant_count(),
        r.findings.len()
    ));
    for f in &r.findings {
        w.timeline.detail(format!(
            "  {} ({}) runs {}: {}",
            f.instance_id,
            w.cast.who(&f.account),
            f.image_id,
            f.verdict
        ));
    }
    Ok(())
}
