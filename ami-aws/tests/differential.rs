//! Differential test: the same seeded random single-account sequence of operations runs, step
//! by step, on the simulator (ami-sim, paused virtual time) and on a moto server through
//! ami-aws; the outcomes (success with a normalized summary, or the AWS error code) are compared.
//!
//! Where moto does not model AWS's behaviour, the difference is one of the known divergences of
//! [`KNOWN`], each listed with its reason in `ami-aws/DIVERGENCES.md`. Any other difference fails
//! the test with the seed and the step, so it can be replayed: `AMI_DIFF_SEED=<seed>`.
//!
//! Runs only when `AMI_MOTO_ENDPOINT` is set (`scripts/test` starts moto and sets it).

mod moto_env;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ami_aws::AwsConfig;
use ami_core::api::{
    CopyImageRequest, CreateImageRequest, CreateKeyRequest, DeregisterImageRequest,
    DescribeImagesRequest, DescribeSnapshotsRequest, Filter, Owner, PermissionChanges,
    RunInstancesRequest,
};
use ami_core::model::{CreateVolumePermission, OwnerAlias, ResourceId};
use ami_core::{
    AccountId, Ec2, Ec2Ext, ImageId, ImageState, InstanceId, InstanceState, Kms, KmsKeyRef,
    LaunchPermission, Region, SnapshotId,
};
use ami_sim::Sim;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// moto's default account: the simulator acts as the same account, so owners compare equal.
const ACCOUNT: &str = "123456789012";
/// The account images and snapshots are shared with.
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";
const STEPS: usize = 40;
const SEEDS: [u64; 8] = [1, 2, 3, 5, 8, 12, 13, 16];

/// A reference to an image: one both backends created (by creation order), or an id neither has.
#[derive(Debug, Clone, Copy)]
enum Target {
    Handle(usize),
    Unknown,
}

/// One operation of the sequence, on symbolic handles.
#[derive(Debug, Clone)]
enum Op {
    RunInstance,
    StopInstance(usize),
    TerminateInstance(usize),
    /// CreateImage; `reuse` names it like an earlier image (a duplicate name).
    CreateImage {
        instance: usize,
        reuse: Option<usize>,
    },
    CreateImageOfUnknownInstance,
    CopyImage(Target),
    DescribeImage(Target),
    DeregisterImage(Target),
    ShareImage {
        image: Target,
        add: bool,
    },
    DescribeLaunchPermissions(Target),
    TagImage(Target),
    DeleteRootSnapshot(usize),
    DescribeRootSnapshot(usize),
    ShareRootSnapshot(usize),
    CreateKey,
    DescribeKey(Option<usize>),
}

impl Op {
    /// The operation's kind, as named in the divergence table.
    fn kind(&self) -> &'static str {
        match self {
            Op::RunInstance => "RunInstances",
            Op::StopInstance(_) => "StopInstances",
            Op::TerminateInstance(_) => "TerminateInstances",
            Op::CreateImage { .. } | Op::CreateImageOfUnknownInstance => "CreateImage",
            Op::CopyImage(_) => "CopyImage",
            Op::DescribeImage(_) => "DescribeImages",
            Op::DeregisterImage(_) => "DeregisterImage",
            Op::ShareImage { .. } => "ModifyImageAttribute",
            Op::DescribeLaunchPermissions(_) => "DescribeImageAttribute",
            Op::TagImage(_) => "CreateTags",
            Op::DeleteRootSnapshot(_) => "DeleteSnapshot",
            Op::DescribeRootSnapshot(_) => "DescribeSnapshots",
            Op::ShareRootSnapshot(_) => "ModifySnapshotAttribute",
            Op::CreateKey => "CreateKey",
            Op::DescribeKey(_) => "DescribeKey",
        }
    }
}

/// What a step gave: success with a summary that does not depend on ids, or an error code.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obs {
    Ok(String),
    Err(String),
}

impl fmt::Display for Obs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obs::Ok(s) => write!(f, "ok({s})"),
            Obs::Err(c) => write!(f, "error {c}"),
        }
    }
}

fn obs<T>(r: ami_core::Result<T>, summary: impl FnOnce(T) -> String) -> Obs {
    match r {
        Ok(v) => Obs::Ok(summary(v)),
        Err(e) => Obs::Err(e.code().to_owned()),
    }
}

/// A known divergence: on this operation, the simulator (as AWS) gives `sim` and moto gives
/// `moto` (`*` matches anything). The reasons are in `ami-aws/DIVERGENCES.md`.
struct Known {
    op: &'static str,
    sim: &'static str,
    moto: &'static str,
    why: &'static str,
}

/// Renders an observation for matching: `ok` or the error code (`ok:<summary>` is matched by
/// prefix `ok`).
fn key(o: &Obs) -> String {
    match o {
        Obs::Ok(s) => format!("ok:{s}"),
        Obs::Err(c) => c.clone(),
    }
}

fn matches(pattern: &str, o: &Obs) -> bool {
    pattern == "*" || key(o) == pattern || key(o).starts_with(&format!("{pattern}:"))
}

const KNOWN: &[Known] = &[
    Known {
        op: "CreateImage",
        sim: "InvalidAMIName.Duplicate",
        moto: "ok",
        why: "moto does not check image names for uniqueness",
    },
    Known {
        op: "CreateImage",
        sim: "InvalidParameterValue",
        moto: "ok",
        why: "moto does not check the instance state: it images a terminated instance",
    },
    Known {
        op: "StopInstances",
        sim: "IncorrectInstanceState",
        moto: "ok",
        why: "moto stops a terminated instance instead of refusing with IncorrectInstanceState",
    },
    Known {
        op: "DescribeImages",
        sim: "ok:deregistered",
        moto: "*",
        why: "AWS (and the simulator) still describe a just-deregistered image as `deregistered`; moto forgets it at once",
    },
    Known {
        op: "DescribeImageAttribute",
        sim: "*",
        moto: "Unknown",
        why: "moto answers DescribeImageAttribute of an unknown or deregistered image with HTTP 500 (no error code)",
    },
    Known {
        op: "ModifyImageAttribute",
        sim: "*",
        moto: "Unknown",
        why: "moto answers ModifyImageAttribute of a deregistered image with HTTP 500 (no error code)",
    },
    Known {
        op: "CopyImage",
        sim: "*",
        moto: "Unknown",
        why: "moto answers CopyImage of a deregistered source with HTTP 500 (no error code)",
    },
];

/// The seeded sequence: a pure function of the seed, drawn before anything runs.
fn script(seed: u64) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Counts of handles as the script expects them (an upper bound: a step can fail).
    let (mut instances, mut images, mut keys) = (0usize, 0usize, 0usize);
    let mut ops = vec![Op::RunInstance];
    instances += 1;
    for _ in 1..STEPS {
        let target = |rng: &mut ChaCha8Rng, n: usize| {
            if n == 0 || rng.random_range(0..10) == 0 {
                Target::Unknown
            } else {
                Target::Handle(rng.random_range(0..n))
            }
        };
        let op = match rng.random_range(0..18) {
            0 => Op::RunInstance,
            1 if instances > 0 => Op::StopInstance(rng.random_range(0..instances)),
            2 if instances > 0 && rng.random_range(0..3) == 0 => {
                Op::TerminateInstance(rng.random_range(0..instances))
            }
            3..=5 if instances > 0 => Op::CreateImage {
                instance: rng.random_range(0..instances),
                reuse: (images > 0 && rng.random_range(0..4) == 0)
                    .then(|| rng.random_range(0..images)),
            },
            6 => Op::CreateImageOfUnknownInstance,
            7 => Op::CopyImage(target(&mut rng, images)),
            8 => Op::DescribeImage(target(&mut rng, images)),
            9 if rng.random_range(0..2) == 0 => Op::DeregisterImage(target(&mut rng, images)),
            10 => Op::ShareImage {
                image: target(&mut rng, images),
                add: rng.random_range(0..3) > 0,
            },
            11 => Op::DescribeLaunchPermissions(target(&mut rng, images)),
            12 => Op::TagImage(target(&mut rng, images)),
            13 if images > 0 => Op::DeleteRootSnapshot(rng.random_range(0..images)),
            14 if images > 0 => Op::DescribeRootSnapshot(rng.random_range(0..images)),
            15 if images > 0 => Op::ShareRootSnapshot(rng.random_range(0..images)),
            16 => Op::CreateKey,
            17 => Op::DescribeKey((keys > 0).then(|| rng.random_range(0..keys))),
            _ => Op::DescribeImage(target(&mut rng, images)),
        };
        match &op {
            Op::RunInstance => instances += 1,
            Op::CreateImage { .. } | Op::CopyImage(_) => images += 1,
            Op::CreateKey => keys += 1,
            _ => {}
        }
        ops.push(op);
    }
    ops
}

/// One backend's clients and the ids behind the shared handles.
struct Side {
    name: &'static str,
    ec2: Arc<dyn Ec2>,
    kms: Arc<dyn Kms>,
    base: ImageId,
    prefix: String,
    instances: Vec<InstanceId>,
    images: Vec<(ImageId, String, Option<SnapshotId>)>,
    keys: Vec<KmsKeyRef>,
    made_images: Vec<ImageId>,
    poll: Duration,
}

/// What a step created on one side, kept as a handle only if both sides created it.
enum Made {
    Instance(InstanceId),
    Image(ImageId, String),
    Key(KmsKeyRef),
}

fn unknown_image() -> ImageId {
    ImageId::from_u128(0xd1ff_0000_dead)
}

impl Side {
    fn image(&self, t: Target) -> ImageId {
        match t {
            Target::Handle(i) => self
                .images
                .get(i % self.images.len().max(1))
                .map(|(id, _, _)| id.clone())
                .unwrap_or_else(unknown_image),
            Target::Unknown => unknown_image(),
        }
    }

    fn root_snapshot(&self, i: usize) -> Option<SnapshotId> {
        self.images
            .get(i % self.images.len().max(1))
            .and_then(|(_, _, s)| s.clone())
    }

    fn instance(&self, i: usize) -> Option<InstanceId> {
        self.instances.get(i % self.instances.len().max(1)).cloned()
    }

    async fn wait_instance(&self, id: &InstanceId, want: InstanceState) {
        for _ in 0..600 {
            match self.ec2.describe_instance(id).await {
                Ok(i) if i.state == want => return,
                _ => tokio::time::sleep(self.poll).await,
            }
        }
    }

    /// Waits until the image leaves `pending`, and returns its root snapshot.
    async fn settle_image(&self, id: &ImageId) -> Option<SnapshotId> {
        for _ in 0..600 {
            match self.ec2.describe_image(id).await {
                Ok(i) if i.state == ImageState::Pending => tokio::time::sleep(self.poll).await,
                Ok(i) => return i.snapshot_ids().first().map(|s| (*s).clone()),
                Err(_) => return None,
            }
        }
        None
    }

    async fn exec(&mut self, step: usize, op: &Op) -> (Obs, Option<Made>) {
        let other: AccountId = OTHER.parse().unwrap();
        let region: Region = REGION.parse().unwrap();
        let name = format!("{}-{step}", self.prefix);
        match op {
            Op::RunInstance => {
                let r = self
                    .ec2
                    .run_instances(RunInstancesRequest::new(self.base.clone()))
                    .await;
                match r {
                    Ok(mut v) if !v.is_empty() => {
                        let inst = v.remove(0);
                        self.wait_instance(&inst.id, InstanceState::Running).await;
                        (Obs::Ok("running".into()), Some(Made::Instance(inst.id)))
                    }
                    r => (obs(r, |v| format!("{} instances", v.len())), None),
                }
            }
            Op::StopInstance(i) => {
                let Some(id) = self.instance(*i) else {
                    return (Obs::Ok("no instance".into()), None);
                };
                let r = self.ec2.stop_instances(vec![id.clone()]).await;
                if r.is_ok() {
                    self.wait_instance(&id, InstanceState::Stopped).await;
                }
                (obs(r, |v| format!("{} changed", v.len())), None)
            }
            Op::TerminateInstance(i) => {
                let Some(id) = self.instance(*i) else {
                    return (Obs::Ok("no instance".into()), None);
                };
                let r = self.ec2.terminate_instances(vec![id]).await;
                (obs(r, |v| format!("{} changed", v.len())), None)
            }
            Op::CreateImage { instance, reuse } => {
                let Some(id) = self.instance(*instance) else {
                    return (Obs::Ok("no instance".into()), None);
                };
                let name = match reuse {
                    Some(j) if !self.images.is_empty() => {
                        self.images[j % self.images.len()].1.clone()
                    }
                    _ => name,
                };
                let r = self
                    .ec2
                    .create_image(CreateImageRequest::new(id, name.clone()).no_reboot(true))
                    .await;
                self.made(r, name).await
            }
            Op::CreateImageOfUnknownInstance => {
                let r = self
                    .ec2
                    .create_image(CreateImageRequest::new(
                        InstanceId::from_u128(0xd1ff_0000_beef),
                        name.clone(),
                    ))
                    .await;
                self.made(r, name).await
            }
            Op::CopyImage(t) => {
                let r = self
                    .ec2
                    .copy_image(CopyImageRequest::new(region, self.image(*t), name.clone()))
                    .await;
                self.made(r, name).await
            }
            Op::DescribeImage(t) => {
                let id = self.image(*t);
                let r = self
                    .ec2
                    .describe_images(DescribeImagesRequest::ids([id.clone()]))
                    .await;
                let o = obs(r, |page| match page.items.iter().find(|i| i.id == id) {
                    None => "gone".into(),
                    Some(i) if i.state == ImageState::Deregistered => "deregistered".into(),
                    Some(i) => format!(
                        "{} public={} devices={} tags={:?}",
                        i.state,
                        i.public,
                        i.block_devices.len(),
                        i.tags
                    ),
                });
                (o, None)
            }
            Op::DeregisterImage(t) => {
                let r = self
                    .ec2
                    .deregister_image(DeregisterImageRequest::new(self.image(*t)))
                    .await;
                (obs(r, |v| format!("{} snapshot results", v.len())), None)
            }
            Op::ShareImage { image, add } => {
                let grant = LaunchPermission::Account(other);
                let changes = if *add {
                    PermissionChanges::add([grant])
                } else {
                    PermissionChanges::remove([grant])
                };
                let r = self
                    .ec2
                    .modify_launch_permissions(self.image(*image), changes)
                    .await;
                (obs(r, |()| "modified".into()), None)
            }
            Op::DescribeLaunchPermissions(t) => {
                let r = self.ec2.describe_launch_permissions(self.image(*t)).await;
                (obs(r, |v| format!("{v:?}")), None)
            }
            Op::TagImage(t) => {
                let r = self
                    .ec2
                    .create_tags(
                        vec![ResourceId::Image(self.image(*t))],
                        [(format!("k{step}"), "v".to_owned())].into(),
                    )
                    .await;
                (obs(r, |()| "tagged".into()), None)
            }
            Op::DeleteRootSnapshot(i) => match self.root_snapshot(*i) {
                None => (Obs::Ok("no snapshot".into()), None),
                Some(s) => (
                    obs(self.ec2.delete_snapshot(s).await, |()| "deleted".into()),
                    None,
                ),
            },
            Op::DescribeRootSnapshot(i) => match self.root_snapshot(*i) {
                None => (Obs::Ok("no snapshot".into()), None),
                Some(s) => {
                    let r = self
                        .ec2
                        .describe_snapshots(DescribeSnapshotsRequest::ids([s]))
                        .await;
                    (
                        obs(r, |p| {
                            p.items
                                .iter()
                                .map(|s| {
                                    format!(
                                        "owner={} encrypted={}",
                                        s.owner,
                                        s.encryption.is_some()
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(",")
                        }),
                        None,
                    )
                }
            },
            Op::ShareRootSnapshot(i) => match self.root_snapshot(*i) {
                None => (Obs::Ok("no snapshot".into()), None),
                Some(s) => {
                    let r = self
                        .ec2
                        .modify_snapshot_permissions(
                            s.clone(),
                            PermissionChanges::add([CreateVolumePermission::Account(other)]),
                        )
                        .await;
                    if let Err(e) = r {
                        return (Obs::Err(e.code().to_owned()), None);
                    }
                    let r = self.ec2.describe_snapshot_permissions(s).await;
                    (obs(r, |v| format!("shared {v:?}")), None)
                }
            },
            Op::CreateKey => {
                let r = self.kms.create_key(CreateKeyRequest::new(name)).await;
                match r {
                    Ok(k) => (Obs::Ok("created".into()), Some(Made::Key(k.arn))),
                    Err(e) => (Obs::Err(e.code().to_owned()), None),
                }
            }
            Op::DescribeKey(k) => {
                let key = match k.and_then(|k| self.keys.get(k % self.keys.len().max(1))) {
                    Some(key) => key.clone(),
                    None => KmsKeyRef::key_arn(
                        &region,
                        &ACCOUNT.parse().unwrap(),
                        "0000d1ff-0000-4000-8000-00000000d1ff",
                    )
                    .unwrap(),
                };
                let r = self.kms.describe_key(key).await;
                (obs(r, |k| format!("{:?} {:?}", k.manager, k.state)), None)
            }
        }
    }

    async fn made(&mut self, r: ami_core::Result<ImageId>, name: String) -> (Obs, Option<Made>) {
        match r {
            Ok(id) => {
                self.made_images.push(id.clone());
                (Obs::Ok("created".into()), Some(Made::Image(id, name)))
            }
            Err(e) => (Obs::Err(e.code().to_owned()), None),
        }
    }

    /// Keeps what this step made as the next handle (both sides made it).
    async fn keep(&mut self, made: Made) {
        match made {
            Made::Instance(id) => self.instances.push(id),
            Made::Image(id, name) => {
                let snap = self.settle_image(&id).await;
                self.images.push((id, name, snap));
            }
            Made::Key(k) => self.keys.push(k),
        }
    }

    /// Best-effort cleanup of what the sequence made.
    async fn cleanup(&self) {
        for id in &self.made_images {
            let snaps = match self.ec2.describe_image(id).await {
                Ok(i) => i.snapshot_ids().into_iter().cloned().collect(),
                Err(_) => Vec::new(),
            };
            let _ = self
                .ec2
                .deregister_image(DeregisterImageRequest::new(id.clone()))
                .await;
            for s in snaps {
                let _ = self.ec2.delete_snapshot(s).await;
            }
        }
        let _ = self.ec2.terminate_instances(self.instances.clone()).await;
    }
}

/// One divergence seen in a run.
#[derive(Debug)]
struct Seen {
    step: usize,
    op: Op,
    sim: Obs,
    moto: Obs,
    why: Option<&'static str>,
}

/// Runs a future to completion on a runtime from this (non-async) thread.
fn on<F: Future>(rt: &tokio::runtime::Runtime, f: F) -> F::Output {
    rt.block_on(f)
}

fn run_seed(endpoint: &str, seed: u64) -> Vec<Seen> {
    // The simulator runs on its own current-thread runtime with paused virtual time; moto on a
    // normal runtime, where SDK timeouts use real time.
    let sim_rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let aws_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("diff{}-{seed}", std::process::id());
    let mut sim_side = on(&sim_rt, async {
        let sim = Sim::builder()
            .seed(seed)
            .regions([REGION])
            .account(ACCOUNT)
            .account(OTHER)
            .build()
            .unwrap();
        let (account, region): (AccountId, Region) =
            (ACCOUNT.parse().unwrap(), REGION.parse().unwrap());
        Side {
            name: "ami-sim",
            ec2: sim.ec2(&account, &region),
            kms: sim.kms(&account, &region),
            base: sim.amazon_image(&region, "al2023").unwrap(),
            prefix: prefix.clone(),
            instances: Vec::new(),
            images: Vec::new(),
            keys: Vec::new(),
            made_images: Vec::new(),
            poll: Duration::from_secs(15),
        }
    });
    let mut moto_side = on(&aws_rt, async {
        let backend = AwsConfig::emulator(endpoint.to_owned())
            .max_attempts(1)
            .build()
            .await
            .unwrap_or_else(|e| panic!("moto at {endpoint}: {e}"));
        let ec2: Arc<dyn Ec2> = Arc::new(backend.ec2());
        let base = ec2
            .describe_images(
                DescribeImagesRequest::new()
                    .owner(Owner::Alias(OwnerAlias::Amazon))
                    .filter(Filter::new("name", ["ubuntu/images/hvm-ssd/*"])),
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.id)
            .min()
            .expect("an Ubuntu image in moto's catalogue");
        Side {
            name: "moto",
            ec2,
            kms: Arc::new(backend.kms()),
            base,
            prefix: prefix.clone(),
            instances: Vec::new(),
            images: Vec::new(),
            keys: Vec::new(),
            made_images: Vec::new(),
            poll: Duration::from_millis(100),
        }
    });

    let mut seen = Vec::new();
    for (step, op) in script(seed).into_iter().enumerate() {
        let (a, made_a) = on(&sim_rt, sim_side.exec(step, &op));
        let (b, made_b) = on(&aws_rt, moto_side.exec(step, &op));
        // A resource made on one side only is no shared handle (it is still cleaned up).
        if let (Some(x), Some(y)) = (made_a, made_b) {
            on(&sim_rt, sim_side.keep(x));
            on(&aws_rt, moto_side.keep(y));
        }
        if std::env::var_os("AMI_DIFF_TRACE").is_some() {
            println!(
                "seed {seed} step {step} {op:?}: {} {a} / {} {b}",
                sim_side.name, moto_side.name
            );
        }
        if a == b {
            continue;
        }
        let why = KNOWN
            .iter()
            .find(|k| k.op == op.kind() && matches(k.sim, &a) && matches(k.moto, &b))
            .map(|k| k.why);
        seen.push(Seen {
            step,
            op,
            sim: a,
            moto: b,
            why,
        });
    }
    on(&sim_rt, sim_side.cleanup());
    on(&aws_rt, moto_side.cleanup());
    seen
}

/// The same seeded sequences on the simulator and on moto: every difference in outcome is one
/// of the known, documented divergences.
#[test]
fn simulator_and_moto_agree_except_known_divergences() {
    let Some(endpoint) = moto_env::moto_endpoint(module_path!()) else {
        return;
    };
    let seeds: Vec<u64> = match std::env::var("AMI_DIFF_SEED") {
        Ok(s) => s
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("AMI_DIFF_SEED is a comma-separated list of numbers")
            })
            .collect(),
        Err(_) => SEEDS.to_vec(),
    };
    let mut unknown = Vec::new();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    let steps = seeds.len() * STEPS;
    for seed in seeds {
        for s in run_seed(&endpoint, seed) {
            match s.why {
                Some(w) => *by_reason.entry(w).or_default() += 1,
                None => unknown.push(format!(
                    "seed {seed} step {} {:?}: ami-sim {} / moto {}",
                    s.step, s.op, s.sim, s.moto
                )),
            }
        }
    }
    for line in &unknown {
        println!("{line}");
    }
    let known: usize = by_reason.values().sum();
    println!(
        "differential: {steps} steps, {} agreed, {known} known divergences, {} unexplained",
        steps - known - unknown.len(),
        unknown.len()
    );
    for k in KNOWN {
        if !by_reason.contains_key(k.why) {
            println!(
                "known divergence not seen in these seeds: {} ({} / {})",
                k.why, k.sim, k.moto
            );
        }
    }
    for (why, n) in &by_reason {
        println!("known divergence x{n}: {why}");
    }
    assert!(
        unknown.is_empty(),
        "{} unexplained divergence(s) (replay with AMI_DIFF_SEED=<seed>):\n{}",
        unknown.len(),
        unknown.join("\n")
    );
}

/// The sequence is a pure function of the seed, so both backends run the same operations.
#[test]
fn the_script_depends_only_on_the_seed() {
    let a: Vec<String> = script(9).iter().map(|o| format!("{o:?}")).collect();
    let b: Vec<String> = script(9).iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), STEPS);
    assert_ne!(
        a,
        script(10)
            .iter()
            .map(|o| format!("{o:?}"))
            .collect::<Vec<_>>()
    );
}
