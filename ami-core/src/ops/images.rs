//! Reads of images that several workflows make the same way.

use crate::api::{DescribeImagesRequest, Ec2, Ec2Ext, Filter, Owner};
use crate::error::Result;
use crate::model::Image;

use super::retry::retry_default;

/// The images of the caller's account in the client's Region named exactly `name`, disabled ones
/// included (a disabled image still holds its name), every page, retried on transient errors.
pub(crate) async fn images_named(ec2: &dyn Ec2, name: &str) -> Result<Vec<Image>> {
    retry_default("DescribeImages", || {
        ec2.describe_all_images(
            DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .filter(Filter::new("name", [name.to_owned()]))
                .include_disabled(true),
        )
    })
    .await
}
