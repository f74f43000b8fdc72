//! Fixtures the `ops_*` simulator tests share: ids, a simulator with accounts, a setup call
//! that rides out injected faults, a running instance, and waiting for an image.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use ami_core::api::{CopyImageRequest, CreateImageRequest, RunInstancesRequest};
use ami_core::ops::bake::{bake, BakeRequest, Consistency};
use ami_core::ops::share::{reencrypt, ReencryptRequest};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{
    AccountId, Ec2, Ec2Ext, Image, ImageId, ImageState, Instance, InstanceState, KmsExt, KmsKey,
    Region, Result,
};
use ami_sim::{FaultPlan, Sim, SimBuilder};

/// An account id (panics on a malformed one: test input).
pub fn acct(s: &str) -> AccountId {
    s.parse().unwrap()
}

/// A Region (panics on a malformed one: test input).
pub fn region(s: &str) -> Region {
    s.parse().unwrap()
}

/// `us-east-1`.
pub fn us() -> Region {
    region("us-east-1")
}

/// `eu-west-1`.
pub fn eu() -> Region {
    region("eu-west-1")
}

/// A simulator builder with `seed`, `regions` and `accounts`; add organizations, faults, ...
pub fn builder(seed: u64, regions: &[&str], accounts: &[&str]) -> SimBuilder {
    let mut b = Sim::builder().seed(seed).regions(regions.iter().copied());
    for a in accounts {
        b = b.account(a);
    }
    b
}

/// A simulator with `seed`, `regions`, `accounts` and `faults`.
pub fn sim(seed: u64, regions: &[&str], accounts: &[&str], faults: FaultPlan) -> Sim {
    builder(seed, regions, accounts)
        .faults(faults)
        .build()
        .unwrap()
}

/// Runs a setup call until it succeeds, retrying retryable (injected) errors every second;
/// any other error fails the test.
pub async fn must<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => panic!("setup failed: {e}"),
        }
    }
}

/// Launches one instance of the Amazon `al2023` image of `region` through `ec2` and waits
/// until it is running.
pub async fn running_instance(sim: &Sim, ec2: &dyn Ec2, region: &Region) -> Instance {
    let base = sim.amazon_image(region, "al2023").unwrap();
    let inst = must(|| ec2.run_instances(RunInstancesRequest::new(base.clone())))
        .await
        .remove(0);
    wait_for_instance_state(
        ec2,
        &inst.id,
        InstanceState::Running,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    inst
}

/// Polls (every 30 s, riding out injected errors) until `id` of `account` in `r` is
/// available; any state but `pending` on the way fails the test.
pub async fn wait_available(sim: &Sim, account: &AccountId, r: &Region, id: &ImageId) {
    let ec2 = sim.ec2(account, r);
    loop {
        let img = must(|| ec2.describe_image(id)).await;
        if img.state == ImageState::Available {
            return;
        }
        assert_eq!(img.state, ImageState::Pending, "{img:?}");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// Creates a customer managed key with alias `golden` for every one of `accounts` in every one
/// of `regions`.
pub async fn golden_keys(sim: &Sim, accounts: &[&str], regions: &[&str]) {
    for a in accounts {
        for r in regions {
            let kms = sim.kms(&acct(a), &region(r));
            must(|| kms.create_key_with_alias("golden", "golden images")).await;
        }
    }
}

/// `owner`'s image `golden-1` in `home`: an image of an Amazon `al2023` instance
/// (`golden-build`), copied under `owner`'s key `alias/golden` (see [`golden_keys`]) with the
/// client token `fixture-golden-1`; returned once available.
pub async fn golden_image(sim: &Sim, owner: &AccountId, home: &Region) -> ImageId {
    let ec2 = sim.ec2(owner, home);
    let base = sim.amazon_image(home, "al2023").unwrap();
    let inst = must(|| ec2.run_instances(RunInstancesRequest::new(base.clone())))
        .await
        .remove(0);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let built =
        must(|| ec2.create_image(CreateImageRequest::new(inst.id.clone(), "golden-build"))).await;
    wait_available(sim, owner, home, &built).await;
    let req = CopyImageRequest::new(home.clone(), built, "golden-1")
        .encrypt_with("alias/golden".parse().unwrap())
        .client_token("fixture-golden-1".parse().unwrap());
    let golden = must(|| ec2.copy_image(req.clone())).await;
    wait_available(sim, owner, home, &golden).await;
    golden
}

/// An unencrypted image `golden-plain` baked (no reboot) by `owner` in us-east-1, and
/// `owner`'s customer managed key `alias/golden` there.
pub async fn baked_with_key(sim: &Sim, owner: &str) -> (ImageId, KmsKey) {
    let ec2 = sim.ec2(&acct(owner), &us());
    let inst = running_instance(sim, ec2.as_ref(), &us()).await;
    let image = bake(
        ec2.as_ref(),
        BakeRequest::new(inst.id, "golden-plain").consistency(Consistency::NoReboot),
    )
    .await
    .unwrap()
    .image
    .id;
    let kms = sim.kms(&acct(owner), &us());
    let key = must(|| kms.create_key_with_alias("golden", "golden images")).await;
    (image, key)
}

/// `owner`'s copy `golden` of `plain` in us-east-1 under `key` (`ops::share::reencrypt`).
pub async fn reencrypted(sim: &Sim, owner: &str, plain: &ImageId, key: &KmsKey) -> Image {
    reencrypt(
        sim,
        &acct(owner),
        &us(),
        ReencryptRequest::new(plain.clone(), key.arn.clone()).name("golden"),
    )
    .await
    .unwrap()
}
