//! Instances, as far as images need them: state changes, and launching a new image.

use super::fixtures::{checks, ensure, fail, During, Fixtures, Step};
use super::Ctx;
use crate::api::{Ec2Ext, RunInstancesRequest};
use crate::model::InstanceState;

checks! {
    /// Stop, start and terminate report the previous and current states AWS reports, and the
    /// instance reaches `stopped` and `running`.
    check_instance_state_changes => instance_state_changes;
    /// An instance launched from a new image runs, records the image and belongs to the caller.
    check_launch_from_image => launch_from_image;
    /// Changing calls with `DryRun=true` answer `DryRunOperation` and change nothing.
    check_dry_run => dry_run;
}

async fn instance_state_changes(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let id = fx.instance().await?;
    let changes = ec2
        .stop_instances(vec![id.clone()])
        .await
        .during("StopInstances")?;
    let [change] = changes.as_slice() else {
        fail!("StopInstances of one instance returned {changes:?}");
    };
    ensure!(
        change.instance_id == id
            && change.previous == InstanceState::Running
            && matches!(
                change.current,
                InstanceState::Stopping | InstanceState::Stopped
            ),
        "StopInstances reported {change:?}"
    );
    fx.wait_instance(&id, InstanceState::Stopped).await?;
    let changes = ec2
        .start_instances(vec![id.clone()])
        .await
        .during("StartInstances")?;
    let [change] = changes.as_slice() else {
        fail!("StartInstances of one instance returned {changes:?}");
    };
    ensure!(
        change.previous == InstanceState::Stopped
            && matches!(
                change.current,
                InstanceState::Pending | InstanceState::Running
            ),
        "StartInstances reported {change:?}"
    );
    fx.wait_instance(&id, InstanceState::Running).await?;
    let changes = ec2
        .terminate_instances(vec![id.clone()])
        .await
        .during("TerminateInstances")?;
    let [change] = changes.as_slice() else {
        fail!("TerminateInstances of one instance returned {changes:?}");
    };
    ensure!(
        change.previous == InstanceState::Running
            && matches!(
                change.current,
                InstanceState::ShuttingDown | InstanceState::Terminated
            ),
        "TerminateInstances reported {change:?}"
    );
    Ok(())
}

async fn launch_from_image(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("launch").await?;
    let inst = fx
        .run_instance(RunInstancesRequest::new(image.id.clone()))
        .await?;
    ensure!(
        inst.image_id == image.id,
        "the instance records image {}",
        inst.image_id
    );
    ensure!(
        &inst.owner == ec2.account(),
        "the instance belongs to {}",
        inst.owner
    );
    ensure!(
        &inst.region == ec2.region(),
        "the instance runs in {}",
        inst.region
    );
    let again = ec2
        .describe_instance(&inst.id)
        .await
        .during("DescribeInstances")?;
    ensure!(
        again.state == InstanceState::Running,
        "the instance is {}",
        again.state.as_str()
    );
    Ok(())
}

async fn dry_run(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let dry = ec2.dry_run();
    let image = fx.image("dry-run").await?;
    let before = ec2
        .describe_all_instances(crate::api::DescribeInstancesRequest::new())
        .await
        .during("DescribeInstances")?
        .len();
    match dry
        .run_instances(RunInstancesRequest::new(image.id.clone()))
        .await
    {
        Err(e) if e.code() == "DryRunOperation" => {}
        other => fail!("a dry-run RunInstances answered {other:?}, not DryRunOperation"),
    }
    let after = ec2
        .describe_all_instances(crate::api::DescribeInstancesRequest::new())
        .await
        .during("DescribeInstances")?
        .len();
    ensure!(
        after == before,
        "a dry-run RunInstances changed the instance count from {before} to {after}"
    );
    let id = fx.instance().await?;
    match dry.stop_instances(vec![id.clone()]).await {
        Err(e) if e.code() == "DryRunOperation" => {}
        other => fail!("a dry-run StopInstances answered {other:?}, not DryRunOperation"),
    }
    let state = ec2
        .describe_instance(&id)
        .await
        .during("DescribeInstances")?
        .state;
    ensure!(
        state == InstanceState::Running,
        "a dry-run StopInstances left the instance {state}"
    );
    let mut tags = crate::model::Tags::new();
    tags.insert("dry-run".into(), "yes".into());
    match dry
        .create_tags(
            vec![crate::model::ResourceId::Image(image.id.clone())],
            tags,
        )
        .await
    {
        Err(e) if e.code() == "DryRunOperation" => {}
        other => fail!("a dry-run CreateTags answered {other:?}, not DryRunOperation"),
    }
    let seen = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        !seen.tags.contains_key("dry-run"),
        "a dry-run CreateTags tagged the image: {:?}",
        seen.tags
    );
    Ok(())
}
