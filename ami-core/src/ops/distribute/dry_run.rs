//! A distribution plan checked by AWS itself: every CopyImage (and the shares of the source
//! that cross-account copies need) sent with `DryRun=true`; nothing changes.

use crate::api::{Connector, Ec2Ext, PermissionChanges};
use crate::error::Result;
use crate::model::LaunchPermission;
use crate::ops::dry_run::{DryRunOutcome, DryRunReport};

use super::plan::DistributionPlan;

/// Checks `plan` without changing anything (see [`crate::ops::dry_run`]):
///
/// - the source owner's ModifyImageAttribute that shares the source with the accounts that
///   copy it into their own account;
/// - every CopyImage, as the account that makes it, with the plan's exact request (key, name,
///   client token, tags). A cross-account copy can only be checked once the source is
///   visible to that account: until the share is made it is reported as
///   [`DryRunOutcome::ReadOnly`], naming the share it waits for.
///
/// What follows a copy (its grants, deprecation, protection) acts on an image that does not
/// exist yet, and cannot be checked before it does.
pub async fn dry_run_apply(
    connector: &dyn Connector,
    plan: &DistributionPlan,
) -> Result<DryRunReport> {
    let src = &plan.source;
    let mut report = DryRunReport::default();
    if !plan.shared_with.is_empty() {
        let owner = connector.ec2(&src.account, &src.region)?.dry_run();
        let share = PermissionChanges::add(
            plan.shared_with
                .iter()
                .cloned()
                .map(LaunchPermission::Account),
        );
        report
            .check(
                "ModifyImageAttribute",
                &src.account,
                &src.region,
                src.image_id.as_str(),
                || owner.modify_launch_permissions(src.image_id.clone(), share.clone()),
            )
            .await;
    }
    for copy in &plan.copies {
        let d = &copy.destination;
        let ec2 = connector.ec2(&d.account, &d.region)?;
        if d.account != src.account {
            let viewer = connector.ec2(&d.account, &src.region)?;
            if viewer.describe_image(&src.image_id).await.is_err() {
                report.push(
                    "CopyImage",
                    &d.account,
                    &d.region,
                    format!("{} from {}", copy.name, src.image_id),
                    DryRunOutcome::ReadOnly(format!(
                        "account {} cannot see {} until the apply shares it (the ModifyImageAttribute above); checked then",
                        d.account, src.image_id
                    )),
                );
                continue;
            }
        }
        let dry = ec2.dry_run();
        let req = plan.copy_request(copy);
        report
            .check(
                "CopyImage",
                &d.account,
                &d.region,
                format!("{} from {}", copy.name, src.image_id),
                || dry.copy_image(req.clone()),
            )
            .await;
    }
    Ok(report)
}
