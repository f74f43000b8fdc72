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
