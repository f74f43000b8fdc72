//! Shared set-up of the simulator tests: a small world of accounts and Regions, and waits.
#![allow(dead_code)]

use std::time::Duration;

use ami_core::api::{CopyImageRequest, CreateImageRequest, CreateKeyRequest, RunInstancesRequest};
use ami_core::model::KeyState;
use ami_core::{
    AccountId, Ec2, Ec2Ext, Error, Image, ImageId, ImageState, InstanceId, InstanceState, Kms,
    KmsKey, KmsKeyRef, Region,
};
use ami_sim::{FaultPlan, Sim};

/// The organization id of the test world.
pub const ORG: &str = "o-exampleorg1";
/// The OU of account `b`.
pub const OU: &str = "ou-root-aaaaaaaa";
/// A child OU of [`OU`], holding account `d`.
pub const CHILD_OU: &str = "ou-root-bbbbbbbb";

/// Accounts and Regions of a test: `a` manages the organization, `b` sits in [`OU`], `d` in
/// [`CHILD_OU`] (nested in `OU`), `c` is standalone.
pub struct World {
    pub sim: Sim,
    pub a: AccountId,
    pub b: AccountId,
    pub c: AccountId,
    pub d: AccountId,
    pub r1: Region,
    pub r2: Region,
}

pub fn acct(s: &str) -> AccountId {
    s.parse().unwrap()
}

pub fn region(s: &str) -> Region {
    s.parse().unwrap()
}

pub fn builder(seed: u64) -> ami_sim::SimBuilder {
    Sim::builder()
        .seed(seed)
        .regions(["us-east-1", "eu-west-1"])
        .organization(ORG, "111111111111")
        .organizational_unit(OU, None)
        .organizational_unit(CHILD_OU, Some(OU))
        .account_in_ou("222222222222", OU)
        .account_in_ou("444444444444", CHILD_OU)
        .account("333333333333")
}

pub fn world(seed: u64) -> World {
    world_with(builder(seed))
}

pub fn world_with_faults(seed: u64, faults: FaultPlan) -> World {
    world_with(builder(seed).faults(faults))
}

pub fn world_with(b: ami_sim::SimBuilder) -> World {
    World {
        sim: b.build().unwrap(),
        a: acct("111111111111"),
        b: acct("222222222222"),
        c: acct("333333333333"),
        d: acct("444444444444"),
        r1: region("us-east-1"),
        r2: region("eu-west-1"),
    }
}

/// Sleeps virtual time (instant in a paused runtime).
pub async fn pass(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// Polls an image every 15 s until it is no longer pending (at most two virtual days).
pub async fn wait_image(ec2: &dyn Ec2, id: &ImageId) -> Image {
    for _ in 0..(2 * 86_400 / 15) {
        let img = ec2.describe_image(id).await.unwrap();
        if img.state != ImageState::Pending {
            return img;
        }
        pass(15).await;
    }
    panic!("image {id} still pending after two days");
}

/// Polls an instance until it reaches `state`.
pub async fn wait_instance(ec2: &dyn Ec2, id: &InstanceId, state: InstanceState) {
    for _ in 0..1000 {
        if ec2.describe_instance(id).await.unwrap().state == state {
            return;
        }
        pass(5).await;
    }
    panic!("instance {id} never reached {state}");
}

/// A running instance of `image`.
pub async fn running(ec2: &dyn Ec2, image: &ImageId) -> InstanceId {
    let id = ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap()
        .remove(0)
        .id;
    wait_instance(ec2, &id, InstanceState::Running).await;
    id
}

/// An available image named `name`, baked by the client's account from Amazon Linux.
pub async fn baked(w: &World, ec2: &dyn Ec2, name: &str) -> ImageId {
    let base = w.sim.amazon_image(ec2.region(), "al2023").unwrap();
    let inst = running(ec2, &base).await;
    let id = ec2
        .create_image(CreateImageRequest::new(inst, name))
        .await
        .unwrap();
    let img = wait_image(ec2, &id).await;
    assert_eq!(img.state, ImageState::Available, "{img:?}");
    id
}

/// A day, in seconds.
pub const DAY: u64 = 24 * 3600;

/// The AWS error code of a call that must fail.
pub fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    r.expect_err("expected an error").code().to_owned()
}

/// A key reference (id, ARN or alias) written out.
pub fn key_ref(s: &str) -> KmsKeyRef {
    KmsKeyRef::parse(s).unwrap()
}

/// A customer managed key of the client's account, with the alias `alias/<alias>`.
pub async fn key_with_alias(kms: &dyn Kms, alias: &str) -> KmsKey {
    let key = kms
        .create_key(CreateKeyRequest::new(format!("key of alias/{alias}")))
        .await
        .unwrap();
    kms.create_alias(format!("alias/{alias}"), key.arn.clone())
        .await
        .unwrap();
    key
}

/// The state of a key, as DescribeKey gives it.
pub async fn state_of(kms: &dyn Kms, key: &KmsKeyRef) -> KeyState {
    kms.describe_key(key.clone()).await.unwrap().state
}

/// An available image of the client's account encrypted with `key`, copied from a fresh bake.
pub async fn encrypted_image(w: &World, ec2: &dyn Ec2, key: &KmsKey, name: &str) -> ImageId {
    let plain = baked(w, ec2, &format!("{name}-plain")).await;
    let enc = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), plain, name).encrypt_with(key.arn.clone()))
        .await
        .unwrap();
    assert_eq!(wait_image(ec2, &enc).await.state, ImageState::Available);
    enc
}

/// Launches `image` and waits until the instance runs or terminates; returns the state and
/// the state reason's code.
pub async fn launch(ec2: &dyn Ec2, image: &ImageId) -> (InstanceState, Option<String>) {
    let id = ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap()
        .remove(0)
        .id;
    for _ in 0..600 {
        let inst = ec2.describe_instance(&id).await.unwrap();
        if matches!(
            inst.state,
            InstanceState::Running | InstanceState::Terminated
        ) {
            return (inst.state, inst.state_reason.map(|r| r.code));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    panic!("instance {id} of {image} neither ran nor terminated");
}

/// Copies `req` and waits until the copy is no longer pending.
pub async fn copy_and_wait(ec2: &dyn Ec2, req: CopyImageRequest) -> Image {
    let copy = ec2.copy_image(req).await.unwrap();
    wait_image(ec2, &copy).await
}
