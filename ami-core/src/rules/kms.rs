//! Who may use a KMS key: key policy, grants, organization conditions, and the rule that an AWS
//! managed key serves only its own account.
//!
//! EC2 checks key access when the key is **used** (launching from, or copying, an image with
//! encrypted snapshots), not when the image is shared. On AWS a copy with an unusable key still
//! returns an image id and the image later turns `failed`; a launch terminates the instance.
//! [`check_key_access`] gives the KMS error that explains why.

use crate::error::{Error, Result};
use crate::id::{AccountId, KmsKeyRef, Region};
use crate::model::{Grant, KeyManager, KeyPolicy, KeyState, KmsAction, KmsKey};

use super::Membership;

/// Everything that decides who may use one KMS key.
#[derive(Debug, Clone, Copy)]
pub struct KeyView<'a> {
    /// The key (its owner, manager and state).
    pub key: &'a KmsKey,
    /// Its key policy.
    pub policy: &'a KeyPolicy,
    /// Its grants (grants for other keys are ignored).
    pub grants: &'a [Grant],
}

/// Whether `account` (with its `membership`) may perform `action` with the key.
///
/// - A disabled key or one pending deletion serves nobody.
/// - An AWS managed key (`aws/ebs`, ...) serves only the account that owns it, whatever else
///   is said: that is why images encrypted with it can never be used by another account.
/// - A customer managed key serves an account its key policy admits (by account, or by `*`
///   narrowed to the account's organization with `aws:PrincipalOrgID`, or to paths in it
///   with `aws:PrincipalOrgPaths`) or a grant names.
pub fn key_allows(
    view: KeyView<'_>,
    account: &AccountId,
    membership: &Membership,
    action: KmsAction,
) -> bool {
    if view.key.state != KeyState::Enabled {
        return false;
    }
    match view.key.manager {
        KeyManager::Aws => &view.key.owner == account,
        KeyManager::Customer => {
            view.policy.allows_principal(
                account,
                membership.org_id(),
                membership.org_path().as_deref(),
                action,
            ) || view.grants.iter().any(|g| {
                g.key_arn == view.key.arn && &g.grantee == account && g.operations.contains(&action)
            })
        }
    }
}

/// Whether `account` may perform every one of `actions` with the key.
pub fn key_allows_all(
    view: KeyView<'_>,
    account: &AccountId,
    membership: &Membership,
    actions: &[KmsAction],
) -> bool {
    actions
        .iter()
        .all(|a| key_allows(view, account, membership, *a))
}

/// `Ok` if `account` may perform every one of `actions` with the key (use
/// [`KmsAction::CONSUMER`] for what launching from or copying an encrypted image needs), else
/// the KMS error: `DisabledException` for a disabled key, `KMSInvalidStateException` for a key
/// pending deletion, `AccessDeniedException` naming the first missing action.
pub fn check_key_access(
    view: KeyView<'_>,
    account: &AccountId,
    membership: &Membership,
    actions: &[KmsAction],
) -> Result<()> {
    let arn = &view.key.arn;
    match view.key.state {
        KeyState::Enabled => {}
        KeyState::Disabled => {
            return Err(Error::from_code(
                "DisabledException",
                format!("{arn} is disabled. Its owner, account {}, must enable it (EnableKey) before it can be used.", view.key.owner),
            ))
        }
        KeyState::PendingDeletion => {
            return Err(Error::from_code(
                "KMSInvalidStateException",
                format!("{arn} is pending deletion. Its owner, account {}, can cancel the deletion (CancelKeyDeletion); otherwise use another key.", view.key.owner),
            ))
        }
    }
    let Some(missing) = actions
        .iter()
        .find(|a| !key_allows(view, account, membership, **a))
    else {
        return Ok(());
    };
    let action = missing.as_policy_action();
    let fix = match view.key.manager {
        KeyManager::Aws => format!(
            "it is an AWS managed key, which only its own account {} can use; re-encrypt the data with a customer managed key and share that key",
            view.key.owner
        ),
        KeyManager::Customer => format!(
            "the key owner, account {}, must allow account {account} in the key policy or create a grant for it",
            view.key.owner
        ),
    };
    Err(Error::from_code(
        "AccessDeniedException",
        format!(
            "User: arn:aws:iam::{account}:root is not authorized to perform: {action} on resource: {arn} because no resource-based policy allows the {action} action: {fix}."
        ),
    ))
}

/// `Ok` if a key used where data is encrypted in `destination` (a copy's target key, a
/// launch's volume key) is in that Region. KMS keys are regional: AWS accepts such a CopyImage
/// and the copy then turns `failed`, so callers check before spending the call.
///
/// `key` is the reference as given; `key_region` is the Region the key was found in, if it was
/// described (an alias or a bare key id names no Region until then). A multi-Region key needs
/// its replica in `destination`, named by the replica's ARN. The error is
/// `InvalidParameterValue` naming the key, its Region and the destination.
pub fn check_key_region(
    key: &KmsKeyRef,
    key_region: Option<&Region>,
    destination: &Region,
) -> Result<()> {
    let named = key.region();
    let Some(region) = key_region.or(named.as_ref()) else {
        return Ok(());
    };
    if region == destination {
        return Ok(());
    }
    let replica = if key.is_multi_region() {
        format!(" (for a multi-Region key, name its replica in {destination})")
    } else {
        String::new()
    };
    Err(Error::from_code(
        "InvalidParameterValue",
        format!(
            "key {key} is in {region}, but the data is encrypted in {destination}: KMS keys are regional; name a key of {destination}{replica}"
        ),
    ))
}
