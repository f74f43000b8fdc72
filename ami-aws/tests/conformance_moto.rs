//! The conformance suite of `ami_core::conformance` on `ami-aws`:
//!
//! - against a moto server when `AMI_MOTO_ENDPOINT` is set (`scripts/test` starts one and sets
//!   it), with moto's [`Capabilities`]: every check must pass or be skipped for a listed gap;
//! - against real AWS only when `AMI_AWS_LIVE=1`, with the standard credential chain.
//!
//! Without those variables each test says it is skipped and returns.

mod moto_env;

use std::sync::Arc;
use std::time::Duration;

use ami_aws::{AwsBackend, AwsConfig};
use ami_core::api::{DescribeImagesRequest, Filter, Owner};
use ami_core::conformance::{self, Capabilities, Ctx, Report, Scope};
use ami_core::model::OwnerAlias;
use ami_core::{AccountId, Clock, Ec2, ImageId, Region, SystemClock};

/// A launchable x86_64 Amazon image of the backend (moto loads a catalogue of them).
async fn amazon_image(ec2: &dyn Ec2, name: &str) -> ImageId {
    let page = ec2
        .describe_images(
            DescribeImagesRequest::new()
                .owner(Owner::Alias(OwnerAlias::Amazon))
                .filter(Filter::new("architecture", ["x86_64"]))
                .filter(Filter::new("state", ["available"]))
                .filter(Filter::new("name", [name]))
                .max_results(1000),
        )
        .await
        .expect("DescribeImages of Amazon images");
    let mut images = page.items;
    // The newest first, so a live run launches a current image.
    images.sort_by(|a, b| b.creation_time.cmp(&a.creation_time).then(a.id.cmp(&b.id)));
    images
        .into_iter()
        .next()
        .map(|i| i.id)
        .unwrap_or_else(|| panic!("no available x86_64 Amazon image named {name:?}"))
}

/// A name prefix unique to this process, so runs against a long-lived server never collide.
fn unique_prefix(tag: &str) -> String {
    let secs = SystemClock.now().as_secs() % 100_000;
    format!("{tag}{}-{secs}", std::process::id())
}

/// Prints the table; its last line counts passed, failed and skipped checks.
fn print_counts(report: &Report) {
    println!("{report}");
}

/// The clients and context of a moto run: the default account in us-east-1, the same account
/// in us-west-2, and a second account reached through moto's STS AssumeRole.
async fn moto_context(endpoint: &str, capabilities: Capabilities, tag: &str) -> Ctx {
    let backend = AwsConfig::emulator(endpoint.to_owned())
        .max_attempts(1)
        .assume_role_name("conformance")
        .build()
        .await
        .unwrap_or_else(|e| panic!("moto at {endpoint}: {e}"));
    let connector = backend.connector();
    let home = backend.region().clone();
    let west: Region = "us-west-2".parse().unwrap();
    let other: AccountId = "210987654321".parse().unwrap();
    let primary = Scope::from_connector(&connector, backend.account(), &home).unwrap();
    let second_region = Scope::from_connector(&connector, backend.account(), &west).unwrap();
    let second_account = Scope::from_connector(&connector, &other, &home).unwrap();
    // moto's catalogue holds a few malformed ids (ami-ekswin, ...): pick by name around them.
    let base = amazon_image(primary.ec2.as_ref(), "ubuntu/images/hvm-ssd/*").await;
    Ctx::new(primary, base, Arc::new(SystemClock))
        .with_second_region(second_region)
        .with_second_account(second_account)
        .with_capabilities(capabilities)
        .with_prefix(unique_prefix(tag))
        .with_timing(Duration::from_millis(200), Duration::from_secs(60))
        .with_backend("moto")
}

/// The suite against moto: no check fails, at least 20 pass, and every skip is one of moto's
/// documented gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_moto() {
    let Some(endpoint) = moto_env::moto_endpoint(module_path!()) else {
        return;
    };
    let ctx = moto_context(&endpoint, Capabilities::moto(), "conf").await;
    let report = conformance::run_all(&ctx).await;
    print_counts(&report);
    assert!(
        report.failed().is_empty(),
        "{} check(s) failed on moto:\n{report}",
        report.failed().len()
    );
    assert!(
        report.passed().len() >= 20,
        "only {} checks passed on moto:\n{report}",
        report.passed().len()
    );
}

/// Every gap declared in `Capabilities::moto()` is real: each check it skips fails when the
/// gap is not declared. (A declared gap that moto has since closed would hide a passing check.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_moto_gap_is_real() {
    let Some(endpoint) = moto_env::moto_endpoint(module_path!()) else {
        return;
    };
    let skipped_with_gaps = {
        let ctx = moto_context(&endpoint, Capabilities::moto(), "gapa").await;
        conformance::run_all(&ctx)
            .await
            .skipped()
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    let ctx = moto_context(&endpoint, Capabilities::full(), "gapb").await;
    let report = conformance::run_matching(&ctx, |n| skipped_with_gaps.contains(&n)).await;
    println!("{report}");
    let passing: Vec<_> = report.passed();
    assert!(
        passing.is_empty(),
        "these checks pass on moto although Capabilities::moto() skips them: {passing:?}"
    );
}

/// The suite against real AWS, only with `AMI_AWS_LIVE=1` (it creates and deletes real
/// instances, images, snapshots and KMS keys, which costs money).
///
/// Optional settings: `AMI_AWS_LIVE_SECOND_REGION` (cross-Region copy),
/// `AMI_AWS_LIVE_SECOND_ACCOUNT` with `AMI_AWS_LIVE_ROLE` (a role the caller may assume there),
/// `AMI_AWS_LIVE_BASE_IMAGE` (the image fixture instances start from).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_real_aws() {
    if std::env::var("AMI_AWS_LIVE").as_deref() != Ok("1") {
        println!("skipped: the real-AWS run needs AMI_AWS_LIVE=1 and AWS credentials");
        return;
    }
    let mut config = AwsConfig::new();
    if let Ok(role) = std::env::var("AMI_AWS_LIVE_ROLE") {
        config = config.assume_role_name(role);
    }
    let backend: AwsBackend = config.build().await.expect("AWS credentials and Region");
    let connector = backend.connector();
    let home = backend.region().clone();
    let primary = Scope::from_connector(&connector, backend.account(), &home).unwrap();
    let base = match std::env::var("AMI_AWS_LIVE_BASE_IMAGE") {
        Ok(id) => id.parse().expect("AMI_AWS_LIVE_BASE_IMAGE is an image id"),
        Err(_) => amazon_image(primary.ec2.as_ref(), "al2023-ami-2023*-kernel-*-x86_64").await,
    };
    let mut ctx = Ctx::new(primary, base, Arc::new(SystemClock))
        .with_capabilities(Capabilities::full())
        .with_prefix(unique_prefix("conf"))
        .with_timing(Duration::from_secs(15), Duration::from_secs(45 * 60))
        .with_backend("aws");
    if let Ok(r) = std::env::var("AMI_AWS_LIVE_SECOND_REGION") {
        let region: Region = r.parse().expect("AMI_AWS_LIVE_SECOND_REGION is a Region");
        ctx = ctx.with_second_region(
            Scope::from_connector(&connector, backend.account(), &region).unwrap(),
        );
    }
    if let Ok(a) = std::env::var("AMI_AWS_LIVE_SECOND_ACCOUNT") {
        let account: AccountId = a
            .parse()
            .expect("AMI_AWS_LIVE_SECOND_ACCOUNT is an account id");
        ctx = ctx.with_second_account(Scope::from_connector(&connector, &account, &home).unwrap());
    }
    let report = conformance::run_all(&ctx).await;
    print_counts(&report);
    assert!(
        report.failed().is_empty(),
        "{} check(s) failed on AWS:\n{report}",
        report.failed().len()
    );
}
