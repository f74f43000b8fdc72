//! What a pipeline builds: the parent image, the components, the tests and the build
//! infrastructure.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::api::{DescribeImagesRequest, Ec2, Ec2Ext, Filter, Owner};
use crate::error::{Error, Result};
use crate::id::ImageId;
use crate::model::{Image, ImageState, Instance, Tags};
use crate::ops::retry::retry_default;

/// How the parent image of a build is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentSelector {
    /// Always this image.
    Pinned(ImageId),
    /// The newest `available` image whose name matches `name_pattern` (`*` and `?`
    /// wildcards), owned by one of `owners` (e.g. `amazon`, or the factory account).
    Newest {
        /// The name pattern, e.g. `al2023-ami-2023.*-x86_64`.
        name_pattern: String,
        /// The owners to look in (at least one).
        owners: Vec<Owner>,
    },
}

impl ParentSelector {
    /// The newest image called like `name_pattern` from `owners`.
    pub fn newest(
        name_pattern: impl Into<String>,
        owners: impl IntoIterator<Item = Owner>,
    ) -> Self {
        ParentSelector::Newest {
            name_pattern: name_pattern.into(),
            owners: owners.into_iter().collect(),
        }
    }

    /// Resolves the selector to one `available` image, as `ec2`'s account sees it.
    ///
    /// Errors: `InvalidAMIID.NotFound` when nothing matches; `InvalidAMIID.Unavailable` when a
    /// pinned image is not `available`.
    pub async fn resolve(&self, ec2: &dyn Ec2) -> Result<Image> {
        match self {
            ParentSelector::Pinned(id) => {
                let img = retry_default("DescribeImages", || ec2.describe_image(id)).await?;
                if img.state != ImageState::Available {
                    return Err(Error::from_code(
                        "InvalidAMIID.Unavailable",
                        format!(
                            "The pinned parent image {id} is {}, not available; pin another image",
                            img.state
                        ),
                    ));
                }
                Ok(img)
            }
            ParentSelector::Newest {
                name_pattern,
                owners,
            } => {
                let mut req = DescribeImagesRequest::new()
                    .filter(Filter::new("name", [name_pattern.clone()]))
                    .filter(Filter::new("state", ["available"]));
                for o in owners {
                    req = req.owner(o.clone());
                }
                let images =
                    retry_default("DescribeImages", || ec2.describe_all_images(req.clone()))
                        .await?;
                images
                    .into_iter()
                    // Checked again here, so a backend that ignores a filter cannot pick a
                    // wrong parent.
                    .filter(|i| i.state == ImageState::Available && crate::wildcard::matches(name_pattern, &i.name))
                    .max_by(|a, b| {
                        (a.creation_time, &a.id).cmp(&(b.creation_time, &b.id))
                    })
                    .ok_or_else(|| {
                        let owners: Vec<String> = owners.iter().map(|o| o.to_string()).collect();
                        Error::from_code(
                            "InvalidAMIID.NotFound",
                            format!(
                                "No available image named like {name_pattern:?} from owners [{}] in {}; check the pattern and the owners",
                                owners.join(", "),
                                ec2.region()
                            ),
                        )
                    })
            }
        }
    }
}

/// What a component or test runs against.
#[derive(Debug, Clone)]
pub struct StepContext {
    /// The EC2 client of the pipeline's account and Region.
    pub ec2: Arc<dyn Ec2>,
    /// The build instance (for components) or the test instance (for tests), as last
    /// described (running).
    pub instance: Instance,
    /// The parent image of the build.
    pub parent: Image,
    /// The new image (for tests); `None` while building.
    pub image: Option<Image>,
    /// The pipeline's name.
    pub pipeline: String,
    /// The run number (1-based).
    pub run: u64,
}

/// One customization step run against the build instance, in recipe order.
///
/// An `Err` fails the build: the build instance is terminated and no image is made.
#[async_trait]
pub trait Component: Send + Sync + fmt::Debug {
    /// The component's name (shown in the run history).
    fn name(&self) -> &str;
    /// Customizes the build instance.
    async fn apply(&self, ctx: &StepContext) -> Result<()>;
}

/// One check run against a test instance launched from the new image.
///
/// An `Err` fails the run: the image is discarded and nothing is distributed.
#[async_trait]
pub trait ImageTest: Send + Sync + fmt::Debug {
    /// The test's name (shown in the run history).
    fn name(&self) -> &str;
    /// Checks the test instance.
    async fn check(&self, ctx: &StepContext) -> Result<()>;
}

type StepFn = Arc<dyn Fn(StepContext) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// A [`Component`] or [`ImageTest`] made from a closure: see [`component_fn`] and [`test_fn`].
#[derive(Clone)]
pub struct FnStep {
    name: String,
    f: StepFn,
}

impl fmt::Debug for FnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnStep({:?})", self.name)
    }
}

fn fn_step<F, Fut>(name: impl Into<String>, f: F) -> FnStep
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    FnStep {
        name: name.into(),
        f: Arc::new(move |ctx| Box::pin(f(ctx))),
    }
}

/// A component from a closure that receives the [`StepContext`] by value.
///
/// ```
/// use ami_core::ops::pipeline::component_fn;
/// let c = component_fn("install-agent", |ctx| async move {
///     // e.g. run a command on ctx.instance through your own channel
///     let _ = ctx.instance.id;
///     Ok(())
/// });
/// assert_eq!(ami_core::ops::pipeline::Component::name(c.as_ref()), "install-agent");
/// ```
pub fn component_fn<F, Fut>(name: impl Into<String>, f: F) -> Arc<dyn Component>
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Arc::new(fn_step(name, f))
}

/// An image test from a closure that receives the [`StepContext`] by value.
pub fn test_fn<F, Fut>(name: impl Into<String>, f: F) -> Arc<dyn ImageTest>
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Arc::new(fn_step(name, f))
}

#[async_trait]
impl Component for FnStep {
    fn name(&self) -> &str {
        &self.name
    }
    async fn apply(&self, ctx: &StepContext) -> Result<()> {
        (self.f)(ctx.clone()).await
    }
}

#[async_trait]
impl ImageTest for FnStep {
    fn name(&self) -> &str {
        &self.name
    }
    async fn check(&self, ctx: &StepContext) -> Result<()> {
        (self.f)(ctx.clone()).await
    }
}

/// The recipe: parent, ordered components, tests.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// How the parent image is chosen.
    pub parent: ParentSelector,
    /// The components, run in order against the build instance.
    pub components: Vec<Arc<dyn Component>>,
    /// The tests, run in order against a test instance of the new image.
    pub tests: Vec<Arc<dyn ImageTest>>,
}

impl Recipe {
    /// A recipe with no component and no test yet.
    pub fn new(parent: ParentSelector) -> Self {
        Recipe {
            parent,
            components: Vec::new(),
            tests: Vec::new(),
        }
    }
    /// Appends a component.
    pub fn component(mut self, c: Arc<dyn Component>) -> Self {
        self.components.push(c);
        self
    }
    /// Appends a test.
    pub fn test(mut self, t: Arc<dyn ImageTest>) -> Self {
        self.tests.push(t);
        self
    }
}

/// Where and how the build and test instances run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Infrastructure {
    /// The instance type of build and test instances.
    pub instance_type: String,
    /// Tags for build and test instances (and the image and its snapshots).
    pub tags: Tags,
}

impl Default for Infrastructure {
    fn default() -> Self {
        Infrastructure {
            instance_type: "t3.micro".into(),
            tags: Tags::new(),
        }
    }
}

impl Infrastructure {
    /// Sets the instance type.
    pub fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = t.into();
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
}
