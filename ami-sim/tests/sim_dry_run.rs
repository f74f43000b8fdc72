//! Dry runs (`DryRun=true`) on the simulator: a changing call through `Ec2::dry_run` answers
//! `DryRunOperation` where it would succeed and the real call's error where it would not, and
//! changes nothing: no resource, no tag, no state change, and no id drawn (the next real
//! call gets the same id as in a world where the dry run never happened).

mod sim_support;

use ami_core::api::{CreateImageRequest, DeregisterImageRequest, RunInstancesRequest};
use ami_core::model::ResourceId;
use ami_core::{Ec2Ext, Error, ImageState, InstanceState, Tags};
use ami_sim::Op;
use sim_support::*;

#[tokio::test(start_paused = true)]
async fn a_permitted_dry_run_answers_dry_run_operation_and_changes_nothing() {
    let w = world(301);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let dry = ec2.dry_run();
    assert_eq!(dry.account(), &w.a);
    assert_eq!(dry.region(), &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();

    let e = dry
        .run_instances(RunInstancesRequest::new(base.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DryRun(_)), "{e:?}");
    assert_eq!(e.code(), "DryRunOperation");
    assert_eq!(
        e.message(),
        "Request would have succeeded, but DryRun flag is set."
    );
    assert!(w.sim.inspect_instances().is_empty());

    // The real launch gets the id it would have had without the dry run.
    let twin = world(301);
    let real = ec2
        .run_instances(RunInstancesRequest::new(base.clone()))
        .await
        .unwrap()
        .remove(0);
    let twin_real = twin
        .sim
        .ec2(&twin.a, &twin.r1)
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(real.id, twin_real.id);

    // Reads through the dry-run client answer as usual.
    assert_eq!(dry.describe_instance(&real.id).await.unwrap().id, real.id);

    // The call log shows the dry run with its code.
    let log = w.sim.call_log();
    assert_eq!(log[0].op, Op::RunInstances);
    assert_eq!(log[0].outcome, Err("DryRunOperation".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_that_would_fail_answers_the_real_calls_error() {
    let w = world(302);
    let mine = w.sim.ec2(&w.a, &w.r1);
    let image = baked(&w, &*mine, "private-app").await;
    let theirs = w.sim.ec2(&w.b, &w.r1);

    // Not shared with b: the same AuthFailure as the real launch.
    let real = theirs
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap_err();
    let dry = theirs
        .dry_run()
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap_err();
    assert_eq!(real.code(), "AuthFailure");
    assert_eq!(dry.code(), real.code());
    assert_eq!(dry.message(), real.message());

    // Tagging another account's image: refused the same way.
    let mut tags = Tags::new();
    tags.insert("k".into(), "v".into());
    let real = theirs
        .create_tags(vec![ResourceId::Image(image.clone())], tags.clone())
        .await
        .unwrap_err();
    let dry = theirs
        .dry_run()
        .create_tags(vec![ResourceId::Image(image.clone())], tags)
        .await
        .unwrap_err();
    assert_eq!(dry.code(), real.code());
}

#[tokio::test(start_paused = true)]
async fn dry_runs_of_image_changes_leave_the_image_as_it_was() {
    let w = world(303);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let image = baked(&w, &*ec2, "keep-me").await;
    let before = ec2.describe_image(&image).await.unwrap();
    let dry = ec2.dry_run();

    let code = |r: ami_core::Result<()>| r.unwrap_err().code().to_owned();
    assert_eq!(
        dry.deregister_image(DeregisterImageRequest::new(image.clone()).with_snapshots())
            .await
            .unwrap_err()
            .code(),
        "DryRunOperation"
    );
    assert_eq!(
        code(dry.disable_image(image.clone()).await),
        "DryRunOperation"
    );
    assert_eq!(
        code(
            dry.enable_image_deprecation(image.clone(), w.sim.now())
                .await
        ),
        "DryRunOperation"
    );
    assert_eq!(
        code(
            dry.enable_image_deregistration_protection(image.clone(), false)
                .await
        ),
        "DryRunOperation"
    );
    assert_eq!(ec2.describe_image(&image).await.unwrap(), before);
    assert_eq!(before.state, ImageState::Available);

    // CreateImage of a running instance: a dry run, then no image and the instance untouched.
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    let images = w.sim.inspect_images().len();
    let e = dry
        .create_image(CreateImageRequest::new(inst.clone(), "never-made"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "DryRunOperation");
    assert_eq!(w.sim.inspect_images().len(), images);
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Running
    );
}
