//! Retiring old images by policy, never one still in use.
//!
//! Four weekly releases of one image family. A retention policy keeps the newest, keeps what
//! is younger than three days or tagged `Keep`, and retires the rest in stages (deprecate,
//! disable, deregister with the snapshots no other image uses), except an image an instance
//! still runs, in any account the image is shared with. The plan explains every decision.
//!
//! ```text
//! cargo run -p ami-examples --bin retire
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, Owner};
use ami_core::model::ResourceId;
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::retire::{self, FamilySelector, RetentionPolicy, RetireOptions};
use ami_core::ops::share::{self, ShareSpec};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{Ec2Ext, InstanceState, Result, Tags};
use ami_examples::{main_with, retry, Cast, World};

fn main() -> ExitCode {
    main_with(
        "retention by policy: keep the newest, never an image in use, retire in stages",
        Cast::new(
            &[("owner", "111111111111"), ("consumer", "222222222222")],
            &["us-east-1"],
        ),
        story,
    )
}

async fn story(w: World) -> Result<()> {
    let tl = &w.timeline;
    let (owner, consumer) = (w.cast.account(0).clone(), w.cast.account(1).clone());
    let region = w.cast.region(0).clone();
    let ec2 = w.ec2(&owner, &region)?;

    tl.step("Four weekly releases of the family Family=app");
    let parent = w.amazon_linux(&owner, &region).await?;
    let build = w.launch(&owner, &region, &parent, "app-build").await?;
    let mut releases = Vec::new();
    for n in 1..=4 {
        let baked = bake(
            ec2.as_ref(),
            BakeRequest::new(build.clone(), format!("app-{n}"))
                .tag("Family", "app")
                .tag("Version", n.to_string()),
        )
        .await?;
        tl.event(format!("app-{n} is {}", baked.image.id));
        releases.push(baked.image.id);
        if w.sim().is_some() && n < 4 {
            tokio::time::sleep(Duration::from_secs(7 * 86_400)).await;
        }
    }
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![build.clone()])
    })
    .await?;

    tl.step("app-1 is pinned with Keep=audit; the consumer runs app-2");
    let mut keep = Tags::new();
    keep.insert("Keep".into(), "audit".into());
    retry("CreateTags", || {
        ec2.create_tags(vec![ResourceId::Image(releases[0].clone())], keep.clone())
    })
    .await?;
    let spec = ShareSpec::new(releases[1].clone()).account(consumer.clone());
    share::share(w.connector(), &owner, &region, &spec).await?;
    let theirs = w.launch(&consumer, &region, &releases[1], "app").await?;
    tl.detail(format!(
        "{} runs {theirs} from app-2",
        w.cast.who(&consumer)
    ));

    // Keep the newest; nothing younger than 3 days; nothing tagged Keep. Usage is scanned in
    // the owner's account and in every account an image is explicitly shared with.
    let policy = RetentionPolicy::new(
        FamilySelector::Tag {
            key: "Family".into(),
            value: Some("app".into()),
        },
        1,
        [owner.clone()],
        [region.clone()],
    )
    .min_age(Duration::from_secs(3 * 86_400))
    .protect_tag("Keep", None);

    tl.step("The plan (a dry run: nothing changes)");
    let plan = retire::plan(w.connector(), &policy).await?;
    tl.detail(plan.to_string().trim_end());

    tl.step("Apply it: deprecate, disable, deregister with snapshots");
    let outcome = retire::apply(w.connector(), &plan, &RetireOptions::default()).await?;
    tl.detail(outcome.to_string().trim_end());

    tl.step("The consumer moves off app-2; plan and apply again");
    let consumer_ec2 = w.ec2(&consumer, &region)?;
    retry("TerminateInstances", || {
        consumer_ec2.terminate_instances(vec![theirs.clone()])
    })
    .await?;
    wait_for_instance_state(
        consumer_ec2.as_ref(),
        &theirs,
        InstanceState::Terminated,
        &WaitOptions::default(),
    )
    .await?;
    let plan = retire::plan(w.connector(), &policy).await?;
    tl.detail(plan.to_string().trim_end());
    let outcome = retire::apply(w.connector(), &plan, &RetireOptions::default()).await?;
    tl.detail(outcome.to_string().trim_end());

    tl.step("What the owner has left");
    let mine = DescribeImagesRequest::new()
        .owner(Owner::SelfAccount)
        .include_deprecated(true)
        .include_disabled(true);
    let left = retry("DescribeImages", || ec2.describe_all_images(mine.clone())).await?;
    for img in left {
        tl.detail(format!("{} {:?} {}", img.id, img.name, img.state));
    }
    Ok(())
}
