//! Creating an image from an instance (CreateImage): what is checked, what happens to the
//! instance, and what the new image inherits.

use crate::api::CreateImageRequest;
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, InstanceId, Region};
use crate::lifecycle::{create_image_effect, CreateImageEffect};
use crate::model::{Image, Instance, ProductCode};

use super::{check_name_available, validate_description, validate_image_name};

/// The checks of CreateImage, in order, and what it does to the instance:
///
/// | situation | code |
/// |---|---|
/// | the instance is not the caller's | `InvalidInstanceID.NotFound` (other accounts' instances are invisible) |
/// | bad name / description | `InvalidAMIName.Malformed` / `InvalidParameterValue` |
/// | the instance is not `running`, `stopping` or `stopped` | `InvalidParameterValue` "Invalid value 'i-…' for instanceId. Instance is not in state 'running' or 'stopping' or 'stopped'" |
/// | the caller already has an image of that name in the Region among `images` | `InvalidAMIName.Duplicate` |
///
/// On success, the [`CreateImageEffect`]: a running instance reboots unless `NoReboot`.
pub fn check_create_image<'a>(
    caller: &AccountId,
    instance: &Instance,
    req: &CreateImageRequest,
    images: impl IntoIterator<Item = &'a Image>,
) -> Result<CreateImageEffect> {
    if &instance.owner != caller || instance.id != req.instance_id {
        return Err(Error::from_code(
            "InvalidInstanceID.NotFound",
            format!(
                "The instance ID '{}' does not exist (in {} for account {caller}).",
                req.instance_id, instance.region
            ),
        ));
    }
    validate_image_name(&req.name)?;
    if let Some(d) = &req.description {
        validate_description(d)?;
    }
    let effect = create_image_effect(&instance.id, instance.state, req.no_reboot)?;
    check_name_available(&req.name, caller, &instance.region, images)?;
    Ok(effect)
}

/// What an image made by CreateImage inherits from its instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLineage {
    /// `SourceInstanceId`: the instance imaged.
    pub source_instance_id: InstanceId,
    /// `SourceImageId`: the image the instance was launched from.
    pub source_image_id: ImageId,
    /// `SourceImageRegion`: the instance's Region.
    pub source_region: Region,
    /// The product codes of the image the instance was launched from: an image made from a
    /// Marketplace instance keeps the Marketplace codes.
    pub product_codes: Vec<ProductCode>,
}

/// The lineage of an image created from `instance`; `launched_from` is the image the instance
/// was launched from, if it is still known (its product codes are carried over).
pub fn create_lineage(instance: &Instance, launched_from: Option<&Image>) -> CreateLineage {
    CreateLineage {
        source_instance_id: instance.id.clone(),
        source_image_id: instance.image_id.clone(),
        source_region: instance.region.clone(),
        product_codes: launched_from
            .filter(|i| i.id == instance.image_id)
            .map(|i| i.product_codes.clone())
            .unwrap_or_default(),
    }
}
