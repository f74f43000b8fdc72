//! Conveniences over [`Ec2`] and [`Kms`]: follow every page, fetch one resource.

use async_trait::async_trait;

use super::*;
use crate::error::{Error, ServiceError};

/// A describe request that can ask for the page after `token`.
trait Paged: Clone {
    fn set_next_token(&mut self, token: String);
}

impl Paged for DescribeImagesRequest {
    fn set_next_token(&mut self, token: String) {
        self.next_token = Some(token);
    }
}

impl Paged for DescribeInstancesRequest {
    fn set_next_token(&mut self, token: String) {
        self.next_token = Some(token);
    }
}

impl Paged for DescribeSnapshotsRequest {
    fn set_next_token(&mut self, token: String) {
        self.next_token = Some(token);
    }
}

/// Calls `fetch` page after page, following `next_token` to the last page.
async fn all_pages<R, T, F, Fut>(mut req: R, mut fetch: F) -> Result<Vec<T>>
where
    R: Paged,
    F: FnMut(R) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut out = Vec::new();
    loop {
        let page = fetch(req.clone()).await?;
        out.extend(page.items);
        match page.next_token {
            Some(t) => req.set_next_token(t),
            None => return Ok(out),
        }
    }
}

/// Conveniences on every [`Ec2`]. Blanket-implemented: do not implement it yourself.
#[async_trait]
pub trait Ec2Ext: Ec2 {
    /// DescribeImages, following `next_token` to the last page.
    async fn describe_all_images(&self, req: DescribeImagesRequest) -> Result<Vec<Image>> {
        all_pages(req, |r| self.describe_images(r)).await
    }

    /// One image by id, with deprecated and disabled images included.
    async fn describe_image(&self, id: &ImageId) -> Result<Image> {
        let req = DescribeImagesRequest::ids([id.clone()])
            .include_deprecated(true)
            .include_disabled(true);
        self.describe_images(req)
            .await?
            .items
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| {
                Error::NotFound(ServiceError::new(
                    "InvalidAMIID.NotFound",
                    format!("The image id '[{id}]' does not exist"),
                ))
            })
    }

    /// DescribeInstances, following `next_token` to the last page.
    async fn describe_all_instances(&self, req: DescribeInstancesRequest) -> Result<Vec<Instance>> {
        all_pages(req, |r| self.describe_instances(r)).await
    }

    /// One instance by id.
    async fn describe_instance(&self, id: &InstanceId) -> Result<Instance> {
        self.describe_instances(DescribeInstancesRequest::ids([id.clone()]))
            .await?
            .items
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| {
                Error::NotFound(ServiceError::new(
                    "InvalidInstanceID.NotFound",
                    format!("The instance ID '{id}' does not exist"),
                ))
            })
    }

    /// DescribeSnapshots, following `next_token` to the last page.
    async fn describe_all_snapshots(&self, req: DescribeSnapshotsRequest) -> Result<Vec<Snapshot>> {
        all_pages(req, |r| self.describe_snapshots(r)).await
    }

    /// One snapshot by id.
    async fn describe_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        self.describe_snapshots(DescribeSnapshotsRequest::ids([id.clone()]))
            .await?
            .items
            .into_iter()
            .find(|s| &s.id == id)
            .ok_or_else(|| {
                Error::NotFound(ServiceError::new(
                    "InvalidSnapshot.NotFound",
                    format!("The snapshot '{id}' does not exist."),
                ))
            })
    }
}

impl<T: Ec2 + ?Sized> Ec2Ext for T {}

/// Conveniences on every [`Kms`]. Blanket-implemented: do not implement it yourself.
#[async_trait]
pub trait KmsExt: Kms {
    /// Creates a customer managed key and the alias `alias/<name>` for it.
    async fn create_key_with_alias(&self, name: &str, description: &str) -> Result<KmsKey> {
        let key = self.create_key(CreateKeyRequest::new(description)).await?;
        let alias = if name.starts_with("alias/") {
            name.to_owned()
        } else {
            format!("alias/{name}")
        };
        self.create_alias(alias.clone(), key.arn.clone()).await?;
        let mut key = key;
        key.aliases.push(alias);
        Ok(key)
    }
}

impl<T: Kms + ?Sized> KmsExt for T {}
