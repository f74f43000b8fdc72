//! Property tests of the validated ids: round trips, and parsers that never panic.

use ami_core::{
    AccountId, ClientToken, ImageId, InstanceId, KmsKeyRef, OrganizationArn, OrganizationalUnitArn,
    Region, SnapshotId, VolumeId,
};
use proptest::prelude::*;
use proptest::string::string_regex;

const REGION: &str = "(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob|us-isof|eu-isoe|eusc-de)-[a-z0-9_]{1,12}-[0-9]{1,3}";
const ORG: &str = "arn:aws:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}";
const OU: &str =
    "arn:aws:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}";
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

fn kms_key_strings() -> impl Strategy<Value = String> {
    let arn_prefix = format!("arn:aws:kms:{REGION}:[0-9]{{12}}:");
    let re = |r: String| string_regex(&r).expect("a valid regex");
    prop_oneof![
        re(UUID.to_owned()),
        re("mrk-[0-9a-f]{32}".to_owned()),
        re("alias/[a-zA-Z0-9/_-]{1,64}".to_owned()),
        re(format!("{arn_prefix}key/{UUID}")),
        re(format!("{arn_prefix}key/mrk-[0-9a-f]{{32}}")),
        re(format!("{arn_prefix}alias/[a-zA-Z0-9/_-]{{1,64}}")),
    ]
}

/// Asserts that `s` parses, displays as itself, re-parses to the same value, and survives a
/// serde JSON round trip.
macro_rules! assert_round_trip {
    ($ty:ty, $s:expr) => {{
        let owned: String = ($s).to_string();
        let s: &str = &owned;
        let x = <$ty>::parse(s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(x.to_string(), s);
        prop_assert_eq!(<$ty>::parse(&x.to_string()).unwrap(), x.clone());
        prop_assert_eq!(s.parse::<$ty>().unwrap(), x.clone());
        let json = serde_json::to_string(&x).unwrap();
        prop_assert_eq!(serde_json::from_str::<$ty>(&json).unwrap(), x);
    }};
}

/// Asserts that parsing `s` does not panic, that an accepted value round-trips, and that a
/// rejection names (a prefix of) the input and carries an AWS code.
macro_rules! assert_total {
    ($ty:ty, $s:expr) => {{
        let owned: String = ($s).to_string();
        let s: &str = &owned;
        match <$ty>::parse(s) {
            Ok(x) => {
                prop_assert_eq!(x.to_string(), s);
                prop_assert_eq!(<$ty>::parse(&x.to_string()).unwrap(), x);
            }
            Err(e) => {
                prop_assert!(s.starts_with(e.value.as_str()));
                prop_assert!(e.value.chars().count() <= 200);
                prop_assert!(!e.code.is_empty());
                prop_assert!(!e.expected.is_empty());
            }
        }
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every well-formed id of every kind round-trips: parse(display(x)) == x.
    #[test]
    fn hex_ids_round_trip(hex in "([0-9a-f]{8}|[0-9a-f]{17})") {
        assert_round_trip!(ImageId, &format!("ami-{hex}"));
        assert_round_trip!(SnapshotId, &format!("snap-{hex}"));
        assert_round_trip!(VolumeId, &format!("vol-{hex}"));
        assert_round_trip!(InstanceId, &format!("i-{hex}"));
    }

    /// Ids issued from numbers (as the simulator issues them) are well formed and round-trip.
    #[test]
    fn issued_ids_round_trip(n in any::<u128>()) {
        assert_round_trip!(ImageId, ImageId::from_u128(n).as_str());
        assert_round_trip!(SnapshotId, SnapshotId::from_u128(n).as_str());
        assert_round_trip!(VolumeId, VolumeId::from_u128(n).as_str());
        assert_round_trip!(InstanceId, InstanceId::from_u128(n).as_str());
        assert_round_trip!(AccountId, AccountId::from_number(n as u64).as_str());
    }

    /// Accounts keep their 12 digits, leading zeros included.
    #[test]
    fn accounts_round_trip(s in "[0-9]{12}") {
        assert_round_trip!(AccountId, &s);
    }

    /// Regions of every partition round-trip.
    #[test]
    fn regions_round_trip(s in REGION) {
        assert_round_trip!(Region, &s);
    }

    /// Organization and OU ARNs round-trip, and keep their ids.
    #[test]
    fn org_arns_round_trip(org in ORG, ou in OU) {
        assert_round_trip!(OrganizationArn, &org);
        assert_round_trip!(OrganizationalUnitArn, &ou);
        let parsed = OrganizationalUnitArn::parse(&ou).unwrap();
        let tail = format!("{}/{}", parsed.org_id(), parsed.ou_id());
        prop_assert!(ou.ends_with(&tail));
    }

    /// Client tokens of 1 to 64 printable ASCII characters round-trip.
    #[test]
    fn client_tokens_round_trip(s in "[!-~]{1,64}") {
        assert_round_trip!(ClientToken, &s);
    }

    /// Every form of KMS key reference round-trips and keeps its kind.
    #[test]
    fn kms_keys_round_trip(s in kms_key_strings()) {
        assert_round_trip!(KmsKeyRef, &s);
        let k = KmsKeyRef::parse(&s).unwrap();
        let shown = format!("{k}");
        prop_assert_eq!(KmsKeyRef::parse(&shown).unwrap().kind(), k.kind());
    }

    /// No string, however malformed, panics any parser; what is accepted round-trips.
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        assert_total!(ImageId, &s);
        assert_total!(SnapshotId, &s);
        assert_total!(VolumeId, &s);
        assert_total!(InstanceId, &s);
        assert_total!(AccountId, &s);
        assert_total!(Region, &s);
        assert_total!(OrganizationArn, &s);
        assert_total!(OrganizationalUnitArn, &s);
        assert_total!(ClientToken, &s);
        assert_total!(KmsKeyRef, &s);
    }

    /// Near misses (a valid prefix followed by anything) never panic any parser either, and
    /// the accessors of accepted KMS references never panic.
    #[test]
    fn near_misses_never_panic(
        prefix in prop_oneof![
            Just("ami-"), Just("snap-"), Just("vol-"), Just("i-"), Just("alias/"), Just("mrk-"),
            Just("arn:aws:kms:us-east-1:111122223333:"), Just("arn:aws:organizations::111122223333:"),
            Just("us-"), Just("us-gov-"),
        ],
        rest in "\\PC{0,80}",
    ) {
        let s = format!("{prefix}{rest}");
        assert_total!(ImageId, &s);
        assert_total!(SnapshotId, &s);
        assert_total!(VolumeId, &s);
        assert_total!(InstanceId, &s);
        assert_total!(Region, &s);
        assert_total!(OrganizationArn, &s);
        assert_total!(OrganizationalUnitArn, &s);
        assert_total!(KmsKeyRef, &s);
        if let Ok(k) = KmsKeyRef::parse(&s) {
            let _ = (k.kind(), k.alias_name(), k.key_id(), k.account(), k.region());
            let _ = (k.is_aws_managed_alias(), k.is_multi_region());
        }
    }
}
