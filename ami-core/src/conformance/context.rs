//! The context the checks run in: clients, capabilities, a unique prefix, timing.

use std::sync::Arc;
use std::time::Duration;

use super::capabilities::{Capabilities, Feature};
use super::fixtures::Stop;
use crate::api::{Connector, Ec2, Kms};
use crate::error::Result;
use crate::id::{AccountId, ImageId, Region};
use crate::time::Clock;

/// An EC2 and a KMS client for one account in one Region.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The EC2 client.
    pub ec2: Arc<dyn Ec2>,
    /// The KMS client (same account and Region).
    pub kms: Arc<dyn Kms>,
}

impl Scope {
    /// A scope from two clients.
    pub fn new(ec2: Arc<dyn Ec2>, kms: Arc<dyn Kms>) -> Self {
        Scope { ec2, kms }
    }

    /// The clients a [`Connector`] gives for `account` in `region`.
    pub fn from_connector(
        connector: &dyn Connector,
        account: &AccountId,
        region: &Region,
    ) -> Result<Self> {
        Ok(Scope {
            ec2: connector.ec2(account, region)?,
            kms: connector.kms(account, region)?,
        })
    }

    /// The account of the scope.
    pub fn account(&self) -> &AccountId {
        self.ec2.account()
    }

    /// The Region of the scope.
    pub fn region(&self) -> &Region {
        self.ec2.region()
    }
}

/// Everything a check needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The account and Region most checks work in.
    pub primary: Scope,
    /// The same account in a second Region (cross-Region copies).
    pub second_region: Option<Scope>,
    /// A second account in the primary Region (sharing, cross-account copies).
    pub second_account: Option<Scope>,
    /// What the backend does not model.
    pub capabilities: Capabilities,
    /// A prefix that makes this run's names unique (`[A-Za-z0-9-]`, a few characters).
    pub prefix: String,
    /// A launchable image in the primary scope that fixture instances start from.
    pub base_image: ImageId,
    /// The clock "now" is read from (virtual on the simulator).
    pub clock: Arc<dyn Clock>,
    /// How long to sleep between polls of a pending resource.
    pub poll_interval: Duration,
    /// How long to wait for a resource to change state before failing.
    pub wait_timeout: Duration,
    /// A label for the backend, shown in the report.
    pub backend: String,
}

impl Ctx {
    /// A context over `primary`, starting fixture instances from `base_image`, claiming every
    /// capability, with prefix `conf`, polling every 15 s for up to 2 h.
    pub fn new(primary: Scope, base_image: ImageId, clock: Arc<dyn Clock>) -> Self {
        Ctx {
            primary,
            second_region: None,
            second_account: None,
            capabilities: Capabilities::full(),
            prefix: "conf".into(),
            base_image,
            clock,
            poll_interval: Duration::from_secs(15),
            wait_timeout: Duration::from_secs(2 * 3600),
            backend: "backend".into(),
        }
    }

    /// Adds the same account in a second Region.
    pub fn with_second_region(mut self, scope: Scope) -> Self {
        self.second_region = Some(scope);
        self
    }

    /// Adds a second account in the primary Region.
    pub fn with_second_account(mut self, scope: Scope) -> Self {
        self.second_account = Some(scope);
        self
    }

    /// Sets the capabilities.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sets the unique prefix of fixture names.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the poll interval and the wait timeout.
    pub fn with_timing(mut self, poll_interval: Duration, wait_timeout: Duration) -> Self {
        self.poll_interval = poll_interval;
        self.wait_timeout = wait_timeout;
        self
    }

    /// Sets the backend label of the report.
    pub fn with_backend(mut self, label: impl Into<String>) -> Self {
        self.backend = label.into();
        self
    }

    /// `Ok` if the backend models `feature`, else a skip with the reason.
    pub(crate) fn require(&self, feature: Feature) -> std::result::Result<(), Stop> {
        match self.capabilities.missing(feature) {
            None => Ok(()),
            Some(reason) => Err(Stop::Skip(format!("{feature:?} not modelled: {reason}"))),
        }
    }

    /// The second-Region scope, or a skip.
    pub(crate) fn second_region(&self) -> std::result::Result<&Scope, Stop> {
        self.second_region
            .as_ref()
            .ok_or_else(|| Stop::Skip("no second Region configured".into()))
    }

    /// The second-account scope, or a skip.
    pub(crate) fn second_account(&self) -> std::result::Result<&Scope, Stop> {
        self.second_account
            .as_ref()
            .ok_or_else(|| Stop::Skip("no second account configured".into()))
    }
}
