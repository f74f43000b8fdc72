use std::time::Duration;

use super::*;
use crate::id::{AccountId, ImageId, Region};
use crate::model::{DeregistrationProtection, Image, ImageState, OwnerAlias, Tags};
use crate::time::Timestamp;
use crate::LaunchGuard;

const DAY: Duration = Duration::from_secs(86_400);

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn factory() -> AccountId {
    AccountId::parse("111122223333").unwrap()
}

fn image(owner: &str, tags: &[(&str, &str)], age_days: u32) -> Image {
    Image {
        id: ImageId::parse("ami-0123456789abcdef0").unwrap(),
        region: Region::parse("eu-west-1").unwrap(),
        name: "golden".into(),
        description: None,
        owner: AccountId::parse(owner).unwrap(),
        owner_alias: None,
        state: ImageState::Available,
        state_reason: None,
        public: false,
        block_devices: Vec::new(),
        root_device_name: "/dev/xvda".into(),
        architecture: "x86_64".into(),
        product_codes: Vec::new(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Tags>(),
        creation_time: now().sub(DAY * age_days),
        deprecation_time: None,
        deregistration_protection: DeregistrationProtection::Disabled,
        source_image_id: None,
        source_region: None,
        source_instance_id: None,
        last_launched_time: None,
    }
}

fn policy() -> ApprovalPolicy {
    ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(factory())
        .allow_owner_alias(OwnerAlias::Amazon)
        .max_age_days(90)
        .deny_deprecated(true)
        .build()
        .unwrap()
}

#[test]
fn approves_an_image_meeting_every_criterion() {
    let img = image("111122223333", &[("Approved", "true")], 10);
    let v = policy().evaluate(&img, now());
    assert!(v.is_approved(), "{v}");
    assert_eq!(v.to_string(), "approved");
    assert_eq!(policy().check(&img, now()), Ok(()));
}

#[test]
fn lists_every_violation_in_order() {
    let mut img = image("999999999999", &[("Approved", "no")], 91);
    img.deprecation_time = Some(now().sub(DAY));
    img.state = ImageState::Disabled;
    let v = policy().evaluate(&img, now());
    assert_eq!(
        v.violations(),
        &[
            Violation::ImageUnavailable {
                state: ImageState::Disabled
            },
            Violation::TagMismatch {
                key: "Approved".into(),
                expected: "true".into(),
                actual: "no".into()
            },
            Violation::OwnerNotAllowed {
                owner: AccountId::parse("999999999999").unwrap(),
                alias: None
            },
            Violation::TooOld {
                created: img.creation_time,
                max_age_days: 90
            },
            Violation::Deprecated {
                since: now().sub(DAY)
            },
        ]
    );
    let reason = policy().check(&img, now()).unwrap_err();
    assert!(reason.contains("ami-0123456789abcdef0"), "{reason}");
    assert!(reason.contains("is not an approved owner"), "{reason}");
}

#[test]
fn boundaries_of_age_deprecation_and_aliases() {
    let p = policy();
    // Exactly 90 days old is still approved; a future deprecation does not count.
    let mut img = image("111122223333", &[("Approved", "true")], 90);
    img.deprecation_time = Some(now().add(DAY));
    assert!(p.evaluate(&img, now()).is_approved());
    img.deprecation_time = Some(now());
    assert_eq!(
        p.evaluate(&img, now()).violations(),
        &[Violation::Deprecated { since: now() }]
    );
    // An Amazon image is approved by alias, whatever its account id.
    let mut amazon = image("137112412989", &[("Approved", "true")], 1);
    amazon.owner_alias = Some(OwnerAlias::Amazon);
    assert!(p.evaluate(&amazon, now()).is_approved());
    amazon.owner_alias = Some(OwnerAlias::AwsMarketplace);
    assert!(!p.evaluate(&amazon, now()).is_approved());
    // A missing tag is reported as missing.
    let untagged = image("111122223333", &[], 1);
    assert_eq!(
        p.evaluate(&untagged, now()).violations(),
        &[Violation::MissingTag {
            key: "Approved".into(),
            expected: Some("true".into())
        }]
    );
}

#[test]
fn key_only_tags_and_unrestricted_owners() {
    let p = ApprovalPolicy::builder()
        .require_tag_key("Team")
        .build()
        .unwrap();
    assert!(!p.restricts_owners());
    assert!(p
        .evaluate(&image("444455556666", &[("Team", "x")], 5000), now())
        .is_approved());
    assert_eq!(
        p.evaluate(&image("444455556666", &[], 1), now())
            .violations(),
        &[Violation::MissingTag {
            key: "Team".into(),
            expected: None
        }]
    );
}

#[test]
fn invalid_policies_are_refused_with_the_value() {
    assert_eq!(ApprovalPolicy::builder().build(), Err(PolicyError::Empty));
    assert_eq!(
        ApprovalPolicy::builder().require_tag("aws:x", "1").build(),
        Err(PolicyError::ReservedTagKey {
            key: "aws:x".into()
        })
    );
    assert_eq!(
        ApprovalPolicy::builder().require_tag("", "1").build(),
        Err(PolicyError::TagKeyLength { key: String::new() })
    );
    let long = "v".repeat(257);
    assert_eq!(
        ApprovalPolicy::builder().require_tag("k", long).build(),
        Err(PolicyError::TagValueLength {
            key: "k".into(),
            len: 257
        })
    );
    let mut b = ApprovalPolicy::builder();
    for n in 0..201 {
        b = b.allow_owner(AccountId::from_number(n));
    }
    assert_eq!(b.build(), Err(PolicyError::TooManyProviders { count: 201 }));
    let e: crate::Error = PolicyError::Empty.into();
    assert_eq!(e.code(), "Workflow");
}

#[test]
fn serde_round_trip_validates() {
    let p = policy();
    let json = serde_json::to_string(&p).unwrap();
    let back: ApprovalPolicy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let bad = r#"{"required_tags":{"aws:owner":"x"}}"#;
    let err = serde_json::from_str::<ApprovalPolicy>(bad).unwrap_err();
    assert!(err.to_string().contains("reserved prefix"), "{err}");
    let empty = serde_json::from_str::<ApprovalPolicy>("{}").unwrap_err();
    assert!(empty.to_string().contains("no criterion"), "{empty}");
}

#[test]
fn iam_policy_matches_the_checked_in_document() {
    let p = ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .require_tag_key("Team")
        .allow_owner(factory())
        .allow_owner_alias(OwnerAlias::Amazon)
        .max_age_days(90)
        .deny_deprecated(true)
        .build()
        .unwrap();
    let expected = include_str!("../../../tests/data/approved_amis_policy.json");
    let expected_value: serde_json::Value = serde_json::from_str(expected).unwrap();
    let generated = p.iam_policy_json();
    let reparsed: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(reparsed, expected_value);
    assert_eq!(generated.trim_end(), expected.trim_end());
    assert_eq!(p.iam_unenforced().len(), 2);
}

#[test]
fn iam_policy_statements_only_touch_the_image_resource() {
    let doc = policy().iam_policy_with(&IamPolicyOptions {
        partition: "aws-cn".into(),
        protect_approval_tags: false,
    });
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    for st in statements {
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Action"], "ec2:RunInstances");
        assert_eq!(st["Resource"], "arn:aws-cn:ec2:*::image/*");
        let sid = st["Sid"].as_str().unwrap();
        assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric()), "{sid}");
    }
    assert_eq!(
        statements[0]["Condition"]["StringNotEquals"]["ec2:Owner"],
        serde_json::json!(["111122223333", "amazon"])
    );
}

#[test]
fn image_criteria_json() {
    let c = policy().image_criteria();
    let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "ImageCriteria": [{
                "ImageProviders": ["111122223333", "amazon"],
                "CreationDateCondition": { "MaximumDaysSinceCreated": 90 },
                "DeprecationTimeCondition": { "MaximumDaysSinceDeprecated": 0 }
            }]
        })
    );
    let back: ImageCriteria = serde_json::from_str(&c.to_json()).unwrap();
    assert_eq!(back, c);
    assert_eq!(policy().criteria_unenforced().len(), 2);
}
