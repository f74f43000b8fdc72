//! Simulator throughput on the image round trip: run an instance → create an image → share it
//! with another account → copy it to another Region → describe the copy. Five API calls per
//! round (plus virtual waiting, which costs nothing in a paused runtime).
//!
//! Run: `cargo bench -p ami-benches --bench sim_throughput`. Besides divan's timings (with the
//! rounds per second as the throughput counter, so API calls per second are five times that),
//! it prints the calls per second of a long run on one core and an estimate of the memory one
//! image costs, extrapolated to 1,000,000 images, and then how long listing the owner's images
//! page by page takes in the world the run built. `SIM_THROUGHPUT_ROUNDS` sets the long run's
//! rounds (default 100,000); each round leaves two images, so 500,000 rounds measure the
//! memory of 1,000,000 images directly.

use std::time::{Duration, Instant};

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DescribeImagesRequest, PermissionChanges,
    RunInstancesRequest,
};
use ami_core::{AccountId, Ec2, ImageId, LaunchPermission, Region};
use ami_sim::{Quotas, Sim};
use tokio::runtime::Runtime;

/// API calls per round.
const CALLS_PER_ROUND: u64 = 5;

struct Bench {
    rt: Runtime,
    sim: Sim,
    owner: std::sync::Arc<dyn Ec2>,
    far: std::sync::Arc<dyn Ec2>,
    consumer: AccountId,
    r1: Region,
    base: ImageId,
    round: u64,
}

fn setup(record_calls: bool) -> Bench {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    let sim = rt.block_on(async {
        Sim::builder()
            .seed(1)
            .regions(["us-east-1", "eu-west-1"])
            .account("111111111111")
            .account("222222222222")
            .record_calls(record_calls)
            .quotas(Quotas {
                images: usize::MAX,
                instances: usize::MAX,
                concurrent_copies: usize::MAX,
                ..Quotas::default()
            })
            .build()
            .expect("simulator")
    });
    let owner_id: AccountId = "111111111111".parse().expect("account");
    let r1: Region = "us-east-1".parse().expect("region");
    let r2: Region = "eu-west-1".parse().expect("region");
    Bench {
        owner: sim.ec2(&owner_id, &r1),
        far: sim.ec2(&owner_id, &r2),
        consumer: "222222222222".parse().expect("account"),
        base: sim.amazon_image(&r1, "al2023").expect("catalogue image"),
        r1,
        sim,
        rt,
        round: 0,
    }
}

impl Bench {
    /// One round: five API calls, and the virtual time they need between them.
    fn round(&mut self) {
        self.round += 1;
        let n = self.round;
        let (owner, far, base, consumer, r1) =
            (&self.owner, &self.far, &self.base, &self.consumer, &self.r1);
        self.rt.block_on(async {
            let inst = owner
                .run_instances(RunInstancesRequest::new(base.clone()))
                .await
                .expect("run")
                .remove(0)
                .id;
            tokio::time::advance(Duration::from_secs(20)).await;
            let image = owner
                .create_image(CreateImageRequest::new(inst, format!("img-{n}")).no_reboot(true))
                .await
                .expect("create");
            tokio::time::advance(Duration::from_secs(200)).await;
            owner
                .modify_launch_permissions(
                    image.clone(),
                    PermissionChanges::add([LaunchPermission::Account(consumer.clone())]),
                )
                .await
                .expect("share");
            let copy = far
                .copy_image(CopyImageRequest::new(
                    r1.clone(),
                    image,
                    format!("copy-{n}"),
                ))
                .await
                .expect("copy");
            let page = far
                .describe_images(DescribeImagesRequest::ids([copy]))
                .await
                .expect("describe");
            divan::black_box(page);
        });
    }
}

/// One round of five calls; the throughput counter is in rounds.
#[divan::bench(sample_count = 20, sample_size = 200)]
fn round_trip(bencher: divan::Bencher<'_, '_>) {
    let mut b = setup(false);
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench_local(|| b.round());
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`; 0 elsewhere), so the rate
/// is not diluted by other processes sharing the machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// A long run on one core: calls per second, and memory per image extrapolated to 1,000,000.
fn long_run(rounds: u64) {
    let before = rss_bytes();
    let mut b = setup(false);
    let start = Instant::now();
    let cpu_start = cpu_ns();
    for _ in 0..rounds {
        b.round();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_ns().saturating_sub(cpu_start) as f64 / 1e9;
    let after = rss_bytes();
    let calls = rounds * CALLS_PER_ROUND;
    // Each round leaves two images (the image and its copy), two snapshots and an instance.
    let images = rounds * 2;
    let per_image = after.saturating_sub(before) as f64 / images as f64;
    println!(
        "sim_throughput: {rounds} rounds, {calls} calls in {secs:.2} s wall = {:.0} calls/s; \
         {cpu_secs:.2} s on CPU = {:.0} calls/s on one core",
        calls as f64 / secs,
        calls as f64 / cpu_secs.max(1e-9)
    );
    println!(
        "sim_throughput: {images} images; resident memory grew {:.1} MiB = {per_image:.0} bytes per image \
         (with its snapshot, and half an instance); at 1,000,000 images ≈ {:.2} GiB",
        after.saturating_sub(before) as f64 / (1024.0 * 1024.0),
        per_image * 1_000_000.0 / (1024.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        b.sim.call_count(ami_sim::Op::CopyImage),
        usize::try_from(rounds).unwrap_or(usize::MAX)
    );
    list_pages(&b, rounds);
}

/// Lists the owner's images in the first Region (one per round) page by page, 1,000 a page,
/// as a scan of a large account does: prints the pages and how long the whole listing took.
fn list_pages(b: &Bench, rounds: u64) {
    let start = Instant::now();
    let cpu_start = cpu_ns();
    let (pages, images) = b.rt.block_on(async {
        let mut req = DescribeImagesRequest::new()
            .owner(ami_core::api::Owner::SelfAccount)
            .max_results(1000);
        let (mut pages, mut images) = (0u64, 0u64);
        loop {
            let page = b.owner.describe_images(req.clone()).await.expect("page");
            pages += 1;
            images += page.items.len() as u64;
            match page.next_token {
                Some(t) => req.next_token = Some(t),
                None => break,
            }
        }
        (pages, images)
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_ns().saturating_sub(cpu_start) as f64 / 1e9;
    println!(
        "sim_throughput: listing {images} images in {pages} pages of 1,000: {secs:.3} s wall, \
         {cpu_secs:.3} s on CPU ({:.1} ms a page)",
        cpu_secs * 1000.0 / pages.max(1) as f64
    );
    assert_eq!(
        images, rounds,
        "one image a round in the owner's first Region"
    );
}

fn main() {
    // The long run only under `cargo bench` (not when `cargo test` runs the benchmarks once).
    if std::env::args().any(|a| a == "--bench") {
        let rounds = std::env::var("SIM_THROUGHPUT_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        long_run(rounds);
    }
    divan::main();
}
