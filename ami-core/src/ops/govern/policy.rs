//! The approval policy itself: what makes an image approved, and the verdict on one image.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::LaunchGuard;
use crate::id::AccountId;
use crate::model::{Image, ImageState, OwnerAlias};
use crate::time::Timestamp;

/// The most image providers one Allowed-AMIs criterion accepts (AWS limit).
pub const MAX_IMAGE_PROVIDERS: usize = 200;
/// Longest tag key AWS accepts.
const MAX_TAG_KEY: usize = 128;
/// Longest tag value AWS accepts.
const MAX_TAG_VALUE: usize = 256;
/// One day.
const DAY: Duration = Duration::from_secs(86_400);

/// A policy that cannot be built: which value was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy has no criterion at all, so it would approve every image.
    #[error(
        "the approval policy has no criterion and would approve every image; require a tag, \
         restrict owners, set a maximum age or deny deprecated images"
    )]
    Empty,
    /// A required tag key is empty or longer than 128 characters.
    #[error("required tag key {key:?} is invalid: use 1 to 128 characters")]
    TagKeyLength {
        /// The key.
        key: String,
    },
    /// A required tag key uses the reserved `aws:` prefix.
    #[error(
        "required tag key {key:?} starts with the reserved prefix \"aws:\"; users cannot set \
         such tags, choose another key"
    )]
    ReservedTagKey {
        /// The key.
        key: String,
    },
    /// A required tag value is longer than 256 characters.
    #[error("required value of tag {key:?} is {len} characters long; use at most 256")]
    TagValueLength {
        /// The key.
        key: String,
        /// The value's length.
        len: usize,
    },
    /// More owners and aliases than one Allowed-AMIs criterion holds.
    #[error(
        "{count} allowed owners and aliases exceed the Allowed-AMIs limit of {MAX_IMAGE_PROVIDERS} \
         image providers per criterion; approve fewer accounts (share through an organization \
         instead)"
    )]
    TooManyProviders {
        /// How many were given.
        count: usize,
    },
}

impl From<PolicyError> for crate::Error {
    fn from(e: PolicyError) -> Self {
        crate::Error::workflow(e.to_string())
    }
}

/// Why an image is not approved. An image can have several.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Violation {
    /// The image is not visible to the account (deregistered and gone, never shared, or the
    /// sharing was revoked), so nothing about it can be approved.
    ImageNotFound,
    /// The image is deregistered or disabled: it can no longer be launched, so the instance
    /// cannot be replaced from it.
    ImageUnavailable {
        /// Its state.
        state: ImageState,
    },
    /// A required tag is absent.
    MissingTag {
        /// The key.
        key: String,
        /// The value required, if a specific one is.
        expected: Option<String>,
    },
    /// A required tag has another value.
    TagMismatch {
        /// The key.
        key: String,
        /// The value required.
        expected: String,
        /// The value found.
        actual: String,
    },
    /// The owner is neither an allowed account nor has an allowed alias.
    OwnerNotAllowed {
        /// The owning account.
        owner: AccountId,
        /// Its provider alias, if any.
        alias: Option<OwnerAlias>,
    },
    /// The image is older than the maximum age.
    TooOld {
        /// When it was created.
        created: Timestamp,
        /// The maximum age, in days.
        max_age_days: u32,
    },
    /// The image is deprecated.
    Deprecated {
        /// Since when.
        since: Timestamp,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::ImageNotFound => {
                f.write_str("image is not visible to the account (deregistered or not shared)")
            }
            Violation::ImageUnavailable { state } => write!(f, "image is {state}"),
            Violation::MissingTag {
                key,
                expected: Some(v),
            } => write!(f, "image lacks required tag {key}={v}"),
            Violation::MissingTag {
                key,
                expected: None,
            } => write!(f, "image lacks required tag key {key}"),
            Violation::TagMismatch {
                key,
                expected,
                actual,
            } => write!(f, "image tag {key} is {actual:?}, expected {expected:?}"),
            Violation::OwnerNotAllowed {
                owner,
                alias: Some(a),
            } => write!(f, "image owner {owner} ({a}) is not an approved owner"),
            Violation::OwnerNotAllowed { owner, alias: None } => {
                write!(f, "image owner {owner} is not an approved owner")
            }
            Violation::TooOld {
                created,
                max_age_days,
            } => write!(
                f,
                "image was created {created}, more than {max_age_days} days ago"
            ),
            Violation::Deprecated { since } => write!(f, "image is deprecated since {since}"),
        }
    }
}

/// The verdict on one image: approved when it has no violation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Verdict {
    violations: Vec<Violation>,
}

impl Verdict {
    /// An approving verdict.
    pub fn approved() -> Self {
        Verdict::default()
    }

    /// A verdict with these violations.
    pub fn with(violations: Vec<Violation>) -> Self {
        Verdict { violations }
    }

    /// Whether the image is approved.
    pub fn is_approved(&self) -> bool {
        self.violations.is_empty()
    }

    /// Why it is not (empty when approved), in the order the policy checks them.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return f.write_str("approved");
        }
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            v.fmt(f)?;
        }
        Ok(())
    }
}

/// The serialized shape of an [`ApprovalPolicy`], validated on the way in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PolicySpec {
    required_tags: BTreeMap<String, Option<String>>,
    allowed_owners: BTreeSet<AccountId>,
    allowed_owner_aliases: BTreeSet<OwnerAlias>,
    max_age_days: Option<u32>,
    deny_deprecated: bool,
}

/// What makes an image approved for production launches.
///
/// An image is approved when **all** the criteria hold:
///
/// - it carries every required tag (with the required value, when one is given);
/// - its owner is one of the allowed accounts, or has one of the allowed provider aliases
///   (`amazon`, `aws-marketplace`, `aws-backup-vault`); with no owners and no aliases listed,
///   any owner is allowed;
/// - it is at most `max_age_days` old, when a maximum age is set;
/// - it is not deprecated, when deprecated images are denied.
///
/// Build one with [`ApprovalPolicy::builder`]. The same policy renders the IAM policy that
/// denies launches of anything else ([`iam_policy`](Self::iam_policy)), renders the
/// Allowed-AMIs criteria ([`image_criteria`](Self::image_criteria)), guards launches on the
/// simulator (it implements [`LaunchGuard`]) and drives the compliance
/// [`scan`](super::scan).
///
/// ```
/// use ami_core::ops::govern::ApprovalPolicy;
/// use ami_core::{AccountId, OwnerAlias};
///
/// let policy = ApprovalPolicy::builder()
///     .require_tag("Approved", "true")
///     .allow_owner(AccountId::parse("111122223333")?)
///     .allow_owner_alias(OwnerAlias::Amazon)
///     .max_age_days(90)
///     .deny_deprecated(true)
///     .build()?;
/// assert!(policy.iam_policy_json().contains("ec2:RunInstances"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicySpec", into = "PolicySpec")]
pub struct ApprovalPolicy {
    required_tags: BTreeMap<String, Option<String>>,
    allowed_owners: BTreeSet<AccountId>,
    allowed_owner_aliases: BTreeSet<OwnerAlias>,
    max_age_days: Option<u32>,
    deny_deprecated: bool,
}

impl TryFrom<PolicySpec> for ApprovalPolicy {
    type Error = PolicyError;
    fn try_from(s: PolicySpec) -> Result<Self, PolicyError> {
        for (key, value) in &s.required_tags {
            if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
                return Err(PolicyError::TagKeyLength { key: key.clone() });
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                return Err(PolicyError::ReservedTagKey { key: key.clone() });
            }
            if let Some(v) = value {
                let len = v.chars().count();
                if len > MAX_TAG_VALUE {
                    return Err(PolicyError::TagValueLength {
                        key: key.clone(),
                        len,
                    });
                }
            }
        }
        let providers = s.allowed_owners.len() + s.allowed_owner_aliases.len();
        if providers > MAX_IMAGE_PROVIDERS {
            return Err(PolicyError::TooManyProviders { count: providers });
        }
        if s.required_tags.is_empty()
            && providers == 0
            && s.max_age_days.is_none()
            && !s.deny_deprecated
        {
            return Err(PolicyError::Empty);
        }
        Ok(ApprovalPolicy {
            required_tags: s.required_tags,
            allowed_owners: s.allowed_owners,
            allowed_owner_aliases: s.allowed_owner_aliases,
            max_age_days: s.max_age_days,
            deny_deprecated: s.deny_deprecated,
        })
    }
}

impl From<ApprovalPolicy> for PolicySpec {
    fn from(p: ApprovalPolicy) -> Self {
        PolicySpec {
            required_tags: p.required_tags,
            allowed_owners: p.allowed_owners,
            allowed_owner_aliases: p.allowed_owner_aliases,
            max_age_days: p.max_age_days,
            deny_deprecated: p.deny_deprecated,
        }
    }
}

/// Builds an [`ApprovalPolicy`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicyBuilder {
    spec: PolicySpec,
}

impl ApprovalPolicyBuilder {
    /// Requires the tag `key` with exactly `value`.
    pub fn require_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec
            .required_tags
            .insert(key.into(), Some(value.into()));
        self
    }

    /// Requires the tag `key`, with any value.
    pub fn require_tag_key(mut self, key: impl Into<String>) -> Self {
        self.spec.required_tags.insert(key.into(), None);
        self
    }

    /// Allows images owned by `account`.
    pub fn allow_owner(mut self, account: AccountId) -> Self {
        self.spec.allowed_owners.insert(account);
        self
    }

    /// Allows images whose owner has the provider alias `alias`.
    pub fn allow_owner_alias(mut self, alias: OwnerAlias) -> Self {
        self.spec.allowed_owner_aliases.insert(alias);
        self
    }

    /// Denies images created more than `days` days ago.
    pub fn max_age_days(mut self, days: u32) -> Self {
        self.spec.max_age_days = Some(days);
        self
    }

    /// Denies deprecated images (deprecation time reached).
    pub fn deny_deprecated(mut self, yes: bool) -> Self {
        self.spec.deny_deprecated = yes;
        self
    }

    /// Validates and builds the policy.
    pub fn build(self) -> Result<ApprovalPolicy, PolicyError> {
        ApprovalPolicy::try_from(self.spec)
    }
}

impl ApprovalPolicy {
    /// A builder with no criterion yet.
    pub fn builder() -> ApprovalPolicyBuilder {
        ApprovalPolicyBuilder::default()
    }

    /// The required tags: key → required value (`None`: any value).
    pub fn required_tags(&self) -> &BTreeMap<String, Option<String>> {
        &self.required_tags
    }

    /// The allowed owner accounts.
    pub fn allowed_owners(&self) -> &BTreeSet<AccountId> {
        &self.allowed_owners
    }

    /// The allowed owner aliases.
    pub fn allowed_owner_aliases(&self) -> &BTreeSet<OwnerAlias> {
        &self.allowed_owner_aliases
    }

    /// The allowed owners as AWS writes them in image-provider lists and `ec2:Owner`
    /// conditions: the account ids, then the aliases (`amazon`, `aws-marketplace`).
    pub(crate) fn owner_names(&self) -> Vec<String> {
        self.allowed_owners
            .iter()
            .map(|a| a.to_string())
            .chain(
                self.allowed_owner_aliases
                    .iter()
                    .map(|a| a.as_str().to_owned()),
            )
            .collect()
    }

    /// The maximum age in days, if any.
    pub fn max_age_days(&self) -> Option<u32> {
        self.max_age_days
    }

    /// Whether deprecated images are denied.
    pub fn denies_deprecated(&self) -> bool {
        self.deny_deprecated
    }

    /// Whether owners are restricted at all.
    pub fn restricts_owners(&self) -> bool {
        !self.allowed_owners.is_empty() || !self.allowed_owner_aliases.is_empty()
    }

    /// The verdict on `image` at `now`. Every violated criterion is listed, in the order:
    /// state, tags, owner, age, deprecation.
    pub fn evaluate(&self, image: &Image, now: Timestamp) -> Verdict {
        let mut v = Vec::new();
        if matches!(image.state, ImageState::Deregistered | ImageState::Disabled) {
            v.push(Violation::ImageUnavailable { state: image.state });
        }
        for (key, expected) in &self.required_tags {
            match (image.tags.get(key), expected) {
                (None, _) => v.push(Violation::MissingTag {
                    key: key.clone(),
                    expected: expected.clone(),
                }),
                (Some(actual), Some(exp)) if actual != exp => v.push(Violation::TagMismatch {
                    key: key.clone(),
                    expected: exp.clone(),
                    actual: actual.clone(),
                }),
                _ => {}
            }
        }
        if self.restricts_owners() && !self.owner_allowed(image) {
            v.push(Violation::OwnerNotAllowed {
                owner: image.owner.clone(),
                alias: image.owner_alias,
            });
        }
        if let Some(days) = self.max_age_days {
            let max = DAY.saturating_mul(days);
            if now.since(image.creation_time) > max {
                v.push(Violation::TooOld {
                    created: image.creation_time,
                    max_age_days: days,
                });
            }
        }
        if self.deny_deprecated {
            if let Some(since) = image.deprecation_time.filter(|t| *t <= now) {
                v.push(Violation::Deprecated { since });
            }
        }
        Verdict { violations: v }
    }

    fn owner_allowed(&self, image: &Image) -> bool {
        self.allowed_owners.contains(&image.owner)
            || image
                .owner_alias
                .is_some_and(|a| self.allowed_owner_aliases.contains(&a))
    }
}

/// Attached to an account on the simulator, the policy acts like the generated IAM policy (plus
/// the criteria IAM cannot express: age and deprecation): RunInstances of an image it does not
/// approve fails with `UnauthorizedOperation`, carrying the verdict as the reason.
impl LaunchGuard for ApprovalPolicy {
    fn check(&self, image: &Image, now: Timestamp) -> Result<(), String> {
        let verdict = self.evaluate(image, now);
        if verdict.is_approved() {
            Ok(())
        } else {
            Err(format!(
                "launching image {} is denied by the approved-image policy: {verdict}",
                image.id
            ))
        }
    }
}
