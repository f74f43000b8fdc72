//! The golden-image mission, end to end.
//!
//! A platform team (account `factory`) builds its golden image from Amazon Linux, tests it,
//! distributes it to three Regions encrypted with a customer managed key per Region, shares it
//! (and the keys) with two production accounts, one of which adopts a copy it owns. The image
//! is approved; production only launches approved images, so launching anything else is
//! refused; a compliance scan finds what was launched before the policy; and last month's
//! release is retired everywhere except where it still runs.
//!
//! ```text
//! cargo run -p ami-examples --bin golden-image                 # simulator, seed 1
//! cargo run -p ami-examples --bin golden-image -- --seed 7
//! cargo run -p ami-examples --features aws --bin golden-image -- --endpoint http://127.0.0.1:5000
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ami_core::api::{DeregisterImageRequest, RunInstancesRequest};
use ami_core::model::ResourceId;
use ami_core::ops::adopt::{adopt, preflight_adopt, AdoptOptions};
use ami_core::ops::bake::{bake, BakeRequest, Consistency, TAG_CONSISTENCY};
use ami_core::ops::distribute::{self, DistributeOptions, DistributionSpec, Manifest};
use ami_core::ops::govern::{scan, ApprovalPolicy, ScanScope};
use ami_core::ops::journal::MemoryJournal;
use ami_core::ops::retire::{self, FamilySelector, RetentionPolicy, RetireOptions};
use ami_core::ops::share::{self, ShareSpec};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{
    AccountId, Ec2, Ec2Ext, Error, ImageId, InstanceId, InstanceState, KmsKeyRef, Region, Result,
    Tags,
};
use ami_examples::{human, main_with, retry, say, Cast, World};

/// The tag that groups the releases of the golden image (retention works per family).
const FAMILY: &str = "Family";
/// The tag production requires.
const APPROVED: &str = "Approved";
/// The alias of the owner's customer managed key in every Region.
const KEY_ALIAS: &str = "alias/golden";

fn main() -> ExitCode {
    main_with(
        "the whole life of a golden image, on the simulator by default",
        Cast::new(
            &[
                ("factory", "111111111111"),
                ("prod-a", "222222222222"),
                ("prod-b", "333333333333"),
            ],
            &["us-east-1", "eu-west-1", "ap-southeast-2"],
        ),
        mission,
    )
}

/// What one release left behind.
struct Release {
    version: u32,
    manifest: Manifest,
}

async fn mission(w: World) -> Result<()> {
    let tl = w.timeline.clone();
    let (factory, prod_a, prod_b) = (
        w.cast.account(0).clone(),
        w.cast.account(1).clone(),
        w.cast.account(2).clone(),
    );
    let home = w.cast.region(0).clone();

    tl.title(format!(
        "golden-image: {} builds, {} and {} run production; Regions {}",
        w.cast.who(&factory),
        w.cast.who(&prod_a),
        w.cast.who(&prod_b),
        w.cast
            .regions
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // Prologue: last month's release is out and prod-b runs it; prod-a runs an instance
    // straight from the Amazon image, launched before any policy existed.
    tl.title("\nprologue: release golden-1 (built, tested, distributed, shared, approved)");
    // On the simulator the prologue is told in two lines; on AWS, where it takes a while, in
    // full, so that the wait shows progress.
    tl.mute(w.sim().is_some());
    let v1 = release(&w, 1).await?;
    let v1_home = image_at(&v1.manifest, &home, &factory)?;
    let running_v1 = w.launch(&prod_b, &home, &v1_home, "web-v1").await?;
    let amazon = w.amazon_linux(&prod_a, &home).await?;
    let legacy = w.launch(&prod_a, &home, &amazon, "legacy-batch").await?;
    tl.mute(false);
    tl.detail(format!(
        "golden-1 is {} in {}; {} runs it as {running_v1}",
        v1_home,
        home,
        w.cast.who(&prod_b)
    ));
    tl.detail(format!(
        "{} runs {legacy} straight from the Amazon image {amazon}",
        w.cast.who(&prod_a)
    ));
    if w.sim().is_some() {
        // A month passes (in virtual time: instantly).
        tokio::time::sleep(Duration::from_secs(30 * 86_400)).await;
        tl.title(format!("\n30 days later, {}: release golden-2", tl.now()));
    } else {
        tl.title(format!("\n{}: release golden-2", tl.now()));
    }
    tl.restart();

    let v2 = release(&w, 2).await?;
    let adopted = adopt_copy(&w, &v2, &prod_a).await?;
    let policy = approve_and_guard(&w, &v2, &prod_b).await?;
    compliance_scan(&w, &policy).await?;
    retire_previous(&w).await?;

    tl.step(format!("Manifest of golden-{}", v2.version));
    tl.detail(v2.manifest.to_string());
    tl.detail(format!(
        "adopted by {}: {} in {} (owned by {})",
        w.cast.who(&prod_a),
        adopted.0,
        adopted.1,
        w.cast.who(&prod_a)
    ));
    say(v2.manifest.to_json()?);
    let calls = w
        .sim()
        .map(|s| {
            let log = s.call_log();
            let transient = log
                .iter()
                .filter(|c| {
                    c.outcome.as_ref().err().is_some_and(|code| {
                        code == "RequestLimitExceeded" || code == "InternalError"
                    })
                })
                .count();
            let retried = if transient > 0 {
                format!(" ({transient} of them throttled or failed, and retried)")
            } else {
                String::new()
            };
            format!(", {} simulated API calls{retried}", log.len())
        })
        .unwrap_or_default();
    tl.title(format!(
        "\ndone: golden-2 released, adopted, guarded, scanned; golden-1 retired. {} of {} time since the release started{calls}",
        human(tl.elapsed()),
        if w.sim().is_some() { "virtual" } else { "real" }
    ));
    Ok(())
}

/// One release: parent → build instance → components → stop and image → test → keys →
/// distribute → discard the build image → share → approve.
async fn release(w: &World, version: u32) -> Result<Release> {
    let tl = &w.timeline;
    let factory = w.cast.account(0).clone();
    let home = w.cast.region(0).clone();
    let ec2 = w.ec2(&factory, &home)?;
    let name = format!("golden-{version}");

    tl.step(format!("Parent image in {home}"));
    let parent = w.amazon_linux(&factory, &home).await?;
    let parent_img = retry("DescribeImages", || ec2.describe_image(&parent)).await?;
    tl.detail(format!(
        "{parent} {:?}, owner {}{}",
        parent_img.name,
        parent_img.owner,
        parent_img
            .owner_alias
            .map(|a| format!(" ({a})"))
            .unwrap_or_default()
    ));

    tl.step("Build instance");
    let build = w
        .launch(&factory, &home, &parent, &format!("{name}-build"))
        .await?;
    tl.detail(format!("{build} is running, launched from {parent}"));

    tl.step("Components");
    let files = components(version);
    let device = root_device(ec2.as_ref(), &build).await?;
    let mut wrote = 0;
    for (path, contents, buffered) in &files {
        if w.write_file(&build, &device, path, contents, *buffered)? {
            wrote += 1;
            tl.detail(format!(
                "wrote {path} on {device}{}",
                if *buffered {
                    " (still in the page cache)"
                } else {
                    " (fsync'd)"
                }
            ));
        }
    }
    if wrote == 0 {
        tl.detail(
            "components run through your provisioner (SSM, user data) on real AWS; skipped here",
        );
    }

    tl.step("Stop for file-system integrity, then CreateImage");
    // Stopping flushes what the guest still buffers; the image then holds every write. (A
    // bake with Consistency::StopFirst stops a running instance itself, and starts it again.)
    retry("StopInstances", || ec2.stop_instances(vec![build.clone()])).await?;
    wait_for_instance_state(
        ec2.as_ref(),
        &build,
        InstanceState::Stopped,
        &WaitOptions::default(),
    )
    .await?;
    let baked = bake(
        ec2.as_ref(),
        BakeRequest::new(build.clone(), format!("{name}-build"))
            .consistency(Consistency::StopFirst)
            .description(format!(
                "golden image {version}, build output (unencrypted)"
            ))
            .tag("Stage", "build"),
    )
    .await?;
    tl.detail(format!(
        "{} is available: {} snapshot(s), tagged {}={}",
        baked.image.id,
        baked.snapshots.len(),
        TAG_CONSISTENCY,
        baked.consistency_tag
    ));
    terminate(ec2.as_ref(), &build).await?;
    tl.detail(format!("build instance {build} terminated"));

    tl.step("Test instance from the new image");
    let test = w
        .launch(&factory, &home, &baked.image.id, &format!("{name}-test"))
        .await?;
    match w.read_volume(&test, &device)? {
        Some(data) => {
            for (path, contents, _) in &files {
                if data.get(*path) != Some(contents) {
                    terminate(ec2.as_ref(), &test).await?;
                    return Err(Error::workflow(format!(
                        "test failed: {path} on the test instance {test} is {:?}, expected {contents:?}",
                        data.get(*path)
                    )));
                }
            }
            tl.detail(format!(
                "{test} boots, and all {} component files are on its root volume",
                files.len()
            ));
        }
        None => tl.detail(format!("{test} reached running")),
    }
    terminate(ec2.as_ref(), &test).await?;

    tl.step(format!(
        "Customer managed key {KEY_ALIAS} in each Region (default keys cannot be shared)"
    ));
    for r in &w.cast.regions {
        let key = w.ensure_key(&factory, r, KEY_ALIAS).await?;
        tl.detail(format!("{:<16} {key}", r.as_str()));
    }

    tl.step(format!("Distribute to {} Regions", w.cast.regions.len()));
    let mut spec = DistributionSpec::new(factory.clone(), home.clone(), baked.image.id.clone())
        .regions(w.cast.regions.iter().cloned())
        .name_template(name.clone())
        .description(format!("golden image {version}"))
        .tag(FAMILY, "golden")
        .tag("Version", version.to_string())
        .deprecate_at(tl.now().add(Duration::from_secs(180 * 86_400)))
        .run_id(format!("{name}-{}", w.seed));
    for r in &w.cast.regions {
        spec = spec.kms_key(r.clone(), key_ref(KEY_ALIAS)?);
    }
    let plan = distribute::plan(w.connector(), &spec).await?;
    tl.detail(plan.to_string());
    let journal = MemoryJournal::new();
    let manifest = distribute::apply(
        w.connector(),
        &plan,
        &journal,
        &DistributeOptions::default(),
    )
    .await?;
    for e in &manifest.images {
        tl.detail(format!(
            "{:<16} {} available, encrypted with {KEY_ALIAS}",
            e.destination.region.as_str(),
            e.image_id
        ));
    }
    tl.detail(format!(
        "{} journal entries recorded (a crash resumes from them)",
        journal.len()
    ));
    let deregister = DeregisterImageRequest::new(baked.image.id.clone()).with_snapshots();
    let gone = retry("DeregisterImage", || {
        ec2.deregister_image(deregister.clone())
    })
    .await?;
    tl.detail(format!(
        "build image {} deregistered with {} snapshot(s): only encrypted copies remain",
        baked.image.id,
        gone.len()
    ));

    let consumers = [w.cast.account(1).clone(), w.cast.account(2).clone()];
    tl.step(format!(
        "Share with {} (launch, snapshots, key policy)",
        consumers
            .iter()
            .map(|a| w.cast.who(a))
            .collect::<Vec<_>>()
            .join(" and ")
    ));
    for e in &manifest.images {
        let spec = ShareSpec::new(e.image_id.clone())
            .accounts(consumers.iter().cloned())
            .allow_copy(true);
        let applied = share::share(w.connector(), &factory, &e.destination.region, &spec).await?;
        tl.detail(format!(
            "{:<16} {}: launch permissions +{}, snapshot permissions on {}, key policies edited: {}",
            e.destination.region.as_str(),
            e.image_id,
            applied.launch_permissions.add.len(),
            applied.snapshot_permissions.len(),
            applied.key_policies.len()
        ));
    }

    tl.step(format!("Approve: tag {APPROVED}=true"));
    for e in &manifest.images {
        let ec2 = w.ec2(&factory, &e.destination.region)?;
        let mut tags = Tags::new();
        tags.insert(APPROVED.to_owned(), "true".to_owned());
        retry("CreateTags", || {
            ec2.create_tags(vec![ResourceId::Image(e.image_id.clone())], tags.clone())
        })
        .await?;
    }
    tl.detail(format!(
        "{} copies of {name} approved for production",
        manifest.images.len()
    ));
    Ok(Release { version, manifest })
}

/// prod-a copies the release into its own account (eu-west-1, under its own key): it owns
/// the copy and no longer depends on the factory keeping the image.
async fn adopt_copy(w: &World, v: &Release, consumer: &AccountId) -> Result<(ImageId, Region)> {
    let tl = &w.timeline;
    let factory = w.cast.account(0);
    let region = w.cast.region(1).clone();
    let source = image_at(&v.manifest, &region, factory)?;
    tl.step(format!(
        "{} adopts the {region} copy under its own key",
        w.cast.who(consumer)
    ));
    let own_key = w
        .ensure_key(consumer, &region, "alias/prod-a-images")
        .await?;
    let opts = AdoptOptions::new()
        .name(format!("golden-{}-prod-a", v.version))
        .kms_key(own_key.clone())
        .tag("Team", "prod-a");
    let pre = preflight_adopt(w.connector(), consumer, &region, &source, &opts).await?;
    tl.detail(pre.to_string().trim_end());
    let adopted = adopt(w.connector(), consumer, &region, &source, opts).await?;
    tl.detail(format!(
        "{} is owned by {}, encrypted with its key, lineage {} in {}",
        adopted.image.id,
        adopted.image.owner,
        adopted
            .image
            .source_image_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "?".into()),
        adopted
            .image
            .source_region
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "?".into())
    ));
    Ok((adopted.image.id, region))
}

/// The approved-image policy, enforced on prod-b's launches: the approved release launches,
/// the raw Amazon image is refused with `UnauthorizedOperation`.
async fn approve_and_guard(w: &World, v: &Release, prod: &AccountId) -> Result<ApprovalPolicy> {
    let tl = &w.timeline;
    let factory = w.cast.account(0).clone();
    let region = w.cast.region(1).clone();
    let policy = ApprovalPolicy::builder()
        .require_tag(APPROVED, "true")
        .allow_owner(factory.clone())
        .max_age_days(365)
        .deny_deprecated(true)
        .build()?;

    tl.step(format!(
        "Production launches only approved images ({})",
        w.cast.who(prod)
    ));
    let enforced = w.enforce_policy(prod, &policy);
    tl.detail(format!(
        "policy: tag {APPROVED}=true, owner {factory}, at most 365 days old, not deprecated"
    ));
    // The same policy as an IAM document (the approved-amis example prints it whole).
    let iam = policy.iam_policy();
    let statements: Vec<String> = iam["Statement"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|st| format!("{} {}", st["Effect"], st["Sid"]).replace('"', ""))
                .collect()
        })
        .unwrap_or_default();
    tl.detail(format!("as an IAM policy: {}", statements.join(", ")));
    if !enforced {
        tl.detail("(attach that IAM policy to the production roles to enforce it on AWS)");
    }

    let approved = image_at(&v.manifest, &region, &factory)?;
    let ok = w.launch(prod, &region, &approved, "web-v2").await?;
    tl.detail(format!(
        "launch golden-{} ({approved}) in {region}: {ok} running",
        v.version
    ));

    let amazon = w.amazon_linux(prod, &region).await?;
    let ec2 = w.ec2(prod, &region)?;
    let unapproved = RunInstancesRequest::new(amazon.clone()).tag("Name", "unapproved");
    match retry("RunInstances", || ec2.run_instances(unapproved.clone())).await {
        Err(e) if e.code() == "UnauthorizedOperation" => {
            tl.detail(format!(
                "launch {amazon} (not approved): refused, {}",
                e.code()
            ));
            tl.detail(format!("  {}", e.message()));
        }
        Err(e) => return Err(e),
        Ok(mut started) if enforced => {
            return Err(Error::workflow(format!(
                "the unapproved launch of {amazon} was not refused: {:?}",
                started.pop().map(|i| i.id)
            )))
        }
        Ok(started) => {
            let img = retry("DescribeImages", || ec2.describe_image(&amazon)).await?;
            let verdict = policy.evaluate(&img, tl.now());
            tl.detail(format!(
                "launch {amazon}: allowed here (no IAM policy attached); the policy's verdict: {verdict}"
            ));
            let ids: Vec<InstanceId> = started.into_iter().map(|i| i.id).collect();
            retry("TerminateInstances", || {
                ec2.terminate_instances(ids.clone())
            })
            .await?;
        }
    }
    Ok(policy)
}

/// Every instance of every account and Region, checked against the policy.
async fn compliance_scan(w: &World, policy: &ApprovalPolicy) -> Result<()> {
    let tl = &w.timeline;
    tl.step("Compliance scan of every account and Region");
    let report = scan(
        w.connector(),
        policy,
        &ScanScope::new(w.cast.account_ids(), w.cast.regions.iter().cloned()),
    )
    .await?;
    tl.detail(format!(
        "{} instance(s) scanned, {} image(s) evaluated, {} compliant, {} finding(s)",
        report.instances_scanned,
        report.images_evaluated,
        report.compliant_count(),
        report.findings.len()
    ));
    for f in &report.findings {
        tl.detail(format!(
            "NOT COMPLIANT {} in {} of {}: image {}: {}",
            f.instance_id,
            f.region,
            w.cast.who(&f.account),
            f.image_id,
            f.verdict
        ));
    }
    for e in &report.errors {
        tl.detail(format!(
            "could not scan {} in {}: [{}] {}",
            e.account,
            e.region,
            e.error.code(),
            e.error.message()
        ));
    }
    Ok(())
}

/// Keep the newest release in every Region; retire the older one in stages (deprecate,
/// disable, deregister with its snapshots), except where an instance still runs it.
async fn retire_previous(w: &World) -> Result<()> {
    let tl = &w.timeline;
    tl.step("Retire the previous release (keep the newest, never one in use)");
    let policy = RetentionPolicy::new(
        FamilySelector::Tag {
            key: FAMILY.to_owned(),
            value: Some("golden".to_owned()),
        },
        1,
        [w.cast.account(0).clone()],
        w.cast.regions.iter().cloned(),
    );
    let plan = retire::plan(w.connector(), &policy).await?;
    tl.detail(plan.to_string().trim_end());
    let outcome = retire::apply(w.connector(), &plan, &RetireOptions::default()).await?;
    tl.detail(outcome.to_string().trim_end());
    Ok(())
}

/// The files the build components write: `(path, contents, still buffered)`.
fn components(version: u32) -> Vec<(&'static str, String, bool)> {
    vec![
        ("/etc/motd", format!("golden image {version}\n"), false),
        (
            "/etc/ssh/sshd_config.d/50-hardening.conf",
            "PermitRootLogin no\nPasswordAuthentication no\n".to_owned(),
            true,
        ),
        (
            "/opt/app/app.toml",
            format!("version = {version}\nlisten = \"0.0.0.0:8080\"\n"),
            true,
        ),
    ]
}

async fn terminate(ec2: &dyn Ec2, id: &InstanceId) -> Result<()> {
    retry("TerminateInstances", || {
        ec2.terminate_instances(vec![id.clone()])
    })
    .await?;
    Ok(())
}

async fn root_device(ec2: &dyn Ec2, id: &InstanceId) -> Result<String> {
    let inst = retry("DescribeInstances", || ec2.describe_instance(id)).await?;
    Ok(inst
        .volumes
        .first()
        .map(|v| v.device_name.clone())
        .unwrap_or_else(|| "/dev/xvda".to_owned()))
}

fn key_ref(alias: &str) -> Result<KmsKeyRef> {
    Ok(alias.parse::<KmsKeyRef>()?)
}

fn image_at(m: &Manifest, region: &Region, account: &AccountId) -> Result<ImageId> {
    m.image(region, account).cloned().ok_or_else(|| {
        Error::workflow(format!(
            "distribution {} has no copy in {region} for {account}",
            m.run_id
        ))
    })
}
