//! The default public catalogue loaded into every Region.
//!
//! | name (for [`Sim::amazon_image`](crate::Sim::amazon_image)) | image name | owner |
//! |---|---|---|
//! | `al2023` | `al2023-ami-2023.6.20251201.0-kernel-6.1-x86_64` | 137112412989 (`amazon`) |
//! | `al2023-arm64` | `al2023-ami-2023.6.20251201.0-kernel-6.1-arm64` | 137112412989 (`amazon`) |
//! | `al2` | `amzn2-ami-kernel-5.10-hvm-2.0.20251201.0-x86_64-gp2` | 137112412989 (`amazon`) |
//! | `windows-2022` | `Windows_Server-2022-English-Full-Base-2025.12.10` | 801119661308 (`amazon`) |
//!
//! | name (for [`Sim::marketplace_image`](crate::Sim::marketplace_image)) | image name | product code |
//! |---|---|---|
//! | `hardened-linux` | `cis-hardened-al2023-1.2.0-marketplace` | `8fjeu3yzekzc3h9rq5a4fn8m1` |
//! | `firewall` | `ngfw-appliance-10.2-marketplace` | `a1b2c3d4e5f6g7h8i9j0k1l2m` |
//!
//! Amazon images have public snapshots (anyone can copy them); Marketplace images (owner
//! 679593333241, alias `aws-marketplace`) do not, and carry a Marketplace product code.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ami_core::model::{ProductCodeType, SnapshotState};
use ami_core::{
    AccountId, BlockDevice, CreateVolumePermission, DeregistrationProtection, Image, ImageState,
    LaunchPermission, OwnerAlias, ProductCode, Snapshot, Timestamp,
};

use crate::state::{ImageRec, SnapRec, State};

struct Entry {
    key: &'static str,
    name: &'static str,
    owner: u64,
    alias: OwnerAlias,
    arch: &'static str,
    size: u32,
    product_code: Option<&'static str>,
}

const ENTRIES: &[Entry] = &[
    Entry {
        key: "al2023",
        name: "al2023-ami-2023.6.20251201.0-kernel-6.1-x86_64",
        owner: 137_112_412_989,
        alias: OwnerAlias::Amazon,
        arch: "x86_64",
        size: 8,
        product_code: None,
    },
    Entry {
        key: "al2023-arm64",
        name: "al2023-ami-2023.6.20251201.0-kernel-6.1-arm64",
        owner: 137_112_412_989,
        alias: OwnerAlias::Amazon,
        arch: "arm64",
        size: 8,
        product_code: None,
    },
    Entry {
        key: "al2",
        name: "amzn2-ami-kernel-5.10-hvm-2.0.20251201.0-x86_64-gp2",
        owner: 137_112_412_989,
        alias: OwnerAlias::Amazon,
        arch: "x86_64",
        size: 8,
        product_code: None,
    },
    Entry {
        key: "windows-2022",
        name: "Windows_Server-2022-English-Full-Base-2025.12.10",
        owner: 801_119_661_308,
        alias: OwnerAlias::Amazon,
        arch: "x86_64",
        size: 30,
        product_code: None,
    },
    Entry {
        key: "marketplace:hardened-linux",
        name: "cis-hardened-al2023-1.2.0-marketplace",
        owner: 679_593_333_241,
        alias: OwnerAlias::AwsMarketplace,
        arch: "x86_64",
        size: 10,
        product_code: Some("8fjeu3yzekzc3h9rq5a4fn8m1"),
    },
    Entry {
        key: "marketplace:firewall",
        name: "ngfw-appliance-10.2-marketplace",
        owner: 679_593_333_241,
        alias: OwnerAlias::AwsMarketplace,
        arch: "x86_64",
        size: 20,
        product_code: Some("a1b2c3d4e5f6g7h8i9j0k1l2m"),
    },
];

/// Loads the catalogue into every Region of `state`.
pub(crate) fn load(state: &mut State, epoch: Timestamp) {
    let created = epoch.sub(Duration::from_secs(30 * 86_400));
    let regions: Vec<_> = state.regions.iter().cloned().collect();
    for region in regions {
        for e in ENTRIES {
            let owner = AccountId::from_number(e.owner);
            let image_id = state.new_image_id();
            let snap_id = state.new_snapshot_id();
            let product_codes: Vec<ProductCode> = e
                .product_code
                .map(|id| ProductCode {
                    id: id.into(),
                    kind: ProductCodeType::Marketplace,
                })
                .into_iter()
                .collect();
            let mut snap_perms = BTreeSet::new();
            if e.product_code.is_none() {
                snap_perms.insert(CreateVolumePermission::Public);
            }
            state.snapshots.insert(
                snap_id.clone(),
                Box::new(SnapRec {
                    snap: Snapshot {
                        id: snap_id.clone(),
                        region: region.clone(),
                        owner: owner.clone(),
                        volume_id: None,
                        volume_size_gib: e.size,
                        state: SnapshotState::Completed,
                        encryption: None,
                        description: format!("Created by CreateImage for {image_id}"),
                        tags: BTreeMap::new(),
                        start_time: created,
                    },
                    perms: snap_perms,
                    data: Arc::new(
                        [("/etc/os-release".to_owned(), e.name.to_owned())]
                            .into_iter()
                            .collect(),
                    ),
                    product_codes: product_codes.clone(),
                    visible_at: created,
                    users: crate::index::Keys::None,
                }),
            );
            let image = Image {
                id: image_id.clone(),
                region: region.clone(),
                name: e.name.into(),
                description: Some(format!("{} ({})", e.name, e.arch)),
                owner,
                owner_alias: Some(e.alias),
                state: ImageState::Available,
                state_reason: None,
                public: true,
                block_devices: vec![BlockDevice {
                    device_name: "/dev/xvda".into(),
                    snapshot_id: Some(snap_id),
                    volume_size_gib: e.size,
                    encryption: None,
                    delete_on_termination: true,
                }],
                root_device_name: "/dev/xvda".into(),
                architecture: e.arch.into(),
                product_codes,
                tags: BTreeMap::new(),
                creation_time: created,
                // AWS: §6 "Deprecation": public AMIs get creation + 2 years by default.
                deprecation_time: Some(created.add(Duration::from_secs(2 * 365 * 86_400))),
                deregistration_protection: DeregistrationProtection::Disabled,
                source_image_id: None,
                source_region: None,
                source_instance_id: None,
                last_launched_time: None,
            };
            state.insert_image(ImageRec {
                image,
                perms: vec![LaunchPermission::Public],
                visible_at: created,
                deregistered_at: None,
                completion: None,
            });
            state
                .catalogue
                .insert((region.clone(), e.key.to_owned()), image_id);
        }
    }
}
