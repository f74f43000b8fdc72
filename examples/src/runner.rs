//! `main` of every example: parse the command line, build the runtime and the world, run the
//! story, report the outcome.

use std::future::Future;
use std::process::ExitCode;

use ami_core::Result;
use ami_sim::{FaultPlan, Sim};
use tracing_subscriber::layer::SubscriberExt;

use crate::args::{Options, Target, USAGE};
use crate::progress::ProgressLayer;
use crate::timeline::Timeline;
use crate::world::{Cast, World};

/// Runs a story: parses the command line (see `--help`), builds the world it asks for (the
/// simulator by default, in a paused runtime where waiting takes no real time), prints progress
/// while workflows wait, and turns the outcome into the exit code: 0 on success, 1 when the
/// story fails (the AWS error code and message are printed), 2 for a bad command line.
pub fn main_with<F, Fut>(about: &str, cast: Result<Cast>, story: F) -> ExitCode
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let program = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "example".to_owned());
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) if msg == USAGE => {
            println!("{program}: {about}\n\n{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{program}: {msg}");
            return ExitCode::from(2);
        }
    };
    let cast = match cast
        .map_err(|e| e.to_string())
        .and_then(|c| c.with_overrides(opts.accounts.clone(), opts.regions.clone()))
    {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{program}: {msg}");
            return ExitCode::from(2);
        }
    };
    let outcome = match &opts.target {
        Target::Sim => run_on_sim(&opts, cast, story),
        _ => run_on_aws(&program, &opts, cast, story),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\n{program} failed: [{}] {}", e.code(), e.message());
            if opts.target == Target::Sim {
                let faults = if opts.faults > 0.0 {
                    format!(" --faults {}", opts.faults)
                } else {
                    String::new()
                };
                eprintln!(
                    "(simulator seed {}: rerun with --seed {}{faults} to reproduce)",
                    opts.seed, opts.seed
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn install_progress(timeline: &Timeline, opts: &Options) {
    if opts.quiet {
        return;
    }
    let layer = ProgressLayer::new(timeline.clone(), opts.verbose);
    let subscriber = tracing_subscriber::registry().with(layer);
    // Only the first story of a process installs it; a second one keeps the first's.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn run_on_sim<F, Fut>(opts: &Options, cast: Cast, story: F) -> Result<()>
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| ami_core::Error::workflow(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let mut builder = Sim::builder()
            .seed(opts.seed)
            .regions(cast.regions.iter().map(|r| r.as_str()));
        for (_, a) in &cast.accounts {
            builder = builder.account(a.as_str());
        }
        if opts.faults > 0.0 {
            builder = builder.faults(
                FaultPlan::none()
                    .throttle(opts.faults)
                    .internal_errors(opts.faults / 5.0),
            );
        }
        let sim = builder.build()?;
        let timeline = Timeline::new(std::sync::Arc::new(sim.clock()));
        install_progress(&timeline, opts);
        let faults = if opts.faults > 0.0 {
            format!(", {}% of calls throttled", opts.faults * 100.0)
        } else {
            String::new()
        };
        timeline.title(format!(
            "on the simulator (seed {}{faults}), virtual clock starting {}",
            opts.seed,
            timeline.start()
        ));
        story(World::on_sim(sim, cast, timeline, opts.seed)).await
    })
}

#[cfg(not(feature = "aws"))]
fn run_on_aws<F, Fut>(program: &str, opts: &Options, _cast: Cast, _story: F) -> Result<()>
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    Err(ami_core::Error::from_code(
        "InvalidClientConfiguration",
        format!(
            "running against {} needs the AWS backend, which this build leaves out; rebuild \
             with it:\n  cargo run -p ami-examples --features aws --bin {program} -- {}",
            opts.target,
            args.join(" ")
        ),
    ))
}

#[cfg(feature = "aws")]
fn run_on_aws<F, Fut>(_program: &str, opts: &Options, cast: Cast, story: F) -> Result<()>
where
    F: FnOnce(World) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    use std::sync::Arc;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ami_core::Error::workflow(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let config = match &opts.target {
            // The emulator's STS says which account the test credentials act as.
            Target::Endpoint(url) => ami_aws::AwsConfig::emulator(url.clone()),
            _ => ami_aws::AwsConfig::new(),
        }
        .region(cast.region(0).as_str());
        let role = opts
            .role
            .clone()
            .unwrap_or_else(|| "ami-examples".to_owned());
        let backend = config.assume_role_name(role).build().await?;
        let mut cast = cast;
        if opts.accounts.is_none() {
            if opts.target == Target::Aws && cast.accounts.len() > 1 {
                return Err(ami_core::Error::from_code(
                    "InvalidParameterValue",
                    format!(
                        "on AWS this story needs {} accounts ({}): pass --accounts with your \
                         account {} first, and create the role named by --role in the others",
                        cast.accounts.len(),
                        cast.accounts
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        backend.account()
                    ),
                ));
            }
            cast.accounts[0].1 = backend.account().clone();
        }
        let connector: Arc<dyn ami_core::Connector> = Arc::new(backend.connector());
        let timeline = Timeline::new(connector.clock());
        install_progress(&timeline, opts);
        timeline.title(format!(
            "on {} as account {} ({}), starting {}",
            opts.target,
            backend.account(),
            backend.region(),
            timeline.start()
        ));
        let world = World::on_connector(connector, cast, timeline.clone(), opts.target.clone());
        let outcome = story(world.clone()).await;
        // Nothing the story launched keeps running (and billing) after it.
        let stopped = world.terminate_launched().await;
        timeline.title(format!(
            "cleanup: {stopped} instance(s) the story launched terminated; its images, \
             snapshots and KMS keys are left for you to inspect and delete"
        ));
        outcome
    })
}
