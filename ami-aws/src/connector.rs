//! [`AwsConnector`]: clients for any `(account, Region)`, assuming a role in other accounts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ami_core::{AccountId, Clock, Connector, Ec2, Kms, Region, Result, SystemClock};
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};

use crate::config::{ec2_for, kms_for};
use crate::error::config_error;
use crate::{AwsBackend, AwsEc2, AwsKms};

/// The role the connector assumes in other accounts.
#[derive(Debug, Clone)]
pub(crate) struct AssumeRole {
    pub(crate) role_name: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session_name: String,
}

/// Checks an IAM role name (with an optional path): 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`
/// in the name, path segments of the same characters.
pub(crate) fn check_role_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    let (path, leaf) = match name.rsplit_once('/') {
        Some((path, leaf)) => (Some(path), leaf),
        None => (None, name),
    };
    let leaf_ok = (1..=64).contains(&leaf.len()) && leaf.chars().all(ok_char);
    let path_ok = path.is_none_or(|p| {
        p.split('/')
            .all(|seg| !seg.is_empty() && seg.chars().all(ok_char))
    });
    if leaf_ok && path_ok {
        Ok(())
    } else {
        Err(config_error(format!(
            "role name {name:?} is not a valid IAM role name: use 1 to 64 characters of \
             letters, digits and +=,.@_- (optionally after a path such as ops/), e.g. \
             \"ami-admin\""
        )))
    }
}

/// Credentials of an assumed role, built on first use (building the provider is async).
#[derive(Debug)]
struct LazyAssumeRole {
    role_arn: String,
    external_id: Option<String>,
    session_name: String,
    base: SdkConfig,
    provider: tokio::sync::OnceCell<AssumeRoleProvider>,
}

impl ProvideCredentials for LazyAssumeRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let provider = self
                .provider
                .get_or_init(|| async {
                    let mut b = AssumeRoleProvider::builder(&self.role_arn)
                        .session_name(&self.session_name)
                        .configure(&self.base);
                    if let Some(id) = &self.external_id {
                        b = b.external_id(id);
                    }
                    b.build().await
                })
                .await;
            provider.provide_credentials().await
        })
    }
}

type Scope = (AccountId, Region);

/// The [`Connector`] on real AWS (or an emulator).
///
/// - The caller's own account is used directly, with the backend's credentials.
/// - Any other account is reached by assuming the role
///   `arn:<partition>:iam::<account>:role/<name>` ([`AwsConfig::assume_role_name`]) through STS
///   AssumeRole, with the backend's credentials as the source. Each account gets one
///   credentials provider (aws-config's `AssumeRoleProvider`) and one identity cache shared by
///   all its clients, so a role is assumed once per account and again only when its
///   credentials near expiry.
/// - Clients are cached per `(account, Region)`, so the KMS key classification of
///   [`AwsEc2`] is learned once per scope.
/// - The clock is the wall clock ([`SystemClock`]) unless replaced with
///   [`with_clock`](Self::with_clock).
///
/// Without a role name, asking for another account fails with code
/// `InvalidClientConfiguration`.
///
/// [`AwsConfig::assume_role_name`]: crate::AwsConfig::assume_role_name
#[derive(Debug)]
pub struct AwsConnector {
    backend: AwsBackend,
    assume: Option<AssumeRole>,
    clock: Arc<dyn Clock>,
    accounts: Mutex<BTreeMap<AccountId, SdkConfig>>,
    ec2: Mutex<BTreeMap<Scope, Arc<AwsEc2>>>,
    kms: Mutex<BTreeMap<Scope, Arc<AwsKms>>>,
}

impl AwsConnector {
    pub(crate) fn new(backend: AwsBackend, assume: Option<AssumeRole>) -> Self {
        AwsConnector {
            backend,
            assume,
            clock: Arc::new(SystemClock),
            accounts: Mutex::new(BTreeMap::new()),
            ec2: Mutex::new(BTreeMap::new()),
            kms: Mutex::new(BTreeMap::new()),
        }
    }

    /// Replaces the clock workflows read "now" from.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The caller's own account.
    pub fn caller_account(&self) -> &AccountId {
        self.backend.account()
    }

    /// The role ARN assumed to act as `account`, or `None` for the caller's own account (or
    /// when no role name is configured).
    pub fn role_arn(&self, account: &AccountId) -> Option<String> {
        if account == self.backend.account() {
            return None;
        }
        self.assume.as_ref().map(|a| {
            format!(
                "arn:{}:iam::{account}:role/{}",
                self.backend.region().partition(),
                a.role_name
            )
        })
    }

    /// The SDK configuration acting as `account` (one per account, created on first use).
    pub fn sdk_config_for(&self, account: &AccountId) -> Result<SdkConfig> {
        let base = self.backend.sdk_config();
        if account == self.backend.account() {
            return Ok(base.clone());
        }
        let (Some(assume), Some(role_arn)) = (&self.assume, self.role_arn(account)) else {
            return Err(config_error(format!(
                "account {account} is not the caller's account {}, and no role to assume in \
                 other accounts is configured: set AwsConfig::assume_role_name (e.g. \
                 \"ami-admin\") and create that role in {account}, trusting {}",
                self.backend.account(),
                self.backend.account()
            )));
        };
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = accounts.get(account) {
            return Ok(c.clone());
        }
        let provider = LazyAssumeRole {
            role_arn,
            external_id: assume.external_id.clone(),
            session_name: assume.session_name.clone(),
            base: base.clone(),
            provider: tokio::sync::OnceCell::new(),
        };
        let conf = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(IdentityCache::lazy().build())
            .build();
        accounts.insert(account.clone(), conf.clone());
        Ok(conf)
    }

    /// The [`AwsEc2`] acting as `account` in `region` (cached).
    pub fn aws_ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<AwsEc2>> {
        let key = (account.clone(), region.clone());
        if let Some(c) = self.ec2.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let sdk = self.sdk_config_for(account)?;
        let client = Arc::new(ec2_for(&sdk, account, region));
        let mut map = self.ec2.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.entry(key).or_insert(client).clone())
    }

    /// The [`AwsKms`] acting as `account` in `region` (cached).
    pub fn aws_kms(&self, account: &AccountId, region: &Region) -> Result<Arc<AwsKms>> {
        let key = (account.clone(), region.clone());
        if let Some(c) = self.kms.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let sdk = self.sdk_config_for(account)?;
        let client = Arc::new(kms_for(&sdk, account, region));
        let mut map = self.kms.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.entry(key).or_insert(client).clone())
    }
}

impl Connector for AwsConnector {
    fn ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>> {
        Ok(self.aws_ec2(account, region)?)
    }

    fn kms(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Kms>> {
        Ok(self.aws_kms(account, region)?)
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsConfig;

    #[test]
    fn role_names() {
        for ok in [
            "ami-admin",
            "ops/ami-admin",
            "a",
            "Role+=,.@_-1",
            &"r".repeat(64),
        ] {
            assert!(check_role_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "bad role", "ops//x", "/x", &"r".repeat(65), "role:x"] {
            let e = check_role_name(bad).unwrap_err();
            assert_eq!(e.code(), crate::INVALID_CLIENT_CONFIGURATION, "{bad}");
        }
    }

    async fn backend(role: Option<&str>) -> AwsBackend {
        let mut cfg = AwsConfig::emulator("http://127.0.0.1:9")
            .account(AccountId::parse("111122223333").unwrap());
        if let Some(r) = role {
            cfg = cfg.assume_role_name(r);
        }
        cfg.build().await.unwrap()
    }

    #[tokio::test]
    async fn own_account_is_direct_and_others_need_a_role() {
        let conn = backend(None).await.connector();
        let me = AccountId::parse("111122223333").unwrap();
        let other = AccountId::parse("444455556666").unwrap();
        let region = Region::parse("eu-west-1").unwrap();
        let ec2 = Connector::ec2(&conn, &me, &region).unwrap();
        assert_eq!(ec2.account(), &me);
        assert_eq!(ec2.region(), &region);
        assert_eq!(conn.role_arn(&other), None);
        let e = Connector::ec2(&conn, &other, &region).unwrap_err();
        assert_eq!(e.code(), crate::INVALID_CLIENT_CONFIGURATION);
        assert!(e.message().contains("444455556666"), "{}", e.message());
        assert!(e.message().contains("assume_role_name"), "{}", e.message());
    }

    #[tokio::test]
    async fn other_accounts_assume_the_role_with_one_config_per_account() {
        let conn = backend(Some("ami-admin")).await.connector();
        let me = AccountId::parse("111122223333").unwrap();
        let other = AccountId::parse("444455556666").unwrap();
        assert_eq!(
            conn.role_arn(&other).as_deref(),
            Some("arn:aws:iam::444455556666:role/ami-admin")
        );
        assert_eq!(conn.role_arn(&me), None);
        let r1 = Region::parse("us-east-1").unwrap();
        let r2 = Region::parse("eu-west-1").unwrap();
        let a = conn.aws_ec2(&other, &r1).unwrap();
        let b = conn.aws_ec2(&other, &r1).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "clients are cached per scope");
        let kms = Connector::kms(&conn, &other, &r2).unwrap();
        assert_eq!(kms.account(), &other);
        assert_eq!(kms.region(), &r2);
        assert_eq!(conn.accounts.lock().unwrap().len(), 1);
        let clock = conn.clock();
        assert!(clock.now() > ami_core::Timestamp::EPOCH);
    }
}
