//! Conversions between the EC2 SDK types and the ami-core model, as pure functions.
//!
//! Ids that AWS returns are parsed into ami-core's validated ids; an answer with a malformed id
//! is an error with code [`INVALID_RESPONSE`](crate::error::INVALID_RESPONSE) naming the field
//! and the value. Fields that do not identify anything are read leniently: a missing timestamp
//! reads as the Unix epoch, a missing name or architecture as the empty string, a missing size as
//! 0, and an image state this crate does not know yet as [`ImageState::Invalid`] (with a warning).
//!
//! One exception: an item of a describe answer whose **own id** is not AWS-shaped cannot be named
//! through the model at all, so it is left out of the page with a warning instead of failing
//! the whole call (moto's public catalogue, for one, holds images such as `ami-ekswin`).

use std::collections::BTreeMap;

use ami_core::model::{
    AttachedVolume, DeleteSnapshotOutcome, DeleteSnapshotResult, ProductCodeType, SnapshotState,
};
use ami_core::{
    AccountId, CreateVolumePermission, DeregistrationProtection, Encryption, Error, IdError, Image,
    ImageState, Instance, InstanceState, KeyManager, KmsKeyRef, LaunchPermission, OrganizationArn,
    OrganizationalUnitArn, OwnerAlias, ProductCode, Region, Result, Snapshot, StateReason, Tags,
    Timestamp,
};
use aws_sdk_ec2::types as sdk;
use aws_smithy_types::DateTime;

use crate::error::response_error;
use crate::keys::KeyManagers;

/// Parses a required id field of an answer.
pub(crate) fn required_id<T>(
    field: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> std::result::Result<T, IdError>,
) -> Result<T> {
    let v = value.ok_or_else(|| response_error(format!("AWS returned no {field}")))?;
    parse(v).map_err(|e| response_error(format!("AWS returned a malformed {field}: {e}")))
}

/// Parses an optional id field of an answer.
pub(crate) fn optional_id<T>(
    field: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> std::result::Result<T, IdError>,
) -> Result<Option<T>> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => required_id(field, Some(v), parse).map(Some),
    }
}

/// An RFC 3339 timestamp string (EC2 reports image times as strings).
pub(crate) fn timestamp_str(field: &str, value: Option<&str>) -> Result<Option<Timestamp>> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|e| response_error(format!("AWS returned a malformed {field}: {e}"))),
    }
}

/// A smithy `DateTime` as a [`Timestamp`] (milliseconds, saturating).
pub(crate) fn timestamp(dt: Option<&DateTime>) -> Timestamp {
    dt.map(|d| {
        Timestamp::from_millis(d.to_millis().unwrap_or(if d.secs() < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    })
    .unwrap_or(Timestamp::EPOCH)
}

/// A [`Timestamp`] as a smithy `DateTime`.
pub(crate) fn datetime(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millis())
}

/// SDK tags as [`Tags`].
pub(crate) fn tags_from_sdk(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            t.key()
                .map(|k| (k.to_owned(), t.value().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// [`Tags`] as SDK tags.
pub(crate) fn tags_to_sdk(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A tag specification for one resource type, or none when there are no tags.
pub(crate) fn tag_spec(kind: sdk::ResourceType, tags: &Tags) -> Option<sdk::TagSpecification> {
    (!tags.is_empty()).then(|| {
        sdk::TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(tags_to_sdk(tags)))
            .build()
    })
}

/// ami-core filters as SDK filters.
pub(crate) fn filters_to_sdk(filters: &[ami_core::api::Filter]) -> Option<Vec<sdk::Filter>> {
    (!filters.is_empty()).then(|| {
        filters
            .iter()
            .map(|f| {
                sdk::Filter::builder()
                    .name(&f.name)
                    .set_values(Some(f.values.clone()))
                    .build()
            })
            .collect()
    })
}

/// The encryption of a device, volume or snapshot from EC2's `Encrypted` and `KmsKeyId`.
pub(crate) fn encryption(
    encrypted: Option<bool>,
    kms_key_id: Option<&str>,
    keys: &KeyManagers,
) -> Result<Option<Encryption>> {
    if encrypted != Some(true) {
        return Ok(None);
    }
    match kms_key_id.filter(|k| !k.is_empty()) {
        None => Ok(Some(Encryption {
            key: KmsKeyRef::aws_ebs_alias(),
            manager: KeyManager::Aws,
        })),
        Some(k) => {
            let key = required_id("KmsKeyId", Some(k), KmsKeyRef::parse)?;
            let manager = keys.get(&key);
            Ok(Some(Encryption { key, manager }))
        }
    }
}

/// The KMS keys an answer mentions on encrypted resources, for [`KeyManagers`] resolution.
pub(crate) fn encrypted_keys<'a>(
    pairs: impl IntoIterator<Item = (Option<bool>, Option<&'a str>)>,
) -> Vec<KmsKeyRef> {
    let mut out: Vec<KmsKeyRef> = Vec::new();
    for (enc, key) in pairs {
        if enc == Some(true) {
            if let Some(k) = key.and_then(|k| KmsKeyRef::parse(k).ok()) {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

/// Whether a describe item's own id is usable; if not, logs that the item is left out.
pub(crate) fn usable_id<T>(
    kind: &str,
    id: Option<&str>,
    parse: impl FnOnce(&str) -> std::result::Result<T, IdError>,
) -> bool {
    match id.map(parse) {
        Some(Ok(_)) => true,
        _ => {
            tracing::warn!(kind, id = ?id, "left out of the page: its id is not AWS-shaped");
            false
        }
    }
}

/// The `(Encrypted, KmsKeyId)` pairs of images' block devices.
pub(crate) fn image_key_pairs(images: &[sdk::Image]) -> Vec<(Option<bool>, Option<&str>)> {
    images
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs())
        .map(|e| (e.encrypted(), e.kms_key_id()))
        .collect()
}

fn state_reason(r: Option<&sdk::StateReason>) -> Option<StateReason> {
    r.map(|r| StateReason {
        code: r.code().unwrap_or_default().to_owned(),
        message: r.message().unwrap_or_default().to_owned(),
    })
}

fn image_state(s: Option<&sdk::ImageState>, id: &ami_core::ImageId) -> ImageState {
    let wire = s.map(|s| s.as_str()).unwrap_or("pending");
    wire.parse().unwrap_or_else(|_| {
        tracing::warn!(image = %id, state = wire, "unknown image state; read as invalid");
        ImageState::Invalid
    })
}

fn size_gib(v: Option<i32>) -> u32 {
    v.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// An SDK image as an ami-core [`Image`] of `region`.
pub(crate) fn image_from_sdk(i: &sdk::Image, region: &Region, keys: &KeyManagers) -> Result<Image> {
    let id = required_id("ImageId", i.image_id(), ami_core::ImageId::parse)?;
    let mut block_devices = Vec::new();
    for m in i.block_device_mappings() {
        // Instance-store and NoDevice mappings have no EBS part; the model lists EBS devices.
        let Some(ebs) = m.ebs() else { continue };
        block_devices.push(ami_core::BlockDevice {
            device_name: m.device_name().unwrap_or_default().to_owned(),
            snapshot_id: optional_id("SnapshotId", ebs.snapshot_id(), ami_core::SnapshotId::parse)?,
            volume_size_gib: size_gib(ebs.volume_size()),
            encryption: encryption(ebs.encrypted(), ebs.kms_key_id(), keys)?,
            delete_on_termination: ebs.delete_on_termination().unwrap_or(false),
        });
    }
    let product_codes = i.product_codes().iter().filter_map(product_code).collect();
    Ok(Image {
        state: image_state(i.state(), &id),
        region: region.clone(),
        name: i.name().unwrap_or_default().to_owned(),
        description: i.description().filter(|d| !d.is_empty()).map(str::to_owned),
        owner: required_id("OwnerId", i.owner_id(), AccountId::parse)?,
        owner_alias: i
            .image_owner_alias()
            .and_then(|a| a.parse::<OwnerAlias>().ok()),
        state_reason: state_reason(i.state_reason()),
        public: i.public().unwrap_or(false),
        block_devices,
        root_device_name: i.root_device_name().unwrap_or_default().to_owned(),
        architecture: i
            .architecture()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        product_codes,
        tags: tags_from_sdk(i.tags()),
        creation_time: timestamp_str("CreationDate", i.creation_date())?
            .unwrap_or(Timestamp::EPOCH),
        deprecation_time: timestamp_str("DeprecationTime", i.deprecation_time())?,
        deregistration_protection: i
            .deregistration_protection()
            .map(DeregistrationProtection::from_wire)
            .unwrap_or_default(),
        source_image_id: optional_id(
            "SourceImageId",
            i.source_image_id(),
            ami_core::ImageId::parse,
        )?,
        source_region: optional_id("SourceImageRegion", i.source_image_region(), Region::parse)?,
        source_instance_id: optional_id(
            "SourceInstanceId",
            i.source_instance_id(),
            ami_core::InstanceId::parse,
        )?,
        last_launched_time: timestamp_str("LastLaunchedTime", i.last_launched_time())?,
        id,
    })
}

/// An SDK snapshot as an ami-core [`Snapshot`] of `region`.
pub(crate) fn snapshot_from_sdk(
    s: &sdk::Snapshot,
    region: &Region,
    keys: &KeyManagers,
) -> Result<Snapshot> {
    let state = match s.state() {
        Some(sdk::SnapshotState::Completed) => SnapshotState::Completed,
        Some(sdk::SnapshotState::Error) => SnapshotState::Error,
        _ => SnapshotState::Pending,
    };
    Ok(Snapshot {
        id: required_id("SnapshotId", s.snapshot_id(), ami_core::SnapshotId::parse)?,
        region: region.clone(),
        owner: required_id("OwnerId", s.owner_id(), AccountId::parse)?,
        // AWS reports vol-ffffffff for snapshots not taken from a volume (e.g. copies).
        volume_id: s
            .volume_id()
            .filter(|v| *v != "vol-ffffffff")
            .and_then(|v| ami_core::VolumeId::parse(v).ok()),
        volume_size_gib: size_gib(s.volume_size()),
        state,
        encryption: encryption(s.encrypted(), s.kms_key_id(), keys)?,
        description: s.description().unwrap_or_default().to_owned(),
        tags: tags_from_sdk(s.tags()),
        start_time: timestamp(s.start_time()),
    })
}

/// The facts about an attached volume that DescribeInstances does not give
/// (size and encryption), from DescribeVolumes.
#[derive(Debug, Clone)]
pub(crate) struct VolumeFacts {
    pub(crate) size_gib: u32,
    pub(crate) encryption: Option<Encryption>,
}

/// The SDK instance state name as an ami-core [`InstanceState`].
pub(crate) fn instance_state(s: Option<&sdk::InstanceState>) -> Result<InstanceState> {
    let name = s
        .and_then(|s| s.name())
        .map(|n| n.as_str())
        .unwrap_or("pending");
    name.parse()
        .map_err(|e: String| response_error(format!("AWS returned {e}")))
}

/// An SDK instance as an ami-core [`Instance`].
pub(crate) fn instance_from_sdk(
    i: &sdk::Instance,
    owner: &AccountId,
    region: &Region,
    volumes: &BTreeMap<String, VolumeFacts>,
) -> Result<Instance> {
    let mut attached = Vec::new();
    for m in i.block_device_mappings() {
        let Some(ebs) = m.ebs() else { continue };
        let volume_id = required_id("VolumeId", ebs.volume_id(), ami_core::VolumeId::parse)?;
        let facts = volumes.get(volume_id.as_str());
        attached.push(AttachedVolume {
            device_name: m.device_name().unwrap_or_default().to_owned(),
            size_gib: facts.map(|f| f.size_gib).unwrap_or(0),
            encryption: facts.and_then(|f| f.encryption.clone()),
            delete_on_termination: ebs.delete_on_termination().unwrap_or(false),
            volume_id,
        });
    }
    // The root device comes first.
    if let Some(root) = i.root_device_name() {
        if let Some(pos) = attached.iter().position(|v| v.device_name == root) {
            let r = attached.remove(pos);
            attached.insert(0, r);
        }
    }
    Ok(Instance {
        id: required_id("InstanceId", i.instance_id(), ami_core::InstanceId::parse)?,
        region: region.clone(),
        owner: owner.clone(),
        image_id: required_id("ImageId", i.image_id(), ami_core::ImageId::parse)?,
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        state: instance_state(i.state())?,
        state_reason: state_reason(i.state_reason()),
        launch_time: timestamp(i.launch_time()),
        volumes: attached,
        product_codes: i.product_codes().iter().filter_map(product_code).collect(),
        tags: tags_from_sdk(i.tags()),
    })
}

/// A product code as the model's (images and instances share the SDK type); `None` when the
/// answer lacks its id or type.
fn product_code(p: &sdk::ProductCode) -> Option<ProductCode> {
    let kind = match p.product_code_type()? {
        sdk::ProductCodeValues::Marketplace => ProductCodeType::Marketplace,
        sdk::ProductCodeValues::Devpay => ProductCodeType::Devpay,
        _ => ProductCodeType::Marketplace,
    };
    Some(ProductCode {
        id: p.product_code_id()?.to_owned(),
        kind,
    })
}

/// An SDK instance state change.
pub(crate) fn state_change(
    c: &sdk::InstanceStateChange,
) -> Result<ami_core::api::InstanceStateChange> {
    Ok(ami_core::api::InstanceStateChange {
        instance_id: required_id("InstanceId", c.instance_id(), ami_core::InstanceId::parse)?,
        previous: instance_state(c.previous_state())?,
        current: instance_state(c.current_state())?,
    })
}

/// A launch permission as the SDK's.
pub(crate) fn launch_permission_to_sdk(p: &LaunchPermission) -> sdk::LaunchPermission {
    let b = sdk::LaunchPermission::builder();
    match p {
        LaunchPermission::Account(a) => b.user_id(a.as_str()),
        LaunchPermission::Public => b.group(sdk::PermissionGroup::All),
        LaunchPermission::Organization(o) => b.organization_arn(o.as_str()),
        LaunchPermission::OrganizationalUnit(o) => b.organizational_unit_arn(o.as_str()),
    }
    .build()
}

/// An SDK launch permission as ami-core's.
pub(crate) fn launch_permission_from_sdk(p: &sdk::LaunchPermission) -> Result<LaunchPermission> {
    if let Some(u) = p.user_id() {
        return required_id("UserId", Some(u), AccountId::parse).map(LaunchPermission::Account);
    }
    if let Some(o) = p.organizational_unit_arn() {
        return required_id(
            "OrganizationalUnitArn",
            Some(o),
            OrganizationalUnitArn::parse,
        )
        .map(LaunchPermission::OrganizationalUnit);
    }
    if let Some(o) = p.organization_arn() {
        return required_id("OrganizationArn", Some(o), OrganizationArn::parse)
            .map(LaunchPermission::Organization);
    }
    match p.group() {
        Some(sdk::PermissionGroup::All) => Ok(LaunchPermission::Public),
        other => Err(response_error(format!(
            "AWS returned a launch permission of unknown form (group {other:?})"
        ))),
    }
}

/// A create-volume permission as the SDK's.
pub(crate) fn volume_permission_to_sdk(p: &CreateVolumePermission) -> sdk::CreateVolumePermission {
    let b = sdk::CreateVolumePermission::builder();
    match p {
        CreateVolumePermission::Account(a) => b.user_id(a.as_str()),
        CreateVolumePermission::Public => b.group(sdk::PermissionGroup::All),
    }
    .build()
}

/// An SDK create-volume permission as ami-core's.
pub(crate) fn volume_permission_from_sdk(
    p: &sdk::CreateVolumePermission,
) -> Result<CreateVolumePermission> {
    if let Some(u) = p.user_id() {
        return required_id("UserId", Some(u), AccountId::parse)
            .map(CreateVolumePermission::Account);
    }
    match p.group() {
        Some(sdk::PermissionGroup::All) => Ok(CreateVolumePermission::Public),
        other => Err(response_error(format!(
            "AWS returned a create-volume permission of unknown form (group {other:?})"
        ))),
    }
}

/// One entry of DeregisterImage's `DeleteSnapshotResults`.
pub(crate) fn delete_snapshot_result(
    r: &sdk::DeleteSnapshotReturnCode,
) -> Result<DeleteSnapshotResult> {
    let outcome = match r.return_code() {
        Some(sdk::SnapshotReturnCodes::Success) => DeleteSnapshotOutcome::Success,
        Some(sdk::SnapshotReturnCodes::WarnSkipped) => DeleteSnapshotOutcome::Skipped,
        Some(sdk::SnapshotReturnCodes::ErrorMissingPermissions) => {
            DeleteSnapshotOutcome::MissingPermissions
        }
        Some(sdk::SnapshotReturnCodes::ErrorCodeInternalError) => {
            DeleteSnapshotOutcome::InternalError
        }
        _ => DeleteSnapshotOutcome::ClientError,
    };
    Ok(DeleteSnapshotResult {
        snapshot_id: required_id("SnapshotId", r.snapshot_id(), ami_core::SnapshotId::parse)?,
        outcome,
    })
}

/// `Err` with code `InvalidParameterValue` for an unrepresentable request value.
pub(crate) fn bad_request_value(what: &str, value: impl std::fmt::Display, fix: &str) -> Error {
    Error::InvalidParameter(ami_core::ServiceError::new(
        "InvalidParameterValue",
        format!("{what} {value} cannot be sent to AWS: {fix}"),
    ))
}

/// A count or size as the SDK's `i32`, or a typed error naming the value.
pub(crate) fn to_i32(what: &str, v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|_| bad_request_value(what, v, "use a value below 2^31"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_permissions_round_trip() {
        let perms = [
            LaunchPermission::Account(AccountId::parse("012345678901").unwrap()),
            LaunchPermission::Public,
            LaunchPermission::Organization(
                OrganizationArn::parse(
                    "arn:aws:organizations::111122223333:organization/o-abc123def4",
                )
                .unwrap(),
            ),
            LaunchPermission::OrganizationalUnit(
                OrganizationalUnitArn::parse(
                    "arn:aws:organizations::111122223333:ou/o-abc123def4/ou-ab12-cdef3456",
                )
                .unwrap(),
            ),
        ];
        for p in perms {
            let wire = launch_permission_to_sdk(&p);
            assert_eq!(launch_permission_from_sdk(&wire).unwrap(), p);
        }
        let e = launch_permission_from_sdk(&sdk::LaunchPermission::builder().user_id("12").build())
            .unwrap_err();
        assert_eq!(e.code(), crate::error::INVALID_RESPONSE);
        assert!(e.message().contains("\"12\""), "{}", e.message());
    }

    #[test]
    fn volume_permissions_round_trip() {
        for p in [
            CreateVolumePermission::Account(AccountId::parse("000000000042").unwrap()),
            CreateVolumePermission::Public,
        ] {
            assert_eq!(
                volume_permission_from_sdk(&volume_permission_to_sdk(&p)).unwrap(),
                p
            );
        }
    }

    #[test]
    fn encryption_needs_encrypted_true() {
        let keys = KeyManagers::default();
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(encryption(Some(false), Some(arn), &keys).unwrap(), None);
        assert_eq!(encryption(None, None, &keys).unwrap(), None);
        let e = encryption(Some(true), Some(arn), &keys).unwrap().unwrap();
        assert_eq!(e.key.as_str(), arn);
        assert_eq!(e.manager, KeyManager::Customer);
        let d = encryption(Some(true), None, &keys).unwrap().unwrap();
        assert_eq!(d.key, KmsKeyRef::aws_ebs_alias());
        assert_eq!(d.manager, KeyManager::Aws);
        let bad = encryption(Some(true), Some("not-a-key"), &keys).unwrap_err();
        assert_eq!(bad.code(), crate::error::INVALID_RESPONSE);
    }

    #[test]
    fn timestamps_round_trip_through_datetime() {
        let t: Timestamp = "2026-03-01T10:00:00.250Z".parse().unwrap();
        assert_eq!(timestamp(Some(&datetime(t))), t);
        assert_eq!(timestamp(None), Timestamp::EPOCH);
        assert_eq!(
            timestamp_str("CreationDate", Some("2026-03-01T10:00:00.000Z")).unwrap(),
            Some("2026-03-01T10:00:00Z".parse().unwrap())
        );
        let e = timestamp_str("CreationDate", Some("yesterday")).unwrap_err();
        assert_eq!(e.code(), crate::error::INVALID_RESPONSE);
    }
}
