//! A consumer copies an image shared with it into its own account, and owns it.
//!
//! A launch permission lets an account *use* an image; it stays the owner's, and disappears
//! when the owner deregisters it. To depend on nobody, the consumer copies it: that needs the
//! launch permission, createVolumePermission on every snapshot, and access to the owner's KMS
//! key. `adopt::preflight_adopt` lists what is still missing, with the AWS error each gap would
//! cause, before any copy is attempted.
//!
//! ```text
//! cargo run -p ami-examples --bin cross-account-copy
//! ```

use std::process::ExitCode;

use ami_core::api::DeregisterImageRequest;
use ami_core::ops::adopt::{adopt, preflight_adopt, AdoptOptions};
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::share::{self, ReencryptRequest, ShareSpec};
use ami_core::{Ec2Ext, Result};
use ami_examples::{main_with, retry, Cast, World};

fn main() -> ExitCode {
    main_with(
        "a consumer copies a shared, encrypted image into its own account and owns it",
        Cast::new(
            &[("owner", "111111111111"), ("consumer", "222222222222")],
            &["us-east-1", "eu-west-1"],
        ),
        story,
    )
}

async fn story(w: World) -> Result<()> {
    let tl = &w.timeline;
    let (owner, consumer) = (w.cast.account(0).clone(), w.cast.account(1).clone());
    let (home, away) = (w.cast.region(0).clone(), w.cast.region(1).clone());
    let ec2 = w.ec2(&owner, &home)?;

    tl.step("The owner's image, encrypted with its customer managed key");
    let parent = w.amazon_linux(&owner, &home).await?;
    let build = w.launch(&owner, &home, &parent, "tools-build").await?;
    let plain = bake(
        ec2.as_ref(),
        BakeRequest::new(build.clone(), "tools-1-plain"),
    )
    .await?;
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![build.clone()])
    })
    .await?;
    let key = w.ensure_key(&owner, &home, "alias/tools").await?;
    let image = share::reencrypt(
        w.connector(),
        &owner,
        &home,
        ReencryptRequest::new(plain.image.id.clone(), key.clone()).name("tools-1"),
    )
    .await?;
    tl.detail(format!("{} in {home}, under {key}", image.id));

    // The consumer copies into another Region, under its own key there.
    let their_key = w.ensure_key(&consumer, &away, "alias/my-images").await?;
    let opts = AdoptOptions::new()
        .target_region(away.clone())
        .name("tools-1-mine")
        .kms_key(their_key.clone())
        .tag("Team", "consumer");
    let preflight = || preflight_adopt(w.connector(), &consumer, &home, &image.id, &opts);

    tl.step("Pre-flight before anything is shared");
    tl.detail(preflight().await?.to_string().trim_end());

    tl.step("The owner grants a launch permission (and the key access launching needs)");
    let launch_only = ShareSpec::new(image.id.clone()).account(consumer.clone());
    share::share(w.connector(), &owner, &home, &launch_only).await?;
    tl.detail(preflight().await?.to_string().trim_end());

    tl.step("The owner also grants createVolumePermission on the snapshot");
    let copyable = launch_only.allow_copy(true);
    share::share(w.connector(), &owner, &home, &copyable).await?;
    let ready = preflight().await?;
    tl.detail(ready.to_string().trim_end());

    tl.step(format!("{} adopts it into {away}", w.cast.who(&consumer)));
    let adopted = adopt(w.connector(), &consumer, &home, &image.id, opts.clone()).await?;
    tl.detail(format!(
        "{} owned by {}, encrypted with {}, source {} in {}",
        adopted.image.id,
        adopted.image.owner,
        adopted
            .image
            .kms_keys()
            .first()
            .map(|e| e.key.to_string())
            .unwrap_or_default(),
        adopted.source_image,
        adopted.source_region
    ));
    // Running the same adoption again finds the earlier copy instead of making a second one.
    let again = adopt(w.connector(), &consumer, &home, &image.id, opts).await?;
    tl.detail(format!(
        "adopting again returns the same copy: {}",
        again.image.id == adopted.image.id
    ));

    tl.step("The owner deregisters its image; the consumer's copy stays");
    let deregister = DeregisterImageRequest::new(image.id.clone()).with_snapshots();
    retry("DeregisterImage", || {
        ec2.deregister_image(deregister.clone())
    })
    .await?;
    let theirs = w.ec2(&consumer, &away)?;
    let mine = retry("DescribeImages", || {
        theirs.describe_image(&adopted.image.id)
    })
    .await?;
    tl.detail(format!("{} is {} in {away}", mine.id, mine.state));
    let inst = w.launch(&consumer, &away, &mine.id, "tools").await?;
    tl.detail(format!("{inst} runs from it"));
    Ok(())
}
