//! The EC2 "Allowed AMIs" image criteria of an approval policy.
//!
//! Allowed AMIs is a per-account, per-Region setting (`EnableAllowedImagesSettings`,
//! `ReplaceImageCriteriaInAllowedImagesSettings`) that hides and refuses every image not
//! matching its criteria, except the account's own images, which it never restricts. It
//! complements the IAM policy: it can express the maximum age and deprecation that IAM cannot,
//! but not tags. The JSON produced here is the `ImageCriteria` parameter of
//! `ReplaceImageCriteriaInAllowedImagesSettings` (field names as in the EC2 API).

use serde::{Deserialize, Serialize};

use super::policy::ApprovalPolicy;

/// `CreationDateCondition`: only images created within the last N days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreationDateCondition {
    /// `MaximumDaysSinceCreated`.
    pub maximum_days_since_created: u32,
}

/// `DeprecationTimeCondition`: only images deprecated at most N days ago (0: none deprecated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeprecationTimeCondition {
    /// `MaximumDaysSinceDeprecated`.
    pub maximum_days_since_deprecated: u32,
}

/// One `ImageCriterion`: an image is allowed when it matches every field that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageCriterion {
    /// `ImageProviders`: account ids and `amazon`, `aws-marketplace`, `aws-backup-vault`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_providers: Vec<String>,
    /// `ImageNames`, with `*` and `?` wildcards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_names: Vec<String>,
    /// `MarketplaceProductCodes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marketplace_product_codes: Vec<String>,
    /// `CreationDateCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date_condition: Option<CreationDateCondition>,
    /// `DeprecationTimeCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_time_condition: Option<DeprecationTimeCondition>,
}

/// The `ImageCriteria` list (at most 10 criteria; an image matching any one is allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCriteria {
    /// The criteria.
    #[serde(rename = "ImageCriteria")]
    pub criteria: Vec<ImageCriterion>,
}

impl ImageCriteria {
    /// The JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        // Plain strings, integers and lists always serialize.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

impl ApprovalPolicy {
    /// The Allowed-AMIs criteria equivalent to this policy, as far as Allowed AMIs can express
    /// it: one criterion with the allowed providers, the maximum age and (when deprecated
    /// images are denied) `MaximumDaysSinceDeprecated = 0`. Required tags cannot be expressed;
    /// see [`criteria_unenforced`](Self::criteria_unenforced).
    pub fn image_criteria(&self) -> ImageCriteria {
        let image_providers = self.owner_names();
        let criterion = ImageCriterion {
            image_providers,
            creation_date_condition: self.max_age_days().map(|d| CreationDateCondition {
                maximum_days_since_created: d,
            }),
            deprecation_time_condition: self.denies_deprecated().then_some(
                DeprecationTimeCondition {
                    maximum_days_since_deprecated: 0,
                },
            ),
            ..ImageCriterion::default()
        };
        ImageCriteria {
            criteria: vec![criterion],
        }
    }

    /// The criteria of this policy that Allowed AMIs cannot express, plus its one built-in
    /// exception, so a reader knows what else must enforce them.
    pub fn criteria_unenforced(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.required_tags().is_empty() {
            out.push("required tags: Allowed AMIs has no tag criterion; use the IAM policy");
        }
        out.push("Allowed AMIs never restricts images owned by the account itself");
        out
    }
}
