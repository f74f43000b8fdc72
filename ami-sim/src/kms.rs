//! The KMS client of one account in one Region: [`Kms`] over the shared state.

use std::time::Duration;

use async_trait::async_trait;

use ami_core::api::{CreateGrantRequest, CreateKeyRequest, KEY_DELETION_WINDOW_DAYS};
use ami_core::model::{Grant, KeyPolicy, KeyState, KmsAction};
use ami_core::{AccountId, KeyManager, Kms, KmsKey, KmsKeyRef, Region, Result, Timestamp};

use crate::log::Op;
use crate::sim::{Ctx, Sim};
use crate::state::{err, Event, KeyRec, State};

/// The KMS client of one account in one Region.
#[derive(Debug, Clone)]
pub(crate) struct SimKms {
    pub sim: Sim,
    pub account: AccountId,
    pub region: Region,
}

fn denied(account: &AccountId, action: &str, arn: &KmsKeyRef) -> ami_core::Error {
    err(
        "AccessDeniedException",
        format!(
            "User: arn:aws:iam::{account}:root is not authorized to perform: {action} on \
             resource: {arn} because no resource-based policy allows the {action} action"
        ),
    )
}

impl State {
    fn key_for(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef) -> Result<String> {
        self.resolve_key(cx.account, cx.region, key, cx.now)
    }

    fn key_rec(&self, id: &str) -> Result<&KeyRec> {
        self.keys
            .get(id)
            .ok_or_else(|| err("NotFoundException", format!("Key '{id}' does not exist")))
    }

    fn create_key(&mut self, cx: &Ctx<'_>, req: CreateKeyRequest) -> Result<KmsKey> {
        if req.description.chars().count() > 8192 {
            return Err(err(
                "ValidationException",
                "The key description is longer than 8192 characters",
            ));
        }
        let id = self.new_key_id(req.multi_region);
        let arn = KmsKeyRef::key_arn(cx.region, cx.account, &id)?;
        let key = KmsKey {
            key_id: id.clone(),
            arn,
            owner: cx.account.clone(),
            region: cx.region.clone(),
            manager: KeyManager::Customer,
            state: KeyState::Enabled,
            description: req.description,
            multi_region: req.multi_region,
            aliases: Vec::new(),
            creation_time: cx.now,
        };
        let policy = req
            .policy
            .unwrap_or_else(|| KeyPolicy::default_for(cx.account));
        self.keys.insert(
            id,
            KeyRec {
                key: key.clone(),
                policy,
                grants: Vec::new(),
            },
        );
        Ok(key)
    }

    fn describe_key(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef) -> Result<KmsKey> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account && !self.key_allows(&id, cx.account, KmsAction::DescribeKey)
        {
            return Err(denied(cx.account, "kms:DescribeKey", &rec.key.arn));
        }
        Ok(rec.key.clone())
    }

    fn create_alias(&mut self, cx: &Ctx<'_>, alias: String, key: &KmsKeyRef) -> Result<()> {
        let valid = alias.strip_prefix("alias/").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 250
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
        });
        if !valid {
            return Err(err(
                "ValidationException",
                format!(
                    "Alias {alias:?} is invalid: use alias/<name> with 1 to 250 characters of \
                     a-z, A-Z, 0-9, /, _ and -"
                ),
            ));
        }
        // AWS: §7 "KMS": `alias/aws/` is reserved for AWS managed keys.
        if alias.starts_with("alias/aws/") {
            return Err(err(
                "NotAuthorizedException",
                format!("{alias} is reserved for AWS managed keys; choose another name"),
            ));
        }
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account || rec.key.manager == KeyManager::Aws {
            return Err(denied(cx.account, "kms:CreateAlias", &rec.key.arn));
        }
        let k = (cx.account.clone(), cx.region.clone(), alias.clone());
        if self.aliases.contains_key(&k) {
            return Err(err(
                "AlreadyExistsException",
                format!(
                    "An alias with the name arn:aws:kms:{}:{}:{alias} already exists",
                    cx.region, cx.account
                ),
            ));
        }
        self.aliases.insert(k, id.clone());
        if let Some(r) = self.keys.get_mut(&id) {
            r.key.aliases.push(alias);
        }
        Ok(())
    }

    fn get_key_policy(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef) -> Result<KeyPolicy> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account {
            return Err(denied(cx.account, "kms:GetKeyPolicy", &rec.key.arn));
        }
        Ok(rec.policy.clone())
    }

    fn put_key_policy(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef, policy: KeyPolicy) -> Result<()> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account || rec.key.manager == KeyManager::Aws {
            // AWS: §3 "Encryption rules": the policy of an AWS managed key can't be changed.
            return Err(denied(cx.account, "kms:PutKeyPolicy", &rec.key.arn));
        }
        if let Some(r) = self.keys.get_mut(&id) {
            r.policy = policy;
        }
        Ok(())
    }

    fn create_grant(&mut self, cx: &Ctx<'_>, req: CreateGrantRequest) -> Result<String> {
        if req.operations.is_empty() {
            return Err(err(
                "ValidationException",
                "A grant needs at least one operation",
            ));
        }
        let id = self.key_for(cx, &req.key)?;
        let rec = self.key_rec(&id)?;
        let arn = rec.key.arn.clone();
        let allowed = rec.key.owner == *cx.account
            || (rec.key.manager == KeyManager::Customer
                && self.key_allows(&id, cx.account, KmsAction::CreateGrant));
        if !allowed {
            return Err(denied(cx.account, "kms:CreateGrant", &arn));
        }
        if let Some(name) = &req.name {
            if let Some(g) = rec.grants.iter().find(|g| g.name.as_ref() == Some(name)) {
                if g.grantee == req.grantee && g.operations == req.operations {
                    return Ok(g.id.clone());
                }
            }
        }
        let grant_id = self.new_grant_id();
        if let Some(r) = self.keys.get_mut(&id) {
            r.grants.push(Grant {
                id: grant_id.clone(),
                key_arn: arn,
                grantee: req.grantee,
                operations: req.operations,
                name: req.name,
            });
        }
        Ok(grant_id)
    }

    fn list_grants(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef) -> Result<Vec<Grant>> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account && !self.key_allows(&id, cx.account, KmsAction::DescribeKey)
        {
            return Err(denied(cx.account, "kms:ListGrants", &rec.key.arn));
        }
        Ok(rec.grants.clone())
    }

    fn revoke_grant(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef, grant_id: &str) -> Result<()> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account {
            return Err(denied(cx.account, "kms:RevokeGrant", &rec.key.arn));
        }
        if !rec.grants.iter().any(|g| g.id == grant_id) {
            return Err(err(
                "NotFoundException",
                format!("Grant ID {grant_id} not found on key {}", rec.key.arn),
            ));
        }
        if let Some(r) = self.keys.get_mut(&id) {
            r.grants.retain(|g| g.id != grant_id);
        }
        Ok(())
    }

    /// The key a deletion call may act on: an existing key of the caller, customer managed.
    fn deletable_key(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef, action: &str) -> Result<String> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account {
            // AWS: KMS ScheduleKeyDeletion / CancelKeyDeletion have no cross-account use; the
            // default key policy admits only the owner.
            return Err(denied(cx.account, action, &rec.key.arn));
        }
        if rec.key.manager == KeyManager::Aws {
            // AWS: KMS ScheduleKeyDeletion: AWS managed keys (`aws/ebs`, ...) cannot be
            // deleted; AWS manages their life, and their key policy grants no deletion.
            return Err(err(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::{}:root is not authorized to perform: {action} on \
                     resource: {} because it is an AWS managed key ({}), which AWS manages and \
                     nobody can delete; only customer managed keys can be scheduled for deletion",
                    cx.account,
                    rec.key.arn,
                    rec.key.aliases.join(", ")
                ),
            ));
        }
        Ok(id)
    }

    fn schedule_key_deletion(
        &mut self,
        cx: &Ctx<'_>,
        key: &KmsKeyRef,
        days: u32,
    ) -> Result<Timestamp> {
        // AWS: KMS API model ScheduleKeyDeletionRequest.PendingWindowInDays: 7 to 30, checked
        // before the key is looked up.
        let (min, max) = (
            *KEY_DELETION_WINDOW_DAYS.start(),
            *KEY_DELETION_WINDOW_DAYS.end(),
        );
        if !KEY_DELETION_WINDOW_DAYS.contains(&days) {
            let bound = if days < min {
                format!("greater than or equal to {min}")
            } else {
                format!("less than or equal to {max}")
            };
            return Err(err(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed \
                     to satisfy constraint: Member must have value {bound}; choose a waiting \
                     period of {min} to {max} days"
                ),
            ));
        }
        let id = self.deletable_key(cx, key, "kms:ScheduleKeyDeletion")?;
        let rec = self.key_rec(&id)?;
        if rec.key.state == KeyState::PendingDeletion {
            // AWS: KMS key states: a key pending deletion cannot be scheduled again; cancel
            // first to choose another date.
            return Err(err(
                "KMSInvalidStateException",
                format!(
                    "{} is pending deletion; cancel the deletion (CancelKeyDeletion) before \
                     scheduling another",
                    rec.key.arn
                ),
            ));
        }
        let at = cx
            .now
            .add(Duration::from_secs(u64::from(days) * SECONDS_PER_DAY));
        if let Some(r) = self.keys.get_mut(&id) {
            // AWS: KMS key states: PendingDeletion at once, unusable for every cryptographic
            // operation until cancelled or deleted.
            r.key.state = KeyState::PendingDeletion;
        }
        self.schedule(at, Event::KeyDeletion(id));
        Ok(at)
    }

    /// The key EnableKey or DisableKey may act on: an existing key of the caller, customer
    /// managed, not pending deletion.
    fn switchable_key(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef, action: &str) -> Result<String> {
        let id = self.key_for(cx, key)?;
        let rec = self.key_rec(&id)?;
        if rec.key.owner != *cx.account {
            // AWS: KMS EnableKey / DisableKey have no cross-account use; the default key
            // policy admits only the owner.
            return Err(denied(cx.account, action, &rec.key.arn));
        }
        if rec.key.manager == KeyManager::Aws {
            // AWS: KMS key states: AWS managed keys are always enabled; their key policy
            // grants customers neither kms:EnableKey nor kms:DisableKey.
            return Err(err(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::{}:root is not authorized to perform: {action} on \
                     resource: {} because it is an AWS managed key ({}), which AWS keeps \
                     enabled; only customer managed keys can be enabled or disabled",
                    cx.account,
                    rec.key.arn,
                    rec.key.aliases.join(", ")
                ),
            ));
        }
        if rec.key.state == KeyState::PendingDeletion {
            // AWS: KMS key states: EnableKey and DisableKey of a key pending deletion fail
            // with KMSInvalidStateException.
            return Err(err(
                "KMSInvalidStateException",
                format!(
                    "{} is pending deletion; cancel the deletion (CancelKeyDeletion) before \
                     calling {}",
                    rec.key.arn,
                    action.trim_start_matches("kms:")
                ),
            ));
        }
        Ok(id)
    }

    /// EnableKey (`to == Enabled`) or DisableKey (`to == Disabled`); a key already in that
    /// state is left as it is, as on AWS.
    fn set_key_state(
        &mut self,
        cx: &Ctx<'_>,
        key: &KmsKeyRef,
        action: &str,
        to: KeyState,
    ) -> Result<()> {
        let id = self.switchable_key(cx, key, action)?;
        if let Some(r) = self.keys.get_mut(&id) {
            r.key.state = to;
        }
        Ok(())
    }

    fn cancel_key_deletion(&mut self, cx: &Ctx<'_>, key: &KmsKeyRef) -> Result<()> {
        let id = self.deletable_key(cx, key, "kms:CancelKeyDeletion")?;
        let rec = self.key_rec(&id)?;
        if rec.key.state != KeyState::PendingDeletion {
            return Err(err(
                "KMSInvalidStateException",
                format!(
                    "{} is not pending deletion (its state is {:?}); there is no deletion to \
                     cancel",
                    rec.key.arn, rec.key.state
                ),
            ));
        }
        self.unschedule_key_deletion(&id);
        if let Some(r) = self.keys.get_mut(&id) {
            // AWS: KMS CancelKeyDeletion: the key comes back Disabled, not Enabled.
            r.key.state = KeyState::Disabled;
        }
        Ok(())
    }
}

/// Seconds in a day of a deletion waiting period.
const SECONDS_PER_DAY: u64 = 24 * 3600;

impl SimKms {
    fn call<T>(
        &self,
        op: Op,
        f: impl FnOnce(&mut State, &Ctx<'_>) -> Result<T>,
        summary: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        self.sim.call(op, &self.account, &self.region, f, summary)
    }
}

#[async_trait]
impl Kms for SimKms {
    fn account(&self) -> &AccountId {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn create_key(&self, req: CreateKeyRequest) -> Result<KmsKey> {
        self.call(
            Op::CreateKey,
            |st, cx| st.create_key(cx, req),
            |k| k.key_id.clone(),
        )
    }

    async fn describe_key(&self, key: KmsKeyRef) -> Result<KmsKey> {
        self.call(
            Op::DescribeKey,
            |st, cx| st.describe_key(cx, &key),
            |k| k.key_id.clone(),
        )
    }

    async fn create_alias(&self, alias: String, key: KmsKeyRef) -> Result<()> {
        let summary = alias.clone();
        self.call(
            Op::CreateAlias,
            |st, cx| st.create_alias(cx, alias, &key),
            |_| summary,
        )
    }

    async fn get_key_policy(&self, key: KmsKeyRef) -> Result<KeyPolicy> {
        self.call(
            Op::GetKeyPolicy,
            |st, cx| st.get_key_policy(cx, &key),
            |p| format!("{} statements", p.statements.len()),
        )
    }

    async fn put_key_policy(&self, key: KmsKeyRef, policy: KeyPolicy) -> Result<()> {
        self.call(
            Op::PutKeyPolicy,
            |st, cx| st.put_key_policy(cx, &key, policy),
            |_| String::new(),
        )
    }

    async fn create_grant(&self, req: CreateGrantRequest) -> Result<String> {
        self.call(
            Op::CreateGrant,
            |st, cx| st.create_grant(cx, req),
            Clone::clone,
        )
    }

    async fn list_grants(&self, key: KmsKeyRef) -> Result<Vec<Grant>> {
        self.call(
            Op::ListGrants,
            |st, cx| st.list_grants(cx, &key),
            |g| format!("{} grants", g.len()),
        )
    }

    async fn revoke_grant(&self, key: KmsKeyRef, grant_id: String) -> Result<()> {
        self.call(
            Op::RevokeGrant,
            |st, cx| st.revoke_grant(cx, &key, &grant_id),
            |_| String::new(),
        )
    }

    async fn schedule_key_deletion(
        &self,
        key: KmsKeyRef,
        pending_window_days: u32,
    ) -> Result<Timestamp> {
        self.call(
            Op::ScheduleKeyDeletion,
            |st, cx| st.schedule_key_deletion(cx, &key, pending_window_days),
            |at| format!("{key} deleted at {at}"),
        )
    }

    async fn cancel_key_deletion(&self, key: KmsKeyRef) -> Result<()> {
        let summary = key.to_string();
        self.call(
            Op::CancelKeyDeletion,
            |st, cx| st.cancel_key_deletion(cx, &key),
            |_| summary,
        )
    }

    async fn enable_key(&self, key: KmsKeyRef) -> Result<()> {
        let summary = key.to_string();
        self.call(
            Op::EnableKey,
            |st, cx| st.set_key_state(cx, &key, "kms:EnableKey", KeyState::Enabled),
            |_| summary,
        )
    }

    async fn disable_key(&self, key: KmsKeyRef) -> Result<()> {
        let summary = key.to_string();
        self.call(
            Op::DisableKey,
            |st, cx| st.set_key_state(cx, &key, "kms:DisableKey", KeyState::Disabled),
            |_| summary,
        )
    }
}
