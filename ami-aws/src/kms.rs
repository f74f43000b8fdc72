//! [`AwsKms`]: the [`Kms`] trait on aws-sdk-kms.

use ami_core::api::{CreateGrantRequest, CreateKeyRequest};
use ami_core::model::{Grant, KeyPolicy, KeyState, KmsAction};
use ami_core::{
    AccountId, Error, KeyManager, Kms, KmsKey, KmsKeyRef, Region, Result, ServiceError, Timestamp,
};
use async_trait::async_trait;
use aws_sdk_kms::types as sdk;

use crate::convert::{required_id, timestamp};
use crate::error::map_sdk_error;

/// The [`Kms`] trait on an `aws_sdk_kms::Client`: one account in one Region.
///
/// Key policies are the `default` policy, written with
/// [`KeyPolicy::to_json`] and read with [`KeyPolicy::from_json`] (statements it cannot express
/// are kept verbatim). Grants are granted to account roots (`arn:<partition>:iam::<account>:root`);
/// [`list_grants`](Kms::list_grants) follows every page and leaves out grants whose grantee is
/// not an account principal (AWS service principals), which the model cannot express.
///
/// [`schedule_key_deletion`](Kms::schedule_key_deletion) returns AWS's `DeletionDate`; for a
/// multi-Region primary key with replicas, whose waiting period starts only when the last
/// replica is deleted and for which AWS gives no date, it returns the earliest possible date
/// (now plus the waiting period).
#[derive(Debug, Clone)]
pub struct AwsKms {
    client: aws_sdk_kms::Client,
    account: AccountId,
    region: Region,
}

impl AwsKms {
    /// Wraps an SDK client that acts as `account` in `region`.
    pub fn new(client: aws_sdk_kms::Client, account: AccountId, region: Region) -> Self {
        AwsKms {
            client,
            account,
            region,
        }
    }

    /// The SDK client, for calls the trait does not cover.
    pub fn sdk_client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// The partition of `key` (from its ARN), else of this client's Region.
    fn partition(&self, key: Option<&KmsKeyRef>) -> &'static str {
        key.and_then(|k| k.region())
            .map(|r| r.partition())
            .unwrap_or_else(|| self.region.partition())
    }

    /// The aliases of one of the caller's keys (ListAliases, every page).
    async fn aliases_of(&self, key_id: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let resp = self
                .client
                .list_aliases()
                .key_id(key_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(map_sdk_error)?;
            out.extend(
                resp.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name().map(str::to_owned)),
            );
            match resp.next_marker() {
                Some(m) if resp.truncated() => marker = Some(m.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn key_from_metadata(&self, m: &sdk::KeyMetadata, aliases: Vec<String>) -> Result<KmsKey> {
        let arn = match m.arn() {
            Some(a) => required_id("key Arn", Some(a), KmsKeyRef::parse)?,
            None => KmsKeyRef::key_arn(&self.region, &self.account, m.key_id()).map_err(|e| {
                crate::error::response_error(format!("AWS returned a malformed KeyId: {e}"))
            })?,
        };
        let owner = match m.aws_account_id() {
            Some(a) => required_id("AWSAccountId", Some(a), AccountId::parse)?,
            None => arn.account().unwrap_or_else(|| self.account.clone()),
        };
        let state = match m.key_state() {
            Some(sdk::KeyState::Enabled) => KeyState::Enabled,
            Some(sdk::KeyState::PendingDeletion | sdk::KeyState::PendingReplicaDeletion) => {
                KeyState::PendingDeletion
            }
            // Creating, Updating, PendingImport, Unavailable and Disabled: not usable now.
            Some(_) => KeyState::Disabled,
            None if m.enabled() => KeyState::Enabled,
            None => KeyState::Disabled,
        };
        Ok(KmsKey {
            key_id: m.key_id().to_owned(),
            region: arn.region().unwrap_or_else(|| self.region.clone()),
            owner,
            manager: match m.key_manager() {
                Some(sdk::KeyManagerType::Aws) => KeyManager::Aws,
                _ => KeyManager::Customer,
            },
            state,
            description: m.description().unwrap_or_default().to_owned(),
            multi_region: m.multi_region().unwrap_or(false),
            aliases,
            creation_time: timestamp(m.creation_date()),
            arn,
        })
    }
}

/// The account of a grantee principal: an account id, or an ARN with an account field
/// (`arn:aws:iam::<account>:root`, a role or user ARN).
fn grantee_account(principal: &str) -> Option<AccountId> {
    if let Ok(a) = AccountId::parse(principal) {
        return Some(a);
    }
    let mut parts = principal.strip_prefix("arn:")?.split(':');
    let account = parts.nth(3)?;
    AccountId::parse(account).ok()
}

#[async_trait]
impl Kms for AwsKms {
    fn account(&self) -> &AccountId {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn create_key(&self, req: CreateKeyRequest) -> Result<KmsKey> {
        let tags: Vec<sdk::Tag> = req
            .tags
            .iter()
            .map(|(k, v)| {
                sdk::Tag::builder()
                    .tag_key(k)
                    .tag_value(v)
                    .build()
                    .map_err(|e| {
                        crate::error::config_error(format!("tag {k:?} cannot be sent: {e}"))
                    })
            })
            .collect::<Result<_>>()?;
        let resp = self
            .client
            .create_key()
            .description(req.description)
            .key_usage(sdk::KeyUsageType::EncryptDecrypt)
            .key_spec(sdk::KeySpec::SymmetricDefault)
            .set_policy(req.policy.map(|p| p.to_json(self.region.partition())))
            .set_multi_region(req.multi_region.then_some(true))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(map_sdk_error)?;
        let meta = resp
            .key_metadata()
            .ok_or_else(|| crate::error::response_error("CreateKey returned no KeyMetadata"))?;
        self.key_from_metadata(meta, Vec::new())
    }

    async fn describe_key(&self, key: KmsKeyRef) -> Result<KmsKey> {
        let resp = self
            .client
            .describe_key()
            .key_id(key.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        let meta = resp
            .key_metadata()
            .ok_or_else(|| crate::error::response_error("DescribeKey returned no KeyMetadata"))?;
        // ListAliases only answers for the caller's own keys.
        let own = meta
            .aws_account_id()
            .is_none_or(|a| a == self.account.as_str());
        let aliases = if own {
            self.aliases_of(meta.key_id()).await?
        } else {
            key.alias_name()
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default()
        };
        self.key_from_metadata(meta, aliases)
    }

    async fn create_alias(&self, alias: String, key: KmsKeyRef) -> Result<()> {
        self.client
            .create_alias()
            .alias_name(alias)
            .target_key_id(key.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn get_key_policy(&self, key: KmsKeyRef) -> Result<KeyPolicy> {
        let resp = self
            .client
            .get_key_policy()
            .key_id(key.as_str())
            .policy_name("default")
            .send()
            .await
            .map_err(map_sdk_error)?;
        let json = resp.policy().unwrap_or_default();
        KeyPolicy::from_json(json).map_err(|e| {
            Error::Malformed(ServiceError::new(
                "MalformedPolicyDocumentException",
                format!("the key policy of {key} could not be read: {e}"),
            ))
        })
    }

    async fn put_key_policy(&self, key: KmsKeyRef, policy: KeyPolicy) -> Result<()> {
        let json = policy.to_json(self.partition(Some(&key)));
        self.client
            .put_key_policy()
            .key_id(key.as_str())
            .policy_name("default")
            .policy(json)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn create_grant(&self, req: CreateGrantRequest) -> Result<String> {
        let principal = format!(
            "arn:{}:iam::{}:root",
            self.partition(Some(&req.key)),
            req.grantee
        );
        let operations: Vec<sdk::GrantOperation> = req
            .operations
            .iter()
            .flat_map(|a| a.as_grant_operations().iter())
            .map(|op| sdk::GrantOperation::from(*op))
            .collect();
        let resp = self
            .client
            .create_grant()
            .key_id(req.key.as_str())
            .grantee_principal(principal)
            .set_operations(Some(operations))
            .set_name(req.name)
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.grant_id()
            .map(str::to_owned)
            .ok_or_else(|| crate::error::response_error("CreateGrant returned no GrantId"))
    }

    async fn list_grants(&self, key: KmsKeyRef) -> Result<Vec<Grant>> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let resp = self
                .client
                .list_grants()
                .key_id(key.as_str())
                .set_marker(marker.take())
                .send()
                .await
                .map_err(map_sdk_error)?;
            for g in resp.grants() {
                let Some(grantee) = g.grantee_principal().and_then(grantee_account) else {
                    continue;
                };
                let key_arn = match g.key_id() {
                    Some(k) => required_id("grant KeyId", Some(k), KmsKeyRef::parse)?,
                    None => key.clone(),
                };
                out.push(Grant {
                    id: g.grant_id().unwrap_or_default().to_owned(),
                    key_arn,
                    grantee,
                    operations: g
                        .operations()
                        .iter()
                        .filter_map(|o| KmsAction::from_name(o.as_str()))
                        .collect(),
                    name: g.name().filter(|n| !n.is_empty()).map(str::to_owned),
                });
            }
            match resp.next_marker() {
                Some(m) if resp.truncated() => marker = Some(m.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn revoke_grant(&self, key: KmsKeyRef, grant_id: String) -> Result<()> {
        self.client
            .revoke_grant()
            .key_id(key.as_str())
            .grant_id(grant_id)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn schedule_key_deletion(
        &self,
        key: KmsKeyRef,
        pending_window_days: u32,
    ) -> Result<Timestamp> {
        // The SDK takes an i32; a value beyond it is sent as i32::MAX, which AWS refuses with
        // ValidationException like any other value outside 7..=30.
        let days = i32::try_from(pending_window_days).unwrap_or(i32::MAX);
        let resp = self
            .client
            .schedule_key_deletion()
            .key_id(key.as_str())
            .pending_window_in_days(days)
            .send()
            .await
            .map_err(map_sdk_error)?;
        match (resp.deletion_date(), resp.key_state()) {
            (Some(d), _) => Ok(timestamp(Some(d))),
            // A multi-Region primary key with replicas: its waiting period starts only when
            // the last replica is deleted, so AWS gives no date; the earliest one is returned.
            (None, Some(sdk::KeyState::PendingReplicaDeletion)) => {
                let window = resp.pending_window_in_days().unwrap_or(days);
                let window = u64::try_from(window).unwrap_or(0);
                Ok(Timestamp::now_wall().add(std::time::Duration::from_secs(window * 86_400)))
            }
            (None, _) => Err(crate::error::response_error(format!(
                "ScheduleKeyDeletion of {key} returned no DeletionDate"
            ))),
        }
    }

    async fn cancel_key_deletion(&self, key: KmsKeyRef) -> Result<()> {
        self.client
            .cancel_key_deletion()
            .key_id(key.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn enable_key(&self, key: KmsKeyRef) -> Result<()> {
        self.client
            .enable_key()
            .key_id(key.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn disable_key(&self, key: KmsKeyRef) -> Result<()> {
        self.client
            .disable_key()
            .key_id(key.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grantee_accounts() {
        let a = AccountId::parse("111122223333").unwrap();
        for p in [
            "111122223333",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:role/deployer",
            "arn:aws:sts::111122223333:assumed-role/deployer/s1",
        ] {
            assert_eq!(grantee_account(p), Some(a.clone()), "{p}");
        }
        assert_eq!(grantee_account("ec2.us-east-1.amazonaws.com"), None);
        assert_eq!(grantee_account("arn:aws:iam::12:root"), None);
    }
}
