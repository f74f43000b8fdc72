//! The compliance scan of `ops::govern` over 1,000,000 instances, and prints instances per
//! second (target: over 1,000,000/s on one core).
//!
//! Two measurements:
//!
//! 1. **1,000,000 instances** in one account and Region, 1,000 distinct images (10% of them
//!    unapproved), served in DescribeInstances pages of 1,000 by an in-memory backend that
//!    hands its pre-built pages over without copying, so the figure is the scan's own cost:
//!    paging, resolving each image once, one cached verdict lookup per instance, findings.
//! 2. **The simulator end to end**: 2 accounts × 2 Regions × 1,000 instances on `ami-sim`,
//!    where each DescribeInstances page is filtered and cloned by the simulator.
//!
//! Run: `cargo bench -p ami-benches --bench compliance_scan`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest,
    DescribeInstancesRequest, DescribeSnapshotsRequest, InstanceStateChange, Page,
    PermissionChanges, RegisterImageRequest, RunInstancesRequest,
};
use ami_core::model::{AttachedVolume, BlockPublicAccessState, DeleteSnapshotResult, ResourceId};
use ami_core::ops::govern::{scan, ApprovalPolicy, ScanScope};
use ami_core::{
    AccountId, Clock, Connector, CreateVolumePermission, DeregistrationProtection, Ec2, Error,
    Image, ImageId, ImageState, Instance, InstanceId, InstanceState, Kms, LaunchPermission, Region,
    Result, Snapshot, SnapshotId, Tags, Timestamp, VolumeId,
};
use async_trait::async_trait;

const INSTANCES: usize = 1_000_000;
const IMAGES: usize = 1_000;
const PAGE: usize = 1_000;
const ROUNDS: usize = 5;

type BoxError = Box<dyn std::error::Error>;

fn factory() -> AccountId {
    AccountId::from_number(111_122_223_333)
}

fn fleet_account() -> AccountId {
    AccountId::from_number(444_455_556_666)
}

fn now() -> Timestamp {
    Timestamp::from_secs(1_767_225_600)
}

#[derive(Debug)]
struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// One account and Region whose instances are pre-built pages, each handed out once.
#[derive(Debug)]
struct Fleet {
    account: AccountId,
    region: Region,
    pages: Mutex<Vec<Option<Vec<Instance>>>>,
    images: BTreeMap<ImageId, Image>,
}

fn unsupported<T>(op: &str) -> Result<T> {
    Err(Error::from_code(
        "UnsupportedOperation",
        format!("{op} is not part of the benchmark backend"),
    ))
}

#[async_trait]
impl Ec2 for Fleet {
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn region(&self) -> &Region {
        &self.region
    }
    fn dry_run(&self) -> Arc<dyn Ec2> {
        // The benchmark backend changes nothing anyway: an empty fleet of the same scope.
        Arc::new(Fleet {
            account: self.account.clone(),
            region: self.region.clone(),
            pages: Mutex::new(Vec::new()),
            images: BTreeMap::new(),
        })
    }
    async fn run_instances(&self, _: RunInstancesRequest) -> Result<Vec<Instance>> {
        unsupported("RunInstances")
    }
    async fn describe_instances(&self, req: DescribeInstancesRequest) -> Result<Page<Instance>> {
        let index: usize = match req.next_token {
            None => 0,
            Some(t) => t
                .parse()
                .map_err(|_| Error::from_code("InvalidNextToken", t))?,
        };
        let mut pages = self.pages.lock().map_err(|_| Error::workflow("poisoned"))?;
        let total = pages.len();
        let items = pages
            .get_mut(index)
            .and_then(Option::take)
            .unwrap_or_default();
        Ok(Page {
            items,
            next_token: (index + 1 < total).then(|| (index + 1).to_string()),
        })
    }
    async fn stop_instances(&self, _: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        unsupported("StopInstances")
    }
    async fn start_instances(&self, _: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        unsupported("StartInstances")
    }
    async fn reboot_instances(&self, _: Vec<InstanceId>) -> Result<()> {
        unsupported("RebootInstances")
    }
    async fn terminate_instances(&self, _: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        unsupported("TerminateInstances")
    }
    async fn create_image(&self, _: CreateImageRequest) -> Result<ImageId> {
        unsupported("CreateImage")
    }
    async fn copy_image(&self, _: CopyImageRequest) -> Result<ImageId> {
        unsupported("CopyImage")
    }
    async fn register_image(&self, _: RegisterImageRequest) -> Result<ImageId> {
        unsupported("RegisterImage")
    }
    async fn describe_images(&self, req: DescribeImagesRequest) -> Result<Page<Image>> {
        let mut items = Vec::with_capacity(req.image_ids.len());
        for id in &req.image_ids {
            match self.images.get(id) {
                Some(i) => items.push(i.clone()),
                None => {
                    return Err(Error::from_code(
                        "InvalidAMIID.NotFound",
                        format!("The image id '[{id}]' does not exist"),
                    ))
                }
            }
        }
        Ok(Page::last(items))
    }
    async fn deregister_image(
        &self,
        _: DeregisterImageRequest,
    ) -> Result<Vec<DeleteSnapshotResult>> {
        unsupported("DeregisterImage")
    }
    async fn describe_launch_permissions(&self, _: ImageId) -> Result<Vec<LaunchPermission>> {
        unsupported("DescribeImageAttribute")
    }
    async fn modify_launch_permissions(
        &self,
        _: ImageId,
        _: PermissionChanges<LaunchPermission>,
    ) -> Result<()> {
        unsupported("ModifyImageAttribute")
    }
    async fn reset_launch_permissions(&self, _: ImageId) -> Result<()> {
        unsupported("ResetImageAttribute")
    }
    async fn cancel_image_launch_permission(&self, _: ImageId) -> Result<()> {
        unsupported("CancelImageLaunchPermission")
    }
    async fn modify_image_description(&self, _: ImageId, _: String) -> Result<()> {
        unsupported("ModifyImageAttribute")
    }
    async fn enable_image_deprecation(&self, _: ImageId, _: Timestamp) -> Result<()> {
        unsupported("EnableImageDeprecation")
    }
    async fn disable_image_deprecation(&self, _: ImageId) -> Result<()> {
        unsupported("DisableImageDeprecation")
    }
    async fn enable_image_deregistration_protection(&self, _: ImageId, _: bool) -> Result<()> {
        unsupported("EnableImageDeregistrationProtection")
    }
    async fn disable_image_deregistration_protection(&self, _: ImageId) -> Result<()> {
        unsupported("DisableImageDeregistrationProtection")
    }
    async fn disable_image(&self, _: ImageId) -> Result<()> {
        unsupported("DisableImage")
    }
    async fn enable_image(&self, _: ImageId) -> Result<()> {
        unsupported("EnableImage")
    }
    async fn get_image_block_public_access_state(&self) -> Result<BlockPublicAccessState> {
        unsupported("GetImageBlockPublicAccessState")
    }
    async fn enable_image_block_public_access(&self) -> Result<()> {
        unsupported("EnableImageBlockPublicAccess")
    }
    async fn disable_image_block_public_access(&self) -> Result<()> {
        unsupported("DisableImageBlockPublicAccess")
    }
    async fn create_tags(&self, _: Vec<ResourceId>, _: Tags) -> Result<()> {
        unsupported("CreateTags")
    }
    async fn delete_tags(&self, _: Vec<ResourceId>, _: Vec<String>) -> Result<()> {
        unsupported("DeleteTags")
    }
    async fn describe_snapshots(&self, _: DescribeSnapshotsRequest) -> Result<Page<Snapshot>> {
        unsupported("DescribeSnapshots")
    }
    async fn delete_snapshot(&self, _: SnapshotId) -> Result<()> {
        unsupported("DeleteSnapshot")
    }
    async fn describe_snapshot_permissions(
        &self,
        _: SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>> {
        unsupported("DescribeSnapshotAttribute")
    }
    async fn modify_snapshot_permissions(
        &self,
        _: SnapshotId,
        _: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()> {
        unsupported("ModifySnapshotAttribute")
    }
}

#[derive(Debug)]
struct FleetConnector {
    fleet: Arc<Fleet>,
}

impl Connector for FleetConnector {
    fn ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>> {
        if account == &self.fleet.account && region == &self.fleet.region {
            Ok(self.fleet.clone())
        } else {
            Err(Error::from_code(
                "AuthFailure",
                format!("no benchmark fleet for {account} in {region}"),
            ))
        }
    }
    fn kms(&self, account: &AccountId, _: &Region) -> Result<Arc<dyn Kms>> {
        Err(Error::from_code(
            "AuthFailure",
            format!("no KMS in the benchmark for {account}"),
        ))
    }
    fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(FixedClock(now()))
    }
}

fn image(n: usize, region: &Region) -> Image {
    let mut tags = Tags::new();
    // Every tenth image lacks the approval.
    tags.insert(
        "Approved".into(),
        if n % 10 == 0 { "no" } else { "true" }.into(),
    );
    Image {
        id: ImageId::from_u128(0xa000_0000 + n as u128),
        region: region.clone(),
        name: format!("golden-{n}"),
        description: None,
        owner: factory(),
        owner_alias: None,
        state: ImageState::Available,
        state_reason: None,
        public: false,
        block_devices: Vec::new(),
        root_device_name: "/dev/xvda".into(),
        architecture: "x86_64".into(),
        product_codes: Vec::new(),
        tags,
        creation_time: now().sub(Duration::from_secs(86_400)),
        deprecation_time: None,
        deregistration_protection: DeregistrationProtection::Disabled,
        source_image_id: None,
        source_region: None,
        source_instance_id: None,
        last_launched_time: None,
    }
}

fn instance(n: usize, region: &Region) -> Instance {
    let mut tags = Tags::new();
    tags.insert("Name".into(), format!("web-{n}"));
    Instance {
        id: InstanceId::from_u128(n as u128),
        region: region.clone(),
        owner: fleet_account(),
        image_id: ImageId::from_u128(0xa000_0000 + (n * 7919 % IMAGES) as u128),
        instance_type: "m5.large".into(),
        state: if n % 50 == 0 {
            InstanceState::Stopped
        } else {
            InstanceState::Running
        },
        state_reason: None,
        launch_time: now(),
        volumes: vec![AttachedVolume {
            device_name: "/dev/xvda".into(),
            volume_id: VolumeId::from_u128(n as u128),
            size_gib: 8,
            encryption: None,
            delete_on_termination: true,
        }],
        product_codes: Vec::new(),
        tags,
    }
}

fn fleet(region: &Region) -> Fleet {
    let pages = (0..INSTANCES)
        .collect::<Vec<_>>()
        .chunks(PAGE)
        .map(|c| Some(c.iter().map(|n| instance(*n, region)).collect()))
        .collect();
    Fleet {
        account: fleet_account(),
        region: region.clone(),
        pages: Mutex::new(pages),
        images: (0..IMAGES)
            .map(|n| {
                let i = image(n, region);
                (i.id.clone(), i)
            })
            .collect(),
    }
}

fn policy() -> std::result::Result<ApprovalPolicy, BoxError> {
    Ok(ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(factory())
        .max_age_days(90)
        .deny_deprecated(true)
        .build()?)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds on the CPU);
/// `None` where that file does not exist. On a shared machine this is the honest "one core"
/// figure: time spent waiting for the CPU does not count.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn per_second(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn million_instances(rt: &tokio::runtime::Runtime) -> std::result::Result<(), BoxError> {
    let region: Region = "us-east-1".parse()?;
    let policy = policy()?;
    let scope = ScanScope::new([fleet_account()], [region.clone()]);
    let mut times = Vec::new();
    let mut cpu_times = Vec::new();
    let mut findings = 0;
    for _ in 0..ROUNDS {
        let connector = FleetConnector {
            fleet: Arc::new(fleet(&region)),
        };
        // Measured: the scan only (the backend is built above, outside the timing).
        let start = Instant::now();
        let cpu_start = thread_cpu_time();
        let report = rt.block_on(scan(&connector, &policy, &scope))?;
        times.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_time()) {
            cpu_times.push(b.saturating_sub(a));
        }
        if report.instances_scanned != INSTANCES as u64 || !report.errors.is_empty() {
            return Err(format!(
                "scanned {} instances with {} errors",
                report.instances_scanned,
                report.errors.len()
            )
            .into());
        }
        findings = report.findings.len();
        drop(connector);
    }
    times.sort();
    let median = times[times.len() / 2];
    let best = times[0];
    println!(
        "compliance scan, {INSTANCES} instances, {IMAGES} images, pages of {PAGE}: \
         {findings} non-compliant"
    );
    println!(
        "  median {:.1} ms = {:.0} instances/s; best {:.1} ms = {:.0} instances/s (target > 1,000,000/s)",
        median.as_secs_f64() * 1e3,
        per_second(INSTANCES as u64, median),
        best.as_secs_f64() * 1e3,
        per_second(INSTANCES as u64, best),
    );
    cpu_times.sort();
    if let Some(cpu) = cpu_times.get(cpu_times.len() / 2) {
        println!(
            "  on-CPU time of the scanning thread (median): {:.1} ms = {:.0} instances/s per core",
            cpu.as_secs_f64() * 1e3,
            per_second(INSTANCES as u64, *cpu),
        );
    }
    Ok(())
}

fn on_the_simulator(rt: &tokio::runtime::Runtime) -> std::result::Result<(), BoxError> {
    use ami_core::api::CreateImageRequest;
    use ami_sim::Sim;
    let regions = ["us-east-1", "eu-west-1"];
    let accounts = ["111122223333", "444455556666"];
    let sim = Sim::builder()
        .seed(1)
        .regions(regions)
        .account(accounts[0])
        .account(accounts[1])
        .build()?;
    // Each account's own golden images are approved; the Amazon base image is not.
    let policy = ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(accounts[0].parse()?)
        .allow_owner(accounts[1].parse()?)
        .build()?;
    let mut total = 0u64;
    rt.block_on(async {
        for a in accounts {
            let account: AccountId = a.parse()?;
            for r in regions {
                let region: Region = r.parse()?;
                let ec2 = sim.ec2(&account, &region);
                let base = sim
                    .amazon_image(&region, "al2023")
                    .ok_or("no al2023 in the catalogue")?;
                let builder = ec2
                    .run_instances(RunInstancesRequest::new(base.clone()))
                    .await?
                    .remove(0);
                tokio::time::sleep(Duration::from_secs(300)).await;
                let golden = ec2
                    .create_image(
                        CreateImageRequest::new(builder.id.clone(), "golden")
                            .no_reboot(true)
                            .tag("Approved", "true"),
                    )
                    .await?;
                tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
                ec2.terminate_instances(vec![builder.id]).await?;
                // 999 live instances per scope: 90% golden, 10% the Amazon base image.
                for batch in 0..9 {
                    let image = if batch == 0 { &base } else { &golden };
                    ec2.run_instances(RunInstancesRequest::new(image.clone()).count(111))
                        .await?;
                    total += 111;
                }
            }
        }
        Ok::<(), BoxError>(())
    })?;
    let scope = ScanScope::new(
        accounts
            .iter()
            .map(|a| a.parse())
            .collect::<std::result::Result<Vec<AccountId>, _>>()?,
        regions
            .iter()
            .map(|r| r.parse())
            .collect::<std::result::Result<Vec<Region>, _>>()?,
    );
    let start = Instant::now();
    let report = rt.block_on(scan(&sim, &policy, &scope))?;
    let took = start.elapsed();
    println!(
        "compliance scan on ami-sim, {} accounts x {} Regions, {} instances ({} scanned), \
         {} non-compliant: {:.1} ms = {:.0} instances/s",
        accounts.len(),
        regions.len(),
        total,
        report.instances_scanned,
        report.findings.len(),
        took.as_secs_f64() * 1e3,
        per_second(report.instances_scanned, took),
    );
    Ok(())
}

fn main() -> std::result::Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    million_instances(&rt)?;
    on_the_simulator(&rt)?;
    Ok(())
}
