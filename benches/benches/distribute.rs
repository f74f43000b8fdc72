//! Distribute one image to 16 Regions × (owner + 20 accounts) on the simulator, and print:
//!
//! - the virtual makespan of `apply` against the slowest single copy (measured alone, to the
//!   second), with the target ratio ≤ 1.1;
//! - the API calls `apply` made against the minimum the plan needs, by operation;
//! - the wall-clock time the simulated run took.
//!
//! Run: `cargo bench -p ami-benches --bench distribute`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ami_core::api::{CopyImageRequest, CreateImageRequest, RunInstancesRequest};
use ami_core::ops::distribute::{self, AccountCopies, DistributeOptions, DistributionSpec};
use ami_core::ops::journal::MemoryJournal;
use ami_core::{
    AccountId, Clock, Connector, Ec2Ext, ImageId, ImageState, KmsExt, LaunchPermission, Region,
};
use ami_sim::Sim;

const REGIONS: [&str; 16] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
];
const ACCOUNTS: u64 = 20;

type BoxError = Box<dyn std::error::Error>;

fn owner() -> AccountId {
    AccountId::from_number(100_000_000_000)
}

fn account(i: u64) -> AccountId {
    AccountId::from_number(200_000_000_000 + i)
}

async fn wait_available(
    sim: &Sim,
    a: &AccountId,
    r: &Region,
    id: &ImageId,
    step: Duration,
) -> Result<Duration, BoxError> {
    let ec2 = sim.ec2(a, r);
    let start = tokio::time::Instant::now();
    loop {
        let img = ec2.describe_image(id).await?;
        match img.state {
            ImageState::Available => return Ok(start.elapsed()),
            ImageState::Pending => tokio::time::sleep(step).await,
            s => return Err(format!("{id} is {s}").into()),
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let mut builder = Sim::builder()
        .seed(42)
        .regions(REGIONS)
        .account(owner().as_str());
    for i in 0..ACCOUNTS {
        builder = builder.account(account(i).as_str());
    }
    let sim = builder.build()?;
    let regions: Vec<Region> = REGIONS
        .iter()
        .map(|r| r.parse())
        .collect::<Result<_, _>>()?;
    let home = regions[0].clone();
    let mut accounts = vec![owner()];
    accounts.extend((0..ACCOUNTS).map(account));
    for a in &accounts {
        for r in &regions {
            sim.kms(a, r)
                .create_key_with_alias("golden", "golden images")
                .await?;
        }
    }
    // The source: an image of an instance, copied with the owner's customer key.
    let ec2 = sim.ec2(&owner(), &home);
    let base = sim
        .amazon_image(&home, "al2023")
        .ok_or("no al2023 in the catalogue")?;
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await?
        .remove(0);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let built = ec2
        .create_image(CreateImageRequest::new(inst.id, "golden-build"))
        .await?;
    wait_available(&sim, &owner(), &home, &built, Duration::from_secs(10)).await?;
    let golden = ec2
        .copy_image(
            CopyImageRequest::new(home.clone(), built, "golden-1")
                .encrypt_with("alias/golden".parse()?),
        )
        .await?;
    wait_available(&sim, &owner(), &home, &golden, Duration::from_secs(10)).await?;

    // The slowest single copy, each measured alone to the second.
    let mut slowest = Duration::ZERO;
    for r in &regions {
        let id = sim
            .ec2(&owner(), r)
            .copy_image(
                CopyImageRequest::new(home.clone(), golden.clone(), "probe")
                    .encrypt_with("alias/golden".parse()?),
            )
            .await?;
        slowest =
            slowest.max(wait_available(&sim, &owner(), r, &id, Duration::from_secs(1)).await?);
    }

    let mut spec = DistributionSpec::new(owner(), home.clone(), golden)
        .regions(regions.iter().cloned())
        .launch_permission(LaunchPermission::Account(account(0)))
        .name_template("{source_name}-dist")
        .tag("Team", "platform");
    for r in &regions {
        spec = spec.kms_key(r.clone(), "alias/golden".parse()?);
    }
    for i in 0..ACCOUNTS {
        let mut c = AccountCopies::new(account(i));
        for r in &regions {
            c = c.kms_key(r.clone(), "alias/golden".parse()?);
        }
        spec = spec.account_copies(c);
    }
    let plan = distribute::plan(&sim, &spec).await?;
    let journal = MemoryJournal::new();
    let options = DistributeOptions::default().max_copies_per_region(50);
    let calls_before = sim.call_log().len();
    let clock = Connector::clock(&sim);
    let started = clock.now();
    let wall = Instant::now();
    let manifest = distribute::apply(&sim, &plan, &journal, &options).await?;
    let wall = wall.elapsed();
    let makespan = clock.now().since(started);
    let log = sim.call_log();
    let calls = &log[calls_before..];
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for c in calls {
        *by_op.entry(format!("{:?}", c.op)).or_default() += 1;
    }

    let ratio = makespan.as_secs_f64() / slowest.as_secs_f64();
    println!(
        "distribute: {} Regions x {} accounts (owner + {ACCOUNTS}) = {} copies",
        regions.len(),
        accounts.len(),
        manifest.images.len()
    );
    println!(
        "  virtual makespan        {:>8.1} s",
        makespan.as_secs_f64()
    );
    println!("  slowest single copy     {:>8.1} s", slowest.as_secs_f64());
    println!(
        "  ratio                   {ratio:>8.3}   (target <= 1.100: {})",
        if ratio <= 1.1 { "met" } else { "MISSED" }
    );
    println!("  API calls               {:>8}", calls.len());
    println!(
        "  minimum for the plan    {:>8}   (one availability check per copy)",
        plan.minimum_calls()
    );
    println!(
        "  calls / minimum         {:>8.2}",
        calls.len() as f64 / plan.minimum_calls() as f64
    );
    for (op, n) in &by_op {
        println!("    {op:<38} {n:>6}");
    }
    println!("  journal entries         {:>8}", journal.len());
    println!(
        "  wall-clock time         {:>8.1} ms",
        wall.as_secs_f64() * 1000.0
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    rt.block_on(run())
}
