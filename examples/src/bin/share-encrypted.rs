//! Sharing an encrypted image with another account, keys included.
//!
//! An image whose snapshots are encrypted with the AWS managed key `aws/ebs` can never be
//! shared: no other account can use that key. The fix is a copy under a customer managed key,
//! and a share that grants three things: the launch permission, createVolumePermission on the
//! snapshots (so the consumer may copy it), and a key policy statement letting the consumer use
//! the key. Revoking takes all three back.
//!
//! ```text
//! cargo run -p ami-examples --bin share-encrypted
//! ```

use std::process::ExitCode;

use ami_core::api::CopyImageRequest;
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::share::{self, ReencryptRequest, ShareSpec};
use ami_core::ops::wait::{wait_for_new_image, WaitOptions};
use ami_core::{Ec2Ext, Error, Result};
use ami_examples::{main_with, retry, Cast, World};

fn main() -> ExitCode {
    main_with(
        "share an encrypted image, and the key access it needs, with another account",
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

    tl.step("An image encrypted with the default EBS key (aws/ebs)");
    let parent = w.amazon_linux(&owner, &region).await?;
    let build = w.launch(&owner, &region, &parent, "app-build").await?;
    let plain = bake(ec2.as_ref(), BakeRequest::new(build.clone(), "app-1-plain")).await?;
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![build.clone()])
    })
    .await?;
    // CopyImage with Encrypted and no key: EC2 uses the account's default key, aws/ebs.
    let copy =
        CopyImageRequest::new(region.clone(), plain.image.id.clone(), "app-1").encrypted(true);
    let default_key = retry("CopyImage", || ec2.copy_image(copy.clone())).await?;
    let default_key =
        wait_for_new_image(ec2.as_ref(), &default_key, &WaitOptions::default()).await?;
    for e in default_key.kms_keys() {
        tl.detail(format!(
            "{} is encrypted with {} ({:?} managed)",
            default_key.id, e.key, e.manager
        ));
    }

    tl.step(format!("Try to share it with {}", w.cast.who(&consumer)));
    let spec = ShareSpec::new(default_key.id.clone())
        .account(consumer.clone())
        .allow_copy(true);
    match share::plan(w.connector(), &owner, &region, &spec).await {
        // Refused before anything changed, with AWS's own error code.
        Err(e) if e.code() == "InvalidParameter" => {
            tl.detail(format!("refused: {}", e.code()));
            tl.detail(e.message());
        }
        Err(e) => return Err(e),
        Ok(_) => return Err(Error::workflow("sharing an aws/ebs image was not refused")),
    }

    tl.step("Re-encrypt it under a customer managed key");
    let key = w.ensure_key(&owner, &region, "alias/app-images").await?;
    let shareable = share::reencrypt(
        w.connector(),
        &owner,
        &region,
        ReencryptRequest::new(default_key.id.clone(), key.clone()).name("app-1-cmk"),
    )
    .await?;
    tl.detail(format!(
        "{} is a copy of {} under {key}",
        shareable.id, default_key.id
    ));

    tl.step("Plan the share, then apply it");
    let spec = ShareSpec::new(shareable.id.clone())
        .account(consumer.clone())
        .allow_copy(true);
    // The plan is a diff of what is missing; nothing has changed yet.
    let plan = share::plan(w.connector(), &owner, &region, &spec).await?;
    for p in &plan.launch_permissions.add {
        tl.detail(format!("image {}: launch permission for {p}", shareable.id));
    }
    for s in &plan.snapshot_permissions {
        tl.detail(format!(
            "snapshot {}: createVolumePermission for {} account(s)",
            s.snapshot,
            s.changes.add.len()
        ));
    }
    for k in &plan.key_policies {
        let accounts: Vec<String> = k.add_accounts.iter().map(|a| a.to_string()).collect();
        tl.detail(format!(
            "key {}: statement {} allowing {} to use it",
            k.key,
            share::account_sid(&shareable.id),
            accounts.join(", ")
        ));
    }
    share::apply(w.connector(), &plan).await?;
    // Applying is idempotent: planning again finds nothing left to do.
    let again = share::plan(w.connector(), &owner, &region, &spec).await?;
    tl.detail(format!(
        "planned again after applying: empty = {}",
        again.is_empty()
    ));

    tl.step(format!("{} launches it", w.cast.who(&consumer)));
    let theirs = w.ec2(&consumer, &region)?;
    let seen = retry("DescribeImages", || theirs.describe_image(&shareable.id)).await?;
    tl.detail(format!("it sees {} owned by {}", seen.id, seen.owner));
    let inst = w
        .launch(&consumer, &region, &shareable.id, "consumer-app")
        .await?;
    tl.detail(format!(
        "{inst} is running: the key policy lets it decrypt the snapshot"
    ));
    retry("TerminateInstances", || {
        theirs.terminate_instances(vec![inst.clone()])
    })
    .await?;

    tl.step("Revoke the share");
    let revoked = share::revoke(w.connector(), &owner, &region, &spec).await?;
    tl.detail(format!(
        "removed: {} launch permission(s), snapshot permissions on {} snapshot(s), key statements on {} key(s)",
        revoked.launch_permissions.remove.len(),
        revoked.snapshot_permissions.len(),
        revoked.key_policies.len()
    ));
    match retry("DescribeImages", || theirs.describe_image(&shareable.id)).await {
        Err(e) if e.code() == "InvalidAMIID.NotFound" => {
            tl.detail(format!(
                "{} no longer sees it: {}",
                w.cast.who(&consumer),
                e.code()
            ));
        }
        Err(e) => return Err(e),
        Ok(_) => return Err(Error::workflow("the consumer still sees the revoked image")),
    }
    Ok(())
}
