//! Who manages the KMS key of an encrypted snapshot: AWS or the customer.
//!
//! EC2 reports an encrypted block device or snapshot as `Encrypted=true` plus a `KmsKeyId` (a key
//! ARN), but not who manages the key, which ami-core needs ([`KeyManager`]): images encrypted with
//! an AWS managed key (such as the EBS default key `aws/ebs`) can never be shared.
//! [`KeyManagerResolver`] decides, in this order:
//!
//! 1. an alias `alias/aws/...` (or its ARN) is an AWS managed key;
//! 2. any other alias is a customer managed key (aliases can only name customer keys, and
//!    `alias/aws/` is reserved);
//! 3. a key of **another account** is a customer managed key (AWS managed keys cannot be used by
//!    other accounts, so a shared image can only be encrypted with a customer key);
//! 4. otherwise KMS `DescribeKey` is asked once per key and the answer (`KeyManager`) is cached for
//!    the life of the client;
//! 5. if DescribeKey is not possible (no KMS client, or it fails, e.g. for lack of
//!    `kms:DescribeKey` permission), the key is assumed to be **customer managed**, and a warning
//!    is logged. Sharing such an image then fails on AWS with the exact AWS error rather than
//!    being refused up front.
//!
//! An encrypted device that AWS reports without any key id is recorded with the EBS default alias
//! `alias/aws/ebs` and [`KeyManager::Aws`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ami_core::{AccountId, KeyManager, KmsKeyRef};
use aws_sdk_kms::types::KeyManagerType;

/// The key managers of the keys seen in one answer, by key string (as EC2 reported it).
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyManagers(BTreeMap<String, KeyManager>);

impl KeyManagers {
    /// The manager of `key`: as resolved, else by the static rules, else customer.
    pub(crate) fn get(&self, key: &KmsKeyRef) -> KeyManager {
        self.0
            .get(key.as_str())
            .copied()
            .or_else(|| static_manager(key, None))
            .unwrap_or(KeyManager::Customer)
    }

    /// Records the manager of `key`.
    pub(crate) fn insert(&mut self, key: &KmsKeyRef, manager: KeyManager) {
        self.0.insert(key.as_str().to_owned(), manager);
    }
}

/// Rules 1 to 3: the manager when it is evident from the reference alone.
fn static_manager(key: &KmsKeyRef, caller: Option<&AccountId>) -> Option<KeyManager> {
    if key.is_aws_managed_alias() {
        return Some(KeyManager::Aws);
    }
    if key.alias_name().is_some() {
        return Some(KeyManager::Customer);
    }
    match (key.account(), caller) {
        (Some(owner), Some(caller)) if &owner != caller => Some(KeyManager::Customer),
        _ => None,
    }
}

/// Resolves and caches the [`KeyManager`] of KMS keys for one account and Region (see the
/// [module documentation](self) for the rules).
#[derive(Debug, Clone)]
pub(crate) struct KeyManagerResolver {
    account: AccountId,
    kms: Option<aws_sdk_kms::Client>,
    cache: Arc<Mutex<BTreeMap<String, KeyManager>>>,
}

impl KeyManagerResolver {
    /// A resolver acting as `account`, asking `kms` (if any) when the rules are not enough.
    pub(crate) fn new(account: AccountId, kms: Option<aws_sdk_kms::Client>) -> Self {
        KeyManagerResolver {
            account,
            kms,
            cache: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Whether DescribeKey can be asked.
    pub(crate) fn has_kms(&self) -> bool {
        self.kms.is_some()
    }

    fn cached(&self, key: &KmsKeyRef) -> Option<KeyManager> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_str())
            .copied()
    }

    /// The manager of one key.
    pub(crate) async fn resolve(&self, key: &KmsKeyRef) -> KeyManager {
        if let Some(m) = static_manager(key, Some(&self.account)).or_else(|| self.cached(key)) {
            return m;
        }
        let Some(kms) = &self.kms else {
            return KeyManager::Customer;
        };
        let manager = match kms.describe_key().key_id(key.as_str()).send().await {
            Ok(out) => match out.key_metadata().and_then(|m| m.key_manager()) {
                Some(KeyManagerType::Aws) => KeyManager::Aws,
                _ => KeyManager::Customer,
            },
            Err(e) => {
                tracing::warn!(
                    key = %key,
                    error = %crate::error::map_sdk_error(e),
                    "DescribeKey failed; assuming a customer managed key"
                );
                KeyManager::Customer
            }
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.as_str().to_owned(), manager);
        manager
    }

    /// The managers of all `keys` (each asked at most once).
    pub(crate) async fn resolve_all<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a KmsKeyRef>,
    ) -> KeyManagers {
        let mut out = KeyManagers::default();
        for key in keys {
            if out.0.contains_key(key.as_str()) {
                continue;
            }
            let m = self.resolve(key).await;
            out.insert(key, m);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> KmsKeyRef {
        KmsKeyRef::parse(s).unwrap()
    }

    #[test]
    fn evident_managers() {
        let me = AccountId::parse("111122223333").unwrap();
        let cases = [
            ("alias/aws/ebs", Some(KeyManager::Aws)),
            (
                "arn:aws:kms:us-east-1:111122223333:alias/aws/ebs",
                Some(KeyManager::Aws),
            ),
            ("alias/golden", Some(KeyManager::Customer)),
            (
                "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                Some(KeyManager::Customer),
            ),
            (
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                None,
            ),
            ("1234abcd-12ab-34cd-56ef-1234567890ab", None),
        ];
        for (k, want) in cases {
            assert_eq!(static_manager(&key(k), Some(&me)), want, "{k}");
        }
    }

    #[tokio::test]
    async fn without_kms_unknown_keys_are_customer_keys() {
        let me = AccountId::parse("111122223333").unwrap();
        let r = KeyManagerResolver::new(me, None);
        let own =
            key("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(r.resolve(&own).await, KeyManager::Customer);
        assert_eq!(r.resolve(&key("alias/aws/ebs")).await, KeyManager::Aws);
        let all = r.resolve_all([&own, &own]).await;
        assert_eq!(all.get(&own), KeyManager::Customer);
    }
}
