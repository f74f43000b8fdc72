//! # ami-sim: a deterministic in-memory AWS for EC2 images, snapshots, instances and KMS
//!
//! [`Sim`] simulates many accounts (standalone or in organizations and nested OUs) in many
//! Regions, with AWS's image semantics: images start `pending` and become `available` (or
//! `failed` with a state reason) after virtual time; CreateImage reboots unless told not to,
//! and a no-reboot image misses writes not yet flushed; sharing, copying and KMS access are
//! checked across accounts at use time; errors carry AWS's exact codes. Deliberate copies of
//! AWS behaviour are marked `// AWS:` in the source, naming the rule of the reference.
//!
//! Everything is deterministic: ids and random faults come from the seed, each kind from its
//! own stream (so retried faults never change ids), time is tokio's
//! (virtual in a paused runtime), and the same seed and calls give the same [`call
//! log`](Sim::call_log).
//!
//! ```
//! use ami_core::api::{CreateImageRequest, DescribeImagesRequest, PermissionChanges, RunInstancesRequest};
//! use ami_core::{AccountId, Ec2Ext, ImageState, LaunchPermission, Region};
//! use ami_sim::{Durability, Sim};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> ami_core::Result<()> {
//! let sim = Sim::builder()
//!     .seed(7)
//!     .account("111111111111")
//!     .account("222222222222")
//!     .build()?;
//! let (owner, consumer): (AccountId, AccountId) = ("111111111111".parse()?, "222222222222".parse()?);
//! let region: Region = "us-east-1".parse()?;
//! let ec2 = sim.ec2(&owner, &region);
//!
//! let base = sim.amazon_image(&region, "al2023").expect("catalogue image");
//! let inst = ec2.run_instances(RunInstancesRequest::new(base)).await?.remove(0);
//! tokio::time::sleep(std::time::Duration::from_secs(60)).await; // virtual: instant
//! sim.write_data(&inst.id, "/dev/xvda", "/etc/app.conf", "v1", Durability::Buffered)?;
//!
//! let image = ec2.create_image(CreateImageRequest::new(inst.id.clone(), "app-v1")).await?;
//! assert_eq!(ec2.describe_image(&image).await?.state, ImageState::Pending);
//! tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
//! let img = ec2.describe_image(&image).await?;
//! assert_eq!(img.state, ImageState::Available);
//! // The reboot flushed the buffered write into the snapshot.
//! let snap = img.block_devices[0].snapshot_id.clone().expect("EBS");
//! assert_eq!(sim.snapshot_data(&snap)?["/etc/app.conf"], "v1");
//!
//! ec2.modify_launch_permissions(image.clone(), PermissionChanges::add([LaunchPermission::Account(consumer.clone())])).await?;
//! let seen = sim.ec2(&consumer, &region).describe_all_images(DescribeImagesRequest::ids([image])).await?;
//! assert_eq!(seen[0].owner, owner);
//! # Ok(())
//! # }
//! ```
//!
//! # Virtual timings
//!
//! | what | virtual time |
//! |---|---|
//! | instance `pending` → `running` (launch, start) | 15 s |
//! | `stopping` → `stopped` | 30 s |
//! | `shutting-down` → `terminated` | 20 s |
//! | CreateImage reboot (`stopping`, `stopped`, `pending`, `running`) | 15 s per step |
//! | CreateImage `pending` → `available` | 60 s + 6 s per GiB |
//! | CopyImage in one Region | 45 s + 3 s per GiB |
//! | CopyImage across Regions | 300 s + 15 s per GiB |
//! | RegisterImage | 10 s |
//! | EnableImageBlockPublicAccess in force | 10 min |
//! | a deregistered image still shown (to its owner, by id) | 1 h |
//!
//! # Choices where AWS does not document the answer
//!
//! - KMS access is checked when a key is used. A launch from an image whose keys the launcher
//!   cannot use is accepted and the instance terminates from `pending` with
//!   `Client.InternalError`; a copy is accepted and the image turns `failed` (as AWS does).
//! - Deregistering a protected image: `OperationNotPermitted`; the 6th public image and the
//!   1,001st sharing entity: `ResourceLimitExceeded`; the image quota: `AMIQuotaExceeded`;
//!   a product-code image made public: `UnsupportedOperation` (see `ami_core::rules`).
//! - A Region outage fails EC2 calls with `ServiceUnavailable` and KMS calls with
//!   `KMSInternalException`; unknown accounts get `AuthFailure`, unknown Regions
//!   `InvalidRegion`.
//! - New accounts start with image block public access on (`block-new-sharing`), as new AWS
//!   accounts do.
//!
//! | module | what lives there |
//! |---|---|
//! | [`Sim`], [`SimBuilder`] | the simulator, its clients and its test hooks |
//! | [`FaultPlan`], [`Scope`] | seeded fault probabilities and scripted faults |
//! | [`Call`], [`Op`] | the call log |
//! | [`catalogue`] | the default public Amazon and Marketplace images |
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(rustdoc::broken_intra_doc_links)]

mod builder;
pub mod catalogue;
mod ec2;
mod faults;
mod idmap;
mod index;
mod keys;
mod kms;
mod log;
mod sim;
mod state;
mod streams;

#[cfg(feature = "server")]
pub mod server;

pub use builder::{Quotas, SimBuilder};
pub use faults::{FaultPlan, Scope};
pub use log::{Call, Op};
pub use sim::{Durability, Sim};
