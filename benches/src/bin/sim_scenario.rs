//! The benchmark scenario on ami-sim: the same one `benches/moto/scenario.py` runs on moto.
//!
//! One scenario: run an instance, create an image of it, terminate the instance, share the
//! image with another account, copy it to another Region, describe the copy. Where AWS (and so
//! the simulator) needs time to pass (the instance to run, the image to become available,
//! since a `pending` image cannot be shared or copied), the scenario sleeps on tokio's paused
//! clock, which costs no real time; moto makes everything available at once.
//!
//! ```text
//! cargo run --release -p ami-benches --bin sim_scenario -- --scenarios 200 --min-seconds 1
//! ```
//!
//! Prints one JSON line: backend, scenarios, worlds, seconds, rate (scenarios per second).
//! Each world is a fresh simulator holding `--scenarios` scenarios; worlds are repeated until
//! `--min-seconds` of timed scenario loops have passed (the simulator's construction is not
//! timed, as moto's start-up is not).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DescribeImagesRequest, PermissionChanges,
    RunInstancesRequest,
};
use ami_core::{AccountId, Ec2, Error, ImageId, LaunchPermission, Region, Result};
use ami_sim::Sim;

const OWNER: &str = "111111111111";
const CONSUMER: &str = "222222222222";

struct Args {
    scenarios: usize,
    min_seconds: f64,
    seed: u64,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut a = Args {
        scenarios: 200,
        min_seconds: 1.0,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--scenarios" => {
                let v = value()?;
                a.scenarios = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("--scenarios {v:?}: pass a whole number >= 1"))?;
            }
            "--min-seconds" => {
                let v = value()?;
                a.min_seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--min-seconds {v:?}: pass seconds, e.g. 1.5"))?;
            }
            "--seed" => {
                let v = value()?;
                a.seed = v
                    .parse()
                    .map_err(|_| format!("--seed {v:?}: pass a whole number"))?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: sim_scenario [--scenarios N] [--min-seconds S] [--seed N]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(a)
}

async fn scenario(
    home: &dyn Ec2,
    away: &dyn Ec2,
    base: &ImageId,
    consumer: &AccountId,
    i: usize,
) -> Result<()> {
    let inst = home
        .run_instances(RunInstancesRequest::new(base.clone()).instance_type("m7i.large"))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::workflow("RunInstances returned no instance"))?;
    // pending → running (virtual time).
    tokio::time::sleep(Duration::from_secs(60)).await;
    let image = home
        .create_image(CreateImageRequest::new(
            inst.id.clone(),
            format!("bench-{i}"),
        ))
        .await?;
    home.terminate_instances(vec![inst.id]).await?;
    // pending → available (virtual time): a pending image can be neither shared nor copied.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    home.modify_launch_permissions(
        image.clone(),
        PermissionChanges::add([LaunchPermission::Account(consumer.clone())]),
    )
    .await?;
    let copy = away
        .copy_image(CopyImageRequest::new(
            home.region().clone(),
            image,
            format!("bench-{i}-copy"),
        ))
        .await?;
    let described = away
        .describe_images(DescribeImagesRequest::ids([copy.clone()]))
        .await?;
    if described.items.first().map(|i| &i.id) != Some(&copy) {
        return Err(Error::workflow(format!(
            "DescribeImages did not return {copy}"
        )));
    }
    Ok(())
}

/// One fresh simulator with `n` scenarios; returns the real time the scenarios took.
async fn world(seed: u64, n: usize) -> Result<Duration> {
    let sim = Sim::builder()
        .seed(seed)
        .regions(["us-east-1", "eu-west-1"])
        .account(OWNER)
        .account(CONSUMER)
        .build()?;
    let (owner, consumer): (AccountId, AccountId) = (OWNER.parse()?, CONSUMER.parse()?);
    let (home_r, away_r): (Region, Region) = ("us-east-1".parse()?, "eu-west-1".parse()?);
    let home = sim.ec2(&owner, &home_r);
    let away = sim.ec2(&owner, &away_r);
    let base = sim
        .amazon_image(&home_r, "al2023")
        .ok_or_else(|| Error::workflow("the simulator's catalogue has no al2023 image"))?;
    let start = Instant::now();
    for i in 0..n {
        scenario(home.as_ref(), away.as_ref(), &base, &consumer, i).await?;
    }
    Ok(start.elapsed())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("sim_scenario: {msg}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sim_scenario: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(async {
        let (mut timed, mut worlds) = (Duration::ZERO, 0u64);
        while worlds == 0 || timed.as_secs_f64() < args.min_seconds {
            timed += world(args.seed.wrapping_add(worlds), args.scenarios).await?;
            worlds += 1;
        }
        Ok::<_, Error>((timed, worlds))
    });
    match outcome {
        Ok((timed, worlds)) => {
            let total = args.scenarios as u64 * worlds;
            let secs = timed.as_secs_f64();
            println!(
                "{{\"backend\": \"ami-sim\", \"scenarios\": {total}, \"worlds\": {worlds}, \"seconds\": {secs:.6}, \"rate\": {}}}",
                total as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "sim_scenario failed (seed {}): [{}] {}",
                args.seed,
                e.code(),
                e.message()
            );
            ExitCode::FAILURE
        }
    }
}
