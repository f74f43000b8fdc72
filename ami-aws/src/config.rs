//! [`AwsConfig`], the builder, and [`AwsBackend`], the resolved configuration clients are made
//! from.

use std::fmt;
use std::time::Duration;

use ami_core::{AccountId, Region, Result};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::connector::{AssumeRole, AwsConnector};
use crate::error::{config_error, map_sdk_error};
use crate::{AwsEc2, AwsKms};

/// Static credentials, for emulators and tests (never logged).
#[derive(Clone)]
struct StaticCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// How to reach AWS: the builder of an [`AwsBackend`].
///
/// Everything is optional. By default the standard AWS chains are used, exactly as the AWS CLI
/// and every AWS SDK do: credentials from the environment (`AWS_ACCESS_KEY_ID`, ...), the shared
/// config and credentials files (`AWS_PROFILE`), web identity, SSO, ECS and EC2 instance roles;
/// the Region from `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile; retries in the SDK's
/// standard mode (3 attempts, exponential backoff with jitter, throttling and server errors
/// retried). Each setter overrides one part.
///
/// ```no_run
/// # async fn demo() -> ami_core::Result<()> {
/// use std::time::Duration;
/// use ami_aws::AwsBackend;
///
/// let backend = AwsBackend::builder()
///     .region("eu-west-1")
///     .max_attempts(5)
///     .operation_timeout(Duration::from_secs(60))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    base: Option<SdkConfig>,
    region: Option<String>,
    endpoint_url: Option<String>,
    profile: Option<String>,
    credentials: Option<StaticCredentials>,
    account: Option<AccountId>,
    max_attempts: Option<u32>,
    initial_backoff: Option<Duration>,
    max_backoff: Option<Duration>,
    operation_timeout: Option<Duration>,
    operation_attempt_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    role_name: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
}

/// The access key moto and LocalStack accept; any value works with them.
const EMULATOR_KEY: &str = "testing";

impl AwsConfig {
    /// Every setting from the standard AWS chains (same as [`AwsBackend::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from an `SdkConfig` you loaded yourself (with `aws_config::defaults(..).load()`
    /// or built by hand); the settings of this builder override its parts.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        AwsConfig {
            base: Some(config.clone()),
            ..Self::default()
        }
    }

    /// A configuration for an AWS emulator (moto, LocalStack) at `endpoint_url`, such as
    /// `http://127.0.0.1:5000`: Region `us-east-1`, static test credentials, and the account id
    /// asked from the emulator's STS (moto answers `123456789012` unless told otherwise).
    pub fn emulator(endpoint_url: impl Into<String>) -> Self {
        AwsConfig::new()
            .endpoint_url(endpoint_url)
            .region("us-east-1")
            .static_credentials(EMULATOR_KEY, EMULATOR_KEY, None)
    }

    /// The Region the backend's default clients call (e.g. `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every call (EC2, KMS, STS) to this URL instead of AWS: for moto
    /// (`http://127.0.0.1:5000`), LocalStack (`http://localhost:4566`) or a VPC endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Reads credentials and Region from this profile of the shared config files instead of
    /// `AWS_PROFILE` or `default` (ignored with [`from_sdk_config`](Self::from_sdk_config)).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Uses these credentials instead of the credential chain (for emulators and tests; real
    /// deployments should prefer roles and the chain).
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials = Some(StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        });
        self
    }

    /// The caller's account id. Without it, [`build`](Self::build) asks STS GetCallerIdentity.
    pub fn account(mut self, account: AccountId) -> Self {
        self.account = Some(account);
        self
    }

    /// The most attempts per call in the SDK's standard retry mode, first attempt included
    /// (default 3; 1 disables retries). Throttling (`RequestLimitExceeded`, ...), server errors
    /// and transient network errors are retried with exponential backoff and jitter.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The base of the exponential backoff between attempts (SDK default 1 s).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = Some(d);
        self
    }

    /// The longest wait between attempts (SDK default 20 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = Some(d);
        self
    }

    /// The longest a call may take, all retries included.
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = Some(d);
        self
    }

    /// The longest one attempt of a call may take.
    pub fn operation_attempt_timeout(mut self, d: Duration) -> Self {
        self.operation_attempt_timeout = Some(d);
        self
    }

    /// The longest connecting may take (SDK default 3.1 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// The longest to wait for the first byte of a response.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = Some(d);
        self
    }

    /// The role [`AwsConnector`] assumes in every other account:
    /// `arn:<partition>:iam::<account>:role/<name>` (a path may be included: `ops/ami-admin`).
    pub fn assume_role_name(mut self, name: impl Into<String>) -> Self {
        self.role_name = Some(name.into());
        self
    }

    /// The external id the assumed roles require, if any.
    pub fn assume_role_external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// The session name of assumed roles (default `ami-<caller account>`), shown in CloudTrail.
    pub fn assume_role_session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    fn retry_config(&self, base: Option<&RetryConfig>) -> Result<Option<RetryConfig>> {
        if self.max_attempts.is_none()
            && self.initial_backoff.is_none()
            && self.max_backoff.is_none()
        {
            return Ok(None);
        }
        let mut rc = base.cloned().unwrap_or_else(RetryConfig::standard);
        if let Some(n) = self.max_attempts {
            if n == 0 {
                return Err(config_error(
                    "max_attempts 0 is not valid: it counts the first attempt, so use 1 to \
                     disable retries or a larger number to allow them",
                ));
            }
            rc = rc.with_max_attempts(n);
        }
        if let Some(d) = self.initial_backoff {
            rc = rc.with_initial_backoff(d);
        }
        if let Some(d) = self.max_backoff {
            rc = rc.with_max_backoff(d);
        }
        Ok(Some(rc))
    }

    fn timeout_config(&self, base: Option<&TimeoutConfig>) -> Result<Option<TimeoutConfig>> {
        let set = [
            ("operation_timeout", self.operation_timeout),
            ("operation_attempt_timeout", self.operation_attempt_timeout),
            ("connect_timeout", self.connect_timeout),
            ("read_timeout", self.read_timeout),
        ];
        if set.iter().all(|(_, d)| d.is_none()) {
            return Ok(None);
        }
        if let Some((name, _)) = set.iter().find(|(_, d)| *d == Some(Duration::ZERO)) {
            return Err(config_error(format!(
                "{name} of 0 s would fail every call: give a positive duration, or leave it \
                 unset for no limit"
            )));
        }
        let mut b = base.map(TimeoutConfig::to_builder).unwrap_or_default();
        if let Some(d) = self.operation_timeout {
            b.set_operation_timeout(Some(d));
        }
        if let Some(d) = self.operation_attempt_timeout {
            b.set_operation_attempt_timeout(Some(d));
        }
        if let Some(d) = self.connect_timeout {
            b.set_connect_timeout(Some(d));
        }
        if let Some(d) = self.read_timeout {
            b.set_read_timeout(Some(d));
        }
        Ok(Some(b.build()))
    }

    /// Resolves the configuration: loads the standard chains (unless built
    /// [`from_sdk_config`](Self::from_sdk_config)), applies the overrides, checks them, and
    /// learns the caller's account from STS GetCallerIdentity unless it was given.
    ///
    /// Fails with code `InvalidClientConfiguration` when no Region is configured or a setting is
    /// invalid, and with the mapped AWS error when GetCallerIdentity fails (for example
    /// `InvalidClientTokenId` for bad credentials).
    pub async fn build(self) -> Result<AwsBackend> {
        let region = self
            .region
            .as_deref()
            .map(Region::parse)
            .transpose()
            .map_err(|e| config_error(e.to_string()))?;
        if let Some(url) = &self.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(config_error(format!(
                    "endpoint URL {url:?} is not an http:// or https:// URL; use for example \
                     http://127.0.0.1:5000 for moto"
                )));
            }
        }
        if let Some(role) = &self.role_name {
            crate::connector::check_role_name(role)?;
        }
        let base = match &self.base {
            Some(c) => c.clone(),
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(p) = &self.profile {
                    loader = loader.profile_name(p);
                }
                if let Some(r) = &region {
                    loader = loader.region(aws_config::Region::new(r.as_str().to_owned()));
                }
                if let Some(c) = &self.credentials {
                    loader = loader.credentials_provider(self::credentials(c));
                }
                loader.load().await
            }
        };
        let mut b = base.to_builder();
        if let Some(r) = &region {
            b.set_region(Some(aws_config::Region::new(r.as_str().to_owned())));
        }
        if let Some(url) = &self.endpoint_url {
            b.set_endpoint_url(Some(url.clone()));
        }
        if let Some(c) = &self.credentials {
            b.set_credentials_provider(Some(SharedCredentialsProvider::new(credentials(c))));
        }
        if let Some(rc) = self.retry_config(base.retry_config())? {
            b.set_retry_config(Some(rc));
        }
        if let Some(tc) = self.timeout_config(base.timeout_config())? {
            b.set_timeout_config(Some(tc));
        }
        if base.time_source().is_none() {
            b.set_time_source(Some(Default::default()));
        }
        if base.behavior_version().is_none() {
            b.set_behavior_version(Some(BehaviorVersion::latest()));
        }
        let sdk = b.build();
        let home =
            match sdk.region() {
                Some(r) => Region::parse(r.as_ref()).map_err(|e| config_error(e.to_string()))?,
                None => return Err(config_error(
                    "no AWS Region is configured: set AWS_REGION, a region in the AWS profile, \
                     or AwsConfig::region (e.g. \"us-east-1\")",
                )),
            };
        let account = match self.account {
            Some(a) => a,
            None => caller_account(&sdk).await?,
        };
        let assume = self.role_name.map(|role_name| AssumeRole {
            session_name: self
                .session_name
                .unwrap_or_else(|| format!("ami-{account}")),
            role_name,
            external_id: self.external_id,
        });
        Ok(AwsBackend {
            sdk,
            account,
            region: home,
            assume,
        })
    }
}

fn credentials(c: &StaticCredentials) -> Credentials {
    Credentials::new(
        &c.access_key_id,
        &c.secret_access_key,
        c.session_token.clone(),
        None,
        "ami-aws-static",
    )
}

/// STS GetCallerIdentity: the account the credentials belong to.
pub(crate) async fn caller_account(sdk: &SdkConfig) -> Result<AccountId> {
    let sts = aws_sdk_sts::Client::new(sdk);
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(map_sdk_error)?;
    crate::convert::required_id("Account", who.account(), AccountId::parse)
}

/// A resolved AWS configuration for one caller account: makes EC2 and KMS clients for any
/// Region, and the [`AwsConnector`] for other accounts.
///
/// Cheap to clone. Build it with [`AwsBackend::builder`] or [`AwsBackend::from_env`].
#[derive(Debug, Clone)]
pub struct AwsBackend {
    sdk: SdkConfig,
    account: AccountId,
    region: Region,
    assume: Option<AssumeRole>,
}

impl AwsBackend {
    /// A builder; see [`AwsConfig`].
    pub fn builder() -> AwsConfig {
        AwsConfig::new()
    }

    /// Everything from the standard AWS chains (environment, profile, instance role), with the
    /// account id from STS.
    pub async fn from_env() -> Result<Self> {
        AwsConfig::new().build().await
    }

    /// From an `SdkConfig` you loaded yourself, with the account id from STS.
    pub async fn from_sdk_config(config: &SdkConfig) -> Result<Self> {
        AwsConfig::from_sdk_config(config).build().await
    }

    /// The caller's account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The default Region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The resolved SDK configuration (for SDK clients of other services).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// An EC2 client in the default Region, classifying KMS keys with DescribeKey.
    pub fn ec2(&self) -> AwsEc2 {
        self.ec2_in(&self.region)
    }

    /// An EC2 client in `region`, classifying KMS keys with DescribeKey.
    pub fn ec2_in(&self, region: &Region) -> AwsEc2 {
        ec2_for(&self.sdk, &self.account, region)
    }

    /// A KMS client in the default Region.
    pub fn kms(&self) -> AwsKms {
        self.kms_in(&self.region)
    }

    /// A KMS client in `region`.
    pub fn kms_in(&self, region: &Region) -> AwsKms {
        kms_for(&self.sdk, &self.account, region)
    }

    /// The [`Connector`](ami_core::Connector) over this caller's account and, when
    /// [`AwsConfig::assume_role_name`] was set, every other account through that role.
    pub fn connector(&self) -> AwsConnector {
        AwsConnector::new(self.clone(), self.assume.clone())
    }
}

/// An EC2 client acting with `sdk` as `account` in `region`.
pub(crate) fn ec2_for(sdk: &SdkConfig, account: &AccountId, region: &Region) -> AwsEc2 {
    let conf = aws_sdk_ec2::config::Builder::from(sdk)
        .region(aws_config::Region::new(region.as_str().to_owned()))
        .build();
    let kms = kms_client(sdk, region);
    AwsEc2::new(
        aws_sdk_ec2::Client::from_conf(conf),
        account.clone(),
        region.clone(),
    )
    .with_kms(kms)
}

fn kms_client(sdk: &SdkConfig, region: &Region) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::config::Builder::from(sdk)
        .region(aws_config::Region::new(region.as_str().to_owned()))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A KMS client acting with `sdk` as `account` in `region`.
pub(crate) fn kms_for(sdk: &SdkConfig, account: &AccountId, region: &Region) -> AwsKms {
    AwsKms::new(kms_client(sdk, region), account.clone(), region.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_settings_need_no_network() {
        let backend = AwsConfig::emulator("http://127.0.0.1:9")
            .account(AccountId::parse("123456789012").unwrap())
            .max_attempts(2)
            .operation_timeout(Duration::from_secs(5))
            .build()
            .await
            .unwrap();
        assert_eq!(backend.account().as_str(), "123456789012");
        assert_eq!(backend.region().as_str(), "us-east-1");
        let sdk = backend.sdk_config();
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:9"));
        assert_eq!(sdk.retry_config().unwrap().max_attempts(), 2);
        assert_eq!(
            sdk.timeout_config().unwrap().operation_timeout(),
            Some(Duration::from_secs(5))
        );
        let ec2 = backend.ec2_in(&Region::parse("eu-west-1").unwrap());
        assert_eq!(ami_core::Ec2::region(&ec2).as_str(), "eu-west-1");
        assert!(ec2.resolves_keys_with_kms());
        // The settings reach the clients.
        let conf = ec2.sdk_client().config();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(conf.retry_config().unwrap().max_attempts(), 2);
        assert_eq!(
            conf.timeout_config().unwrap().operation_timeout(),
            Some(Duration::from_secs(5))
        );
        let kms = backend.kms();
        assert_eq!(
            kms.sdk_client()
                .config()
                .retry_config()
                .unwrap()
                .max_attempts(),
            2
        );
    }

    #[tokio::test]
    async fn bad_settings_are_refused_with_the_fix() {
        let acct = AccountId::parse("123456789012").unwrap();
        let cases = [
            (
                AwsConfig::emulator("http://127.0.0.1:9").max_attempts(0),
                "max_attempts 0",
            ),
            (
                AwsConfig::emulator("127.0.0.1:5000"),
                "\"127.0.0.1:5000\" is not an http:// or https:// URL",
            ),
            (
                AwsConfig::emulator("http://127.0.0.1:9").region("moon-1"),
                "moon-1",
            ),
            (
                AwsConfig::emulator("http://127.0.0.1:9").operation_timeout(Duration::ZERO),
                "operation_timeout of 0 s",
            ),
            (
                AwsConfig::emulator("http://127.0.0.1:9").assume_role_name("bad role"),
                "\"bad role\"",
            ),
        ];
        for (cfg, needle) in cases {
            let e = cfg.account(acct.clone()).build().await.unwrap_err();
            assert_eq!(e.code(), crate::INVALID_CLIENT_CONFIGURATION, "{needle}");
            assert!(e.message().contains(needle), "{needle}: {}", e.message());
        }
    }

    #[test]
    fn credentials_are_redacted_in_debug() {
        let cfg = AwsConfig::new().static_credentials("AKIDEXAMPLE", "s3cr3t", Some("tok".into()));
        let dbg = format!("{cfg:?}");
        assert!(dbg.contains("AKIDEXAMPLE"));
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(!dbg.contains("tok\""), "{dbg}");
    }
}
