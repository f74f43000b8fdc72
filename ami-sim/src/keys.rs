//! KMS keys inside the state: resolving references, the lazily created `aws/ebs` key, and
//! use-time access checks across accounts (key policy and grants).

use ami_core::model::{KeyState, KmsAction};
use ami_core::rules::{self, KeyView};
use ami_core::{
    AccountId, Encryption, Error, KeyManager, KmsKey, KmsKeyRef, KmsKeyRefKind, Region,
    StateReason, Timestamp,
};

use crate::state::{err, KeyRec, KmsCheck, State};

impl State {
    pub(crate) fn key_not_found(reference: &str) -> Error {
        err(
            "NotFoundException",
            format!("Key '{reference}' does not exist"),
        )
    }

    /// The AWS managed EBS key (`alias/aws/ebs`) of `account` in `region`, created on first use.
    pub fn ensure_default_key(
        &mut self,
        account: &AccountId,
        region: &Region,
        now: Timestamp,
    ) -> String {
        let scope = self.scope(account, region);
        if let Some(id) = self.default_keys.get(&scope) {
            return id.clone();
        }
        let alias_key = (account.clone(), region.clone(), "alias/aws/ebs".to_owned());
        // AWS: §7 "KMS": `alias/aws/ebs` is the AWS managed EBS default key, one per account
        // and Region, created the first time it is needed.
        let id = self.new_key_id(false);
        let arn =
            KmsKeyRef::key_arn(region, account, &id).unwrap_or_else(|_| KmsKeyRef::aws_ebs_alias());
        let key = KmsKey {
            key_id: id.clone(),
            arn,
            owner: account.clone(),
            region: region.clone(),
            manager: KeyManager::Aws,
            state: KeyState::Enabled,
            description: "Default key that protects my EBS volumes when no other key is defined"
                .into(),
            multi_region: false,
            aliases: vec!["alias/aws/ebs".into()],
            creation_time: now,
        };
        self.keys.insert(
            id.clone(),
            KeyRec {
                key,
                policy: ami_core::model::KeyPolicy::default_for(account),
                grants: Vec::new(),
            },
        );
        self.aliases.insert(alias_key, id.clone());
        self.default_keys.insert(scope, id.clone());
        id
    }

    /// Resolves a key reference as `caller` in `region` to a key id.
    ///
    /// Short forms (key id, alias) name the caller's keys; ARNs can name another account's.
    pub fn resolve_key(
        &mut self,
        caller: &AccountId,
        region: &Region,
        key: &KmsKeyRef,
        now: Timestamp,
    ) -> Result<String, Error> {
        let (account, key_region) = match key.kind() {
            KmsKeyRefKind::KeyId | KmsKeyRefKind::MultiRegionKeyId | KmsKeyRefKind::Alias => {
                (caller.clone(), region.clone())
            }
            KmsKeyRefKind::KeyArn | KmsKeyRefKind::AliasArn => (
                key.account().unwrap_or_else(|| caller.clone()),
                key.region().unwrap_or_else(|| region.clone()),
            ),
        };
        // AWS: §4 "Encryption": the key must exist in the Region of the call.
        if key_region != *region {
            return Err(Self::key_not_found(key.as_str()));
        }
        if let Some(alias) = key.alias_name() {
            if alias == "alias/aws/ebs" && self.accounts.contains_key(&account) {
                return Ok(self.ensure_default_key(&account, region, now));
            }
            return self
                .aliases
                .get(&(account, region.clone(), alias.to_owned()))
                .cloned()
                .ok_or_else(|| {
                    err(
                        "NotFoundException",
                        format!("Alias {} is not found.", key.as_str()),
                    )
                });
        }
        let id = key.key_id().unwrap_or_default();
        match self.keys.get(id) {
            Some(k) if k.key.owner == account && k.key.region == *region => Ok(id.to_owned()),
            _ => Err(Self::key_not_found(key.as_str())),
        }
    }

    /// Everything that decides who may use a key, as the rules take it.
    pub fn key_view(&self, key_id: &str) -> Option<KeyView<'_>> {
        self.keys.get(key_id).map(|k| KeyView {
            key: &k.key,
            policy: &k.policy,
            grants: &k.grants,
        })
    }

    /// Whether `account` may perform `action` with the key, by key policy or grant.
    pub fn key_allows(&self, key_id: &str, account: &AccountId, action: KmsAction) -> bool {
        self.key_view(key_id)
            .is_some_and(|v| rules::key_allows(v, account, self.membership(account), action))
    }

    /// The key id behind an [`Encryption`] of a volume or snapshot.
    pub fn key_id_of(&self, enc: &Encryption) -> Option<String> {
        enc.key.key_id().map(str::to_owned).or_else(|| {
            let account = enc.key.account()?;
            let region = enc.key.region()?;
            let alias = enc.key.alias_name()?;
            self.aliases
                .get(&(account, region, alias.to_owned()))
                .cloned()
        })
    }

    /// The [`Encryption`] value of a key.
    pub fn encryption_of(&self, key_id: &str) -> Option<Encryption> {
        self.keys.get(key_id).map(|k| Encryption {
            key: k.key.arn.clone(),
            manager: k.key.manager,
        })
    }

    /// Why a pending image cannot complete because of a KMS key, if it cannot.
    ///
    /// AWS: §4 "Encryption": key access of a copy is validated asynchronously; the image turns
    /// `failed` with a state reason.
    pub fn kms_check_failure(&self, check: &KmsCheck) -> Option<StateReason> {
        let e = match &check.key {
            Err(reference) => Self::key_not_found(reference),
            Ok(id) => {
                // A key deleted since (its deletion window ended) is gone for good.
                let Some(view) = self.key_view(id) else {
                    return Some(rules::copy_failure_reason(&Self::key_not_found(id)));
                };
                rules::check_key_access(
                    view,
                    &check.account,
                    self.membership(&check.account),
                    &KmsAction::CONSUMER,
                )
                .err()?
            }
        };
        Some(rules::copy_failure_reason(&e))
    }
}
