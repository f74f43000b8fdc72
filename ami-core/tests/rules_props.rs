//! Property tests of the rules over a small world of accounts and images: any sequence of
//! share, snapshot-share, copy, disable, enable, reset and cancel actions, each applied only
//! when the rules approve it.

mod rules_fixtures;

use std::collections::BTreeMap;

use ami_core::api::{CopyImageRequest, PermissionChanges};
use ami_core::model::{BlockPublicAccessState, ProductCodeType};
use ami_core::rules::{
    check_copy_image, check_disable_image, check_enable_image, copy_encryption, copy_lineage,
    launch_permissions_after, launch_permissions_after_cancel, launch_permissions_after_reset,
    snapshot_permissions_after, CopyContext, CopyEncryption, Membership, ShareContext,
};
use ami_core::{
    AccountId, CreateVolumePermission, Encryption, Image, ImageId, KeyManager, LaunchPermission,
    ProductCode, Region, SnapshotId,
};
use proptest::prelude::*;
use rules_fixtures::*;

/// The accounts: 0 owns most images, 1 is in the organization (OU path parent → child),
/// 2 is in the organization outside those OUs, 3 is outside any organization.
fn accounts() -> [AccountId; 4] {
    [owner(), member(), account(555_555_555_555), stranger()]
}

fn membership(i: usize) -> Membership {
    match i {
        1 => member_membership(),
        2 => Membership::of(org(), vec![other_ou()]),
        _ => Membership::none(),
    }
}

/// The launch permissions an action can add or remove.
fn permission(i: usize) -> LaunchPermission {
    match i % 6 {
        0 => LaunchPermission::Account(member()),
        1 => LaunchPermission::Account(stranger()),
        2 => LaunchPermission::Organization(org()),
        3 => LaunchPermission::OrganizationalUnit(parent_ou()),
        4 => LaunchPermission::OrganizationalUnit(other_ou()),
        _ => LaunchPermission::Public,
    }
}

#[derive(Debug, Clone)]
enum Action {
    Share {
        caller: usize,
        image: usize,
        add: Vec<usize>,
        remove: Vec<usize>,
    },
    ShareSnapshots {
        caller: usize,
        image: usize,
        public: bool,
        account: usize,
    },
    Copy {
        caller: usize,
        image: usize,
        same_region: bool,
        encrypted: Option<bool>,
        with_key: bool,
    },
    Disable {
        caller: usize,
        image: usize,
    },
    Enable {
        caller: usize,
        image: usize,
    },
    Reset {
        caller: usize,
        image: usize,
    },
    Cancel {
        caller: usize,
        image: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0..4usize;
    let img = 0..64usize;
    prop_oneof![
        4 => (who.clone(), img.clone(), prop::collection::vec(0..6usize, 0..4), prop::collection::vec(0..6usize, 0..3))
            .prop_map(|(caller, image, add, remove)| Action::Share { caller, image, add, remove }),
        2 => (who.clone(), img.clone(), any::<bool>(), 0..4usize)
            .prop_map(|(caller, image, public, account)| Action::ShareSnapshots { caller, image, public, account }),
        3 => (who.clone(), img.clone(), any::<bool>(), prop::option::of(any::<bool>()), any::<bool>())
            .prop_map(|(caller, image, same_region, encrypted, with_key)| Action::Copy { caller, image, same_region, encrypted, with_key }),
        1 => (who.clone(), img.clone()).prop_map(|(caller, image)| Action::Disable { caller, image }),
        1 => (who.clone(), img.clone()).prop_map(|(caller, image)| Action::Enable { caller, image }),
        1 => (who.clone(), img.clone()).prop_map(|(caller, image)| Action::Reset { caller, image }),
        1 => (who, img).prop_map(|(caller, image)| Action::Cancel { caller, image }),
    ]
}

struct World {
    images: Vec<Image>,
    permissions: BTreeMap<ImageId, Vec<LaunchPermission>>,
    snapshot_permissions: BTreeMap<SnapshotId, Vec<CreateVolumePermission>>,
    snapshot_owners: BTreeMap<SnapshotId, AccountId>,
    next_id: u128,
}

impl World {
    fn new() -> Self {
        let o = owner();
        let mut with_code = image(4);
        with_code.product_codes.push(ProductCode {
            id: "prod".into(),
            kind: ProductCodeType::Marketplace,
        });
        let mut theirs = encrypted_image(5, customer_key(&member()));
        theirs.owner = member();
        let images = vec![
            image(1),
            encrypted_image(2, customer_key(&o)),
            encrypted_image(3, aws_key(&o)),
            with_code,
            theirs,
        ];
        let snapshot_owners = images
            .iter()
            .flat_map(|i| {
                i.snapshot_ids()
                    .into_iter()
                    .map(|s| (s.clone(), i.owner.clone()))
            })
            .collect();
        World {
            images,
            permissions: BTreeMap::new(),
            snapshot_permissions: BTreeMap::new(),
            snapshot_owners,
            next_id: 1000,
        }
    }

    fn owners(&self) -> BTreeMap<ImageId, AccountId> {
        self.images
            .iter()
            .map(|i| (i.id.clone(), i.owner.clone()))
            .collect()
    }

    fn public_images_of(&self, account: &AccountId, region: &Region, except: &ImageId) -> usize {
        self.images
            .iter()
            .filter(|i| &i.owner == account && &i.region == region && &i.id != except && i.public)
            .count()
    }

    /// Applies `action` if the rules approve it; returns whether it was applied.
    fn apply(&mut self, action: &Action) -> bool {
        let accts = accounts();
        match action {
            Action::Share {
                caller,
                image,
                add,
                remove,
            } => {
                let idx = image % self.images.len();
                let img = self.images[idx].clone();
                let perms = self.permissions.get(&img.id).cloned().unwrap_or_default();
                let public_count = self.public_images_of(&accts[*caller], &img.region, &img.id);
                let ctx = ShareContext {
                    caller: &accts[*caller],
                    image: &img,
                    current_permissions: &perms,
                    block_public_access: BlockPublicAccessState::Unblocked,
                    public_images_in_region: public_count,
                };
                let changes = PermissionChanges {
                    add: add.iter().map(|p| permission(*p)).collect(),
                    remove: remove.iter().map(|p| permission(*p)).collect(),
                };
                match launch_permissions_after(&ctx, &changes) {
                    Ok(after) => {
                        self.images[idx].public = after.contains(&LaunchPermission::Public);
                        self.permissions.insert(img.id, after);
                        true
                    }
                    Err(_) => false,
                }
            }
            Action::ShareSnapshots {
                caller,
                image,
                public,
                account,
            } => {
                let idx = image % self.images.len();
                let img = self.images[idx].clone();
                let grant = if *public {
                    CreateVolumePermission::Public
                } else {
                    CreateVolumePermission::Account(accts[*account].clone())
                };
                let mut applied = false;
                for dev in &img.block_devices {
                    let Some(snap_id) = &dev.snapshot_id else {
                        continue;
                    };
                    let snap = ami_core::Snapshot {
                        id: snap_id.clone(),
                        region: img.region.clone(),
                        owner: self
                            .snapshot_owners
                            .get(snap_id)
                            .cloned()
                            .unwrap_or(img.owner.clone()),
                        volume_id: None,
                        volume_size_gib: dev.volume_size_gib,
                        state: ami_core::model::SnapshotState::Completed,
                        encryption: dev.encryption.clone(),
                        description: String::new(),
                        tags: Default::default(),
                        start_time: ami_core::Timestamp::EPOCH,
                    };
                    let current = self
                        .snapshot_permissions
                        .get(snap_id)
                        .cloned()
                        .unwrap_or_default();
                    if let Ok(after) = snapshot_permissions_after(
                        &accts[*caller],
                        &snap,
                        &current,
                        &PermissionChanges::add([grant.clone()]),
                    ) {
                        self.snapshot_permissions.insert(snap_id.clone(), after);
                        applied = true;
                    }
                }
                applied
            }
            Action::Copy {
                caller,
                image,
                same_region,
                encrypted,
                with_key,
            } => {
                let idx = image % self.images.len();
                let src = self.images[idx].clone();
                let caller_id = &accts[*caller];
                let m = membership(*caller);
                let dest = if *same_region {
                    region()
                } else {
                    other_region()
                };
                let perms = self.permissions.get(&src.id).cloned().unwrap_or_default();
                let own_key = Encryption {
                    key: key_ref(caller_id, &dest, 7),
                    manager: KeyManager::Customer,
                };
                let default_key = Encryption {
                    key: key_ref(caller_id, &dest, 0xeb5),
                    manager: KeyManager::Aws,
                };
                let mut req =
                    CopyImageRequest::new(src.region.clone(), src.id.clone(), "copy-of-image");
                req.encrypted = *encrypted;
                if *with_key {
                    req.kms_key_id = Some(own_key.key.clone());
                }
                let ctx = CopyContext {
                    caller: caller_id,
                    membership: &m,
                    destination_region: &dest,
                    source: &src,
                    source_permissions: &perms,
                    snapshot_permissions: &self.snapshot_permissions,
                };
                if check_copy_image(&ctx, &req).is_err() {
                    return false;
                }
                let params = CopyEncryption {
                    encrypted: *encrypted,
                    kms_key: with_key.then_some(&own_key),
                    default_key: &default_key,
                    encryption_by_default: false,
                };
                let mut devices = Vec::new();
                for dev in &src.block_devices {
                    let Ok(enc) = copy_encryption(dev, ctx.source_key_reusable(), &params) else {
                        return false;
                    };
                    self.next_id += 1;
                    let mut d = dev.clone();
                    d.encryption = enc;
                    d.snapshot_id = Some(SnapshotId::from_u128(self.next_id));
                    self.snapshot_owners
                        .insert(SnapshotId::from_u128(self.next_id), caller_id.clone());
                    devices.push(d);
                }
                let lineage = copy_lineage(caller_id, &src);
                self.next_id += 1;
                let mut copy = src.clone();
                copy.id = ImageId::from_u128(self.next_id);
                copy.region = dest;
                copy.owner = lineage.owner;
                copy.owner_alias = None;
                copy.public = false;
                copy.block_devices = devices;
                copy.source_image_id = Some(lineage.source_image_id);
                copy.source_region = Some(lineage.source_region);
                self.images.push(copy);
                true
            }
            Action::Disable { caller, image } => {
                let idx = image % self.images.len();
                match check_disable_image(&accts[*caller], &self.images[idx]) {
                    Ok(state) => {
                        let img = &mut self.images[idx];
                        img.state = state;
                        img.public = false;
                        self.permissions.remove(&img.id);
                        true
                    }
                    Err(_) => false,
                }
            }
            Action::Enable { caller, image } => {
                let idx = image % self.images.len();
                match check_enable_image(&accts[*caller], &self.images[idx]) {
                    Ok(state) => {
                        self.images[idx].state = state;
                        true
                    }
                    Err(_) => false,
                }
            }
            Action::Reset { caller, image } => {
                let idx = image % self.images.len();
                match launch_permissions_after_reset(&accts[*caller], &self.images[idx]) {
                    Ok(after) => {
                        self.images[idx].public = false;
                        self.permissions.insert(self.images[idx].id.clone(), after);
                        true
                    }
                    Err(_) => false,
                }
            }
            Action::Cancel { caller, image } => {
                let idx = image % self.images.len();
                let img = &self.images[idx];
                let perms = self.permissions.get(&img.id).cloned().unwrap_or_default();
                match launch_permissions_after_cancel(
                    &accts[*caller],
                    &membership(*caller),
                    img,
                    &perms,
                ) {
                    Ok(after) => {
                        self.permissions.insert(img.id.clone(), after);
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No sequence of rule-approved actions leaves an encrypted image public (nor an image
    /// encrypted with an AWS managed key shared with anyone), and sharing never changes the
    /// owner of an image: only a copy creates an image, and the copier owns it, encrypted
    /// whenever its source was.
    #[test]
    fn approved_actions_keep_encrypted_images_private_and_owners_fixed(
        actions in prop::collection::vec(action(), 1..40)
    ) {
        let mut world = World::new();
        for action in &actions {
            let owners_before = world.owners();
            let count_before = world.images.len();
            let applied = world.apply(action);

            // Existing images keep their owners, whatever the action.
            let owners_after = world.owners();
            for (id, owner) in &owners_before {
                prop_assert_eq!(owners_after.get(id), Some(owner), "{:?} changed the owner of {}", action, id);
            }
            // Only an approved copy adds an image: owned by the copier, encrypted if the source was.
            match action {
                Action::Copy { caller, image, .. } if applied => {
                    prop_assert_eq!(world.images.len(), count_before + 1);
                    let copy = world.images.last().unwrap();
                    prop_assert_eq!(&copy.owner, &accounts()[*caller]);
                    let src = &world.images[image % count_before];
                    prop_assert_eq!(copy.source_image_id.as_ref(), Some(&src.id));
                    if src.is_encrypted() {
                        prop_assert!(copy.is_encrypted(), "{:?} decrypted {}", action, src.id);
                    }
                }
                _ => prop_assert_eq!(world.images.len(), count_before),
            }

            for img in &world.images {
                let perms = world.permissions.get(&img.id).cloned().unwrap_or_default();
                let public = img.public || perms.contains(&LaunchPermission::Public);
                if img.is_encrypted() {
                    prop_assert!(!public, "encrypted image {} became public after {:?}", img.id, action);
                }
                if !img.product_codes.is_empty() {
                    prop_assert!(!public, "product-code image {} became public after {:?}", img.id, action);
                }
                if img.kms_keys().iter().any(|e| e.manager == KeyManager::Aws) {
                    prop_assert!(perms.is_empty(), "AWS-managed-key image {} was shared after {:?}", img.id, action);
                }
            }
            for (snap, perms) in &world.snapshot_permissions {
                let encrypted = world
                    .images
                    .iter()
                    .flat_map(|i| &i.block_devices)
                    .any(|d| d.snapshot_id.as_ref() == Some(snap) && d.encryption.is_some());
                if encrypted {
                    prop_assert!(!perms.contains(&CreateVolumePermission::Public), "encrypted snapshot {} became public", snap);
                }
            }
        }
    }
}

/// The world the property runs in does approve actions: a scripted run where shares and a
/// cross-account copy succeed and the forbidden public shares are refused.
#[test]
fn the_world_approves_and_refuses_as_the_rules_say() {
    let mut w = World::new();
    let share = |image, add: Vec<usize>| Action::Share {
        caller: 0,
        image,
        add,
        remove: vec![],
    };
    assert!(w.apply(&share(0, vec![5])), "unencrypted image made public");
    assert!(
        !w.apply(&share(1, vec![5])),
        "customer-key image kept private"
    );
    assert!(
        !w.apply(&share(2, vec![0])),
        "AWS-managed-key image not shared"
    );
    assert!(
        !w.apply(&share(3, vec![5])),
        "product-code image kept private"
    );
    assert!(
        w.apply(&share(1, vec![3])),
        "customer-key image shared with the parent OU"
    );
    let copy = Action::Copy {
        caller: 1,
        image: 1,
        same_region: false,
        encrypted: None,
        with_key: false,
    };
    assert!(!w.apply(&copy), "no snapshot permission yet");
    assert!(w.apply(&Action::ShareSnapshots {
        caller: 0,
        image: 1,
        public: false,
        account: 1
    }));
    assert!(!w.apply(&Action::ShareSnapshots {
        caller: 0,
        image: 1,
        public: true,
        account: 1
    }));
    assert!(w.apply(&copy), "member copies through its OU");
    let c = w.images.last().unwrap();
    assert_eq!(c.owner, member());
    assert!(c.is_encrypted());
    assert_eq!(c.source_image_id, Some(image_id(2)));
    assert!(
        !w.apply(&Action::Share {
            caller: 1,
            image: 5,
            add: vec![5],
            remove: vec![]
        }),
        "the copy is encrypted, so never public"
    );
    assert!(w.apply(&Action::Disable {
        caller: 0,
        image: 1
    }));
    assert!(!w.apply(&copy), "a disabled image is no longer shared");
}
