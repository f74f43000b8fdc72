//! The IAM policy document that denies `ec2:RunInstances` of images the policy does not
//! approve. The statements are explained in the [module documentation](super).

use serde_json::{json, Map, Value};

use super::policy::ApprovalPolicy;

/// Options of the generated IAM policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamPolicyOptions {
    /// The partition of the ARNs: `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// Also deny changing the approval tags on images (see the module docs).
    pub protect_approval_tags: bool,
}

impl Default for IamPolicyOptions {
    fn default() -> Self {
        IamPolicyOptions {
            partition: "aws".into(),
            protect_approval_tags: true,
        }
    }
}

impl ApprovalPolicy {
    /// The IAM policy document (with the default [`IamPolicyOptions`]) that denies
    /// `ec2:RunInstances` of unapproved images, as a JSON value.
    pub fn iam_policy(&self) -> Value {
        self.iam_policy_with(&IamPolicyOptions::default())
    }

    /// The IAM policy document, pretty-printed, with keys in a stable order.
    pub fn iam_policy_json(&self) -> String {
        // A `Value` always serializes; an empty object is the impossible fallback.
        serde_json::to_string_pretty(&self.iam_policy()).unwrap_or_else(|_| "{}".into())
    }

    /// The IAM policy document with explicit options.
    pub fn iam_policy_with(&self, opts: &IamPolicyOptions) -> Value {
        let image_arn = format!("arn:{}:ec2:*::image/*", opts.partition);
        let mut statements = Vec::new();
        if self.restricts_owners() {
            let owners = self.owner_names();
            statements.push(deny_run(
                "DenyImageOwnerNotApproved",
                &image_arn,
                json!({ "StringNotEquals": { "ec2:Owner": owners } }),
            ));
        }
        for (i, (key, value)) in self.required_tags().iter().enumerate() {
            let cond_key = format!("ec2:ResourceTag/{key}");
            let condition = match value {
                Some(v) => json!({ "StringNotEquals": { cond_key: v } }),
                None => json!({ "Null": { cond_key: "true" } }),
            };
            statements.push(deny_run(
                &format!("DenyImageTagNotApproved{}", i + 1),
                &image_arn,
                condition,
            ));
        }
        if opts.protect_approval_tags && !self.required_tags().is_empty() {
            let keys: Vec<&String> = self.required_tags().keys().collect();
            statements.push(json!({
                "Sid": "DenyApprovalTagChangesOnImages",
                "Effect": "Deny",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
                "Resource": image_arn,
                "Condition": { "ForAnyValue:StringEquals": { "aws:TagKeys": keys } },
            }));
        }
        let mut doc = Map::new();
        doc.insert("Version".into(), json!("2012-10-17"));
        doc.insert("Statement".into(), Value::Array(statements));
        Value::Object(doc)
    }

    /// The criteria of this policy that no IAM condition key can express, so the IAM policy
    /// alone does not enforce them (use the Allowed-AMIs criteria and the compliance scan).
    pub fn iam_unenforced(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.max_age_days().is_some() {
            out.push("maximum age: no IAM condition key carries the image creation date");
        }
        if self.denies_deprecated() {
            out.push("not deprecated: no IAM condition key carries the deprecation time");
        }
        out
    }
}

fn deny_run(sid: &str, image_arn: &str, condition: Value) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Deny",
        "Action": "ec2:RunInstances",
        "Resource": image_arn,
        "Condition": condition,
    })
}
