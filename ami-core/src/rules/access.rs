//! Who an account is (its organization and OUs), who may launch an image, and the owner-only
//! check every administrative call makes.

use crate::error::{Error, Result};
use crate::id::{AccountId, OrganizationArn, OrganizationalUnitArn};
use crate::model::{Image, LaunchPermission};

/// Where an account sits in AWS Organizations: its organization and every OU on its path.
///
/// A launch permission for an OU covers the OUs nested in it, so [`ous`](Self::ous) must list
/// the account's **whole** OU path (parent OUs included), not only the OU it sits in directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The organization the account belongs to, if any.
    pub org: Option<OrganizationArn>,
    /// Every OU on the path from the organization root to the account.
    pub ous: Vec<OrganizationalUnitArn>,
}

impl Membership {
    /// An account outside any organization.
    pub fn none() -> Self {
        Membership::default()
    }

    /// A member of `org` with the given OU path.
    pub fn of(org: OrganizationArn, ous: Vec<OrganizationalUnitArn>) -> Self {
        Membership {
            org: Some(org),
            ous,
        }
    }

    /// The organization id (`o-...`), as KMS conditions (`aws:PrincipalOrgID`) name it.
    pub fn org_id(&self) -> Option<&str> {
        self.org.as_ref().map(OrganizationArn::org_id)
    }

    /// The account's organization path, as the `aws:PrincipalOrgPaths` condition key gives it:
    /// `o-…/r-…/ou-…/…/`, the OUs from the root down. The root id is read from the OU ids
    /// (`ou-<root>-…`), so for an account directly under its organization's root, whose root
    /// id nothing here names, and for an account outside any organization, `None`.
    pub fn org_path(&self) -> Option<String> {
        let org = self.org_id()?;
        let first = self.ous.first()?.ou_id();
        let root = first.strip_prefix("ou-")?.split_once('-')?.0;
        let mut path = format!("{org}/r-{root}/");
        for ou in &self.ous {
            path.push_str(ou.ou_id());
            path.push('/');
        }
        Some(path)
    }

    /// Whether the account belongs to the organization `org` (compared by organization id).
    pub fn in_org(&self, org: &OrganizationArn) -> bool {
        self.org_id() == Some(org.org_id())
    }

    /// Whether the account sits in `ou` or in an OU nested in it (compared by OU id).
    pub fn in_ou(&self, ou: &OrganizationalUnitArn) -> bool {
        self.ous
            .iter()
            .any(|m| m.ou_id() == ou.ou_id() && m.org_id() == ou.org_id())
    }
}

/// Whether one launch permission admits `account` (with its `membership`).
pub fn permission_covers(
    permission: &LaunchPermission,
    account: &AccountId,
    membership: &Membership,
) -> bool {
    match permission {
        LaunchPermission::Account(a) => a == account,
        LaunchPermission::Public => true,
        LaunchPermission::Organization(o) => membership.in_org(o),
        LaunchPermission::OrganizationalUnit(ou) => membership.in_ou(ou),
    }
}

/// Whether `account` may launch (and so see) `image`: it owns it, the image is public, or one
/// of the image's `permissions` admits it (explicitly, through its organization, or through an
/// OU on its path). This says nothing about the image's state; see
/// [`check_launch`](super::check_launch).
pub fn has_launch_permission(
    image: &Image,
    permissions: &[LaunchPermission],
    account: &AccountId,
    membership: &Membership,
) -> bool {
    &image.owner == account
        || image.public
        || permissions
            .iter()
            .any(|p| permission_covers(p, account, membership))
}

/// The owner-only check of ModifyImageAttribute, DescribeImageAttribute, deprecation,
/// protection, DisableImage, EnableImage and DeregisterImage.
///
/// Refuses a non-owner with `AuthFailure` "Not authorized for image:ami-…" (AWS's words),
/// followed by who owns it and that only the owner can `action`.
pub fn check_owner(caller: &AccountId, image: &Image, action: &str) -> Result<()> {
    if &image.owner == caller {
        Ok(())
    } else {
        Err(Error::from_code(
            "AuthFailure",
            format!(
                "Not authorized for image:{}. Account {caller} cannot {action}: only the owner, account {}, can.",
                image.id, image.owner
            ),
        ))
    }
}
