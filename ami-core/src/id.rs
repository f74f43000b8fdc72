//! Validated identifiers: parse, don't validate twice.
//!
//! Every id of the lifecycle is a newtype that can only hold a well-formed value. Parsing a bad
//! value gives an [`IdError`] that names the value, the expected shape and the AWS error code the
//! service would answer with, so a typo is caught before any call is made.
//!
//! ```
//! use ami_core::{AccountId, ImageId, KmsKeyRef, Region};
//!
//! let image: ImageId = "ami-0abcdef1234567890".parse()?;
//! let account: AccountId = "000123456789".parse()?; // leading zeros are kept
//! assert_eq!(account.to_string(), "000123456789");
//! let region: Region = "eu-west-1".parse()?;
//! assert!("ami-XYZ".parse::<ImageId>().is_err());
//! let key: KmsKeyRef = "alias/aws/ebs".parse()?;
//! assert!(key.is_aws_managed_alias());
//! # let _ = (image, region);
//! # Ok::<(), ami_core::IdError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A malformed identifier: which kind, the offending value, the expected shape and the AWS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected {expected}")]
pub struct IdError {
    /// What kind of identifier was being parsed ("image id", "account id", ...).
    pub kind: &'static str,
    /// The rejected input, verbatim.
    pub value: String,
    /// The shape a valid value has, written for a human.
    pub expected: &'static str,
    /// The AWS error code the service answers for such a value (e.g. `InvalidAMIID.Malformed`).
    pub code: &'static str,
}

impl IdError {
    fn new(kind: &'static str, value: &str, expected: &'static str, code: &'static str) -> Self {
        // Keep error values short: a megabyte of garbage should not be echoed back whole.
        let value: String = value.chars().take(200).collect();
        IdError {
            kind,
            value,
            expected,
            code,
        }
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Implements Display, FromStr, AsRef<str>, serde for a string newtype whose `parse` fn validates.
///
/// The string is an `Arc<str>`: ids are cloned far more often than they are made, and a clone
/// then costs a reference count, not an allocation.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Defines a `<prefix>-<8 or 17 lowercase hex>` resource id.
macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal, $code:literal) => {
        string_id!($(#[$meta])* $name);

        impl $name {
            /// The prefix every id of this kind starts with (including the dash).
            pub const PREFIX: &'static str = $prefix;

            /// Parses and validates: the prefix, then 8 or 17 lowercase hexadecimal characters.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = s
                    .strip_prefix($prefix)
                    .is_some_and(|hex| (hex.len() == 8 || hex.len() == 17) && is_lower_hex(hex));
                if ok {
                    Ok($name(Arc::from(s)))
                } else {
                    Err(IdError::new(
                        $kind,
                        s,
                        concat!("\"", $prefix, "\" followed by 8 or 17 lowercase hex characters"),
                        $code,
                    ))
                }
            }

            /// Builds the 17-hex-character id whose suffix is the low 68 bits of `n`, as the
            /// simulator does to issue ids from its seeded generator.
            pub fn from_u128(n: u128) -> Self {
                let hex = format!("{:017x}", n & ((1u128 << 68) - 1));
                $name(Arc::from(format!("{}{}", $prefix, hex)))
            }
        }
    };
}

hex_id!(
    /// An Amazon Machine Image id: `ami-` + 8 or 17 lowercase hex characters.
    ImageId, "ami-", "image id", "InvalidAMIID.Malformed"
);
hex_id!(
    /// An EBS snapshot id: `snap-` + 8 or 17 lowercase hex characters.
    SnapshotId, "snap-", "snapshot id", "InvalidSnapshotID.Malformed"
);
hex_id!(
    /// An EBS volume id: `vol-` + 8 or 17 lowercase hex characters.
    VolumeId, "vol-", "volume id", "InvalidVolumeID.Malformed"
);
hex_id!(
    /// An EC2 instance id: `i-` + 8 or 17 lowercase hex characters.
    InstanceId, "i-", "instance id", "InvalidInstanceID.Malformed"
);

string_id!(
    /// An AWS account id: exactly 12 ASCII digits. Leading zeros are significant and kept.
    AccountId
);

impl AccountId {
    /// Parses exactly 12 ASCII digits.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(Arc::from(s)))
        } else {
            Err(IdError::new(
                "account id",
                s,
                "exactly 12 digits, leading zeros included (e.g. 012345678901)",
                "InvalidUserID.Malformed",
            ))
        }
    }

    /// The account id whose digits are `n` zero-padded to 12 places (`n` is taken modulo 10^12).
    pub fn from_number(n: u64) -> Self {
        AccountId(Arc::from(format!("{:012}", n % 1_000_000_000_000)))
    }
}

string_id!(
    /// An AWS Region code such as `us-east-1`, in any partition (commercial, China, GovCloud, ISO).
    Region
);

impl Region {
    /// Parses a Region code following the partition patterns: `<area>-<word>-<digits>`, with the
    /// areas `us, eu, ap, sa, ca, me, af, il, mx` (commercial), `cn`, `us-gov`, `us-iso`,
    /// `us-isob`, `us-isof`, `eu-isoe` and `eusc-de`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const AREAS: &[&str] = &[
            "us-gov-", "us-isob-", "us-isof-", "us-iso-", "eu-isoe-", "eusc-de-", "us-", "eu-",
            "ap-", "sa-", "ca-", "me-", "af-", "il-", "mx-", "cn-",
        ];
        let valid = AREAS.iter().any(|area| {
            s.strip_prefix(area).is_some_and(|rest| {
                // rest = <word>-<digits>; the word is letters/digits/underscores (\w+).
                match rest.rsplit_once('-') {
                    Some((word, num)) => {
                        !word.is_empty()
                            && word
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                            && !num.is_empty()
                            && num.len() <= 3
                            && num.bytes().all(|b| b.is_ascii_digit())
                    }
                    None => false,
                }
            })
        });
        if valid {
            Ok(Region(Arc::from(s)))
        } else {
            Err(IdError::new(
                "region",
                s,
                "a Region code such as us-east-1, eu-central-2, cn-north-1 or us-gov-west-1",
                "InvalidRegion",
            ))
        }
    }

    /// The partition the Region belongs to: `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, ...
    pub fn partition(&self) -> &'static str {
        let s: &str = &self.0;
        if s.starts_with("cn-") {
            "aws-cn"
        } else if s.starts_with("us-gov-") {
            "aws-us-gov"
        } else if s.starts_with("us-isob-") {
            "aws-iso-b"
        } else if s.starts_with("us-isof-") {
            "aws-iso-f"
        } else if s.starts_with("us-iso-") {
            "aws-iso"
        } else if s.starts_with("eu-isoe-") {
            "aws-iso-e"
        } else if s.starts_with("eusc-de-") {
            "aws-eusc"
        } else {
            "aws"
        }
    }
}

string_id!(
    /// An AWS Organizations organization ARN:
    /// `arn:aws:organizations::<management account>:organization/o-<10 to 32 chars>`.
    OrganizationArn
);

fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|r| {
        (10..=32).contains(&r.len())
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn is_ou_id(s: &str) -> bool {
    // ou-<4-32 chars of root id>-<8-32 chars>
    s.strip_prefix("ou-")
        .is_some_and(|r| match r.split_once('-') {
            Some((root, rest)) => {
                (4..=32).contains(&root.len())
                    && (8..=32).contains(&rest.len())
                    && root
                        .bytes()
                        .chain(rest.bytes())
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }
            None => false,
        })
}

fn split_org_arn<'a>(s: &'a str, resource: &str) -> Option<(&'a str, &'a str)> {
    let rest = s.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    let rest = rest.strip_prefix("organizations::")?;
    let (account, rest) = rest.split_once(':')?;
    AccountId::parse(account).ok()?;
    let rest = rest.strip_prefix(resource)?.strip_prefix('/')?;
    Some((account, rest))
}

impl OrganizationArn {
    /// Parses an organization ARN; a bare `o-...` id is refused (AWS wants the ARN).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match split_org_arn(s, "organization") {
            Some((_, org)) if is_org_id(org) => Ok(OrganizationArn(Arc::from(s))),
            _ => Err(IdError::new(
                "organization ARN",
                s,
                "arn:aws:organizations::<12-digit management account>:organization/o-<id> (a bare o-... id is not accepted)",
                "InvalidParameterValue",
            )),
        }
    }

    /// Builds the ARN from the management account and the organization id (`o-...`).
    pub fn new(management: &AccountId, org_id: &str) -> Result<Self, IdError> {
        Self::parse(&format!(
            "arn:aws:organizations::{management}:organization/{org_id}"
        ))
    }

    /// The organization id, `o-...`.
    pub fn org_id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

string_id!(
    /// An AWS Organizations organizational unit ARN:
    /// `arn:aws:organizations::<management account>:ou/o-<org>/ou-<root>-<ou>`.
    OrganizationalUnitArn
);

impl OrganizationalUnitArn {
    /// Parses an OU ARN; a bare `ou-...` id is refused (AWS wants the ARN).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = split_org_arn(s, "ou").is_some_and(|(_, rest)| match rest.split_once('/') {
            Some((org, ou)) => is_org_id(org) && is_ou_id(ou),
            None => false,
        });
        if ok {
            Ok(OrganizationalUnitArn(Arc::from(s)))
        } else {
            Err(IdError::new(
                "organizational unit ARN",
                s,
                "arn:aws:organizations::<12-digit management account>:ou/o-<org id>/ou-<root>-<ou id> (a bare ou-... id is not accepted)",
                "InvalidParameterValue",
            ))
        }
    }

    /// Builds the ARN from the management account, the organization id and the OU id.
    pub fn new(management: &AccountId, org_id: &str, ou_id: &str) -> Result<Self, IdError> {
        Self::parse(&format!(
            "arn:aws:organizations::{management}:ou/{org_id}/{ou_id}"
        ))
    }

    /// The organization id, `o-...`.
    pub fn org_id(&self) -> &str {
        let mut parts = self.0.rsplit('/');
        parts.next();
        parts.next().unwrap_or_default()
    }

    /// The OU id, `ou-...`.
    pub fn ou_id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

string_id!(
    /// An idempotency token: 1 to 64 printable ASCII characters, case-sensitive.
    ClientToken
);

impl ClientToken {
    /// Parses 1 to 64 printable ASCII characters (no spaces or control characters).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(ClientToken(Arc::from(s)))
        } else {
            Err(IdError::new(
                "client token",
                s,
                "1 to 64 printable ASCII characters without spaces",
                "InvalidParameterValue",
            ))
        }
    }
}

/// The forms a KMS key can be named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KmsKeyRefKind {
    /// A key id: a UUID such as `1234abcd-12ab-34cd-56ef-1234567890ab`.
    KeyId,
    /// A multi-Region key id: `mrk-` + 32 hex characters.
    MultiRegionKeyId,
    /// An alias name: `alias/<name>`.
    Alias,
    /// A key ARN: `arn:aws:kms:<region>:<account>:key/<key id>`.
    KeyArn,
    /// An alias ARN: `arn:aws:kms:<region>:<account>:alias/<name>`.
    AliasArn,
}

string_id!(
    /// A reference to a KMS key in one of the forms AWS accepts: key id, `mrk-` multi-Region key
    /// id, `alias/<name>`, key ARN or alias ARN. Keys of another account can only be named by ARN.
    KmsKeyRef
);

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_mrk(s: &str) -> bool {
    s.strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_alias_name(s: &str) -> bool {
    s.strip_prefix("alias/").is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 250
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b'-')
    })
}

struct KmsArn<'a> {
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn split_kms_arn(s: &str) -> Option<KmsArn<'_>> {
    let rest = s.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition.starts_with("aws") {
        return None;
    }
    let rest = rest.strip_prefix("kms:")?;
    let (region, rest) = rest.split_once(':')?;
    Region::parse(region).ok()?;
    let (account, resource) = rest.split_once(':')?;
    AccountId::parse(account).ok()?;
    Some(KmsArn {
        region,
        account,
        resource,
    })
}

impl KmsKeyRef {
    /// Parses any of the five accepted forms.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if Self::classify(s).is_some() {
            Ok(KmsKeyRef(Arc::from(s)))
        } else {
            Err(IdError::new(
                "KMS key",
                s,
                "a key id (UUID), a multi-Region key id (mrk-<32 hex>), alias/<name>, a key ARN (arn:aws:kms:<region>:<account>:key/<id>) or an alias ARN (arn:aws:kms:<region>:<account>:alias/<name>)",
                "InvalidKmsKey.Malformed",
            ))
        }
    }

    fn classify(s: &str) -> Option<KmsKeyRefKind> {
        if is_uuid(s) {
            Some(KmsKeyRefKind::KeyId)
        } else if is_mrk(s) {
            Some(KmsKeyRefKind::MultiRegionKeyId)
        } else if is_alias_name(s) {
            Some(KmsKeyRefKind::Alias)
        } else if let Some(arn) = split_kms_arn(s) {
            if let Some(id) = arn.resource.strip_prefix("key/") {
                (is_uuid(id) || is_mrk(id)).then_some(KmsKeyRefKind::KeyArn)
            } else if arn.resource.starts_with("alias/") && is_alias_name(arn.resource) {
                Some(KmsKeyRefKind::AliasArn)
            } else {
                None
            }
        } else {
            None
        }
    }

    /// Which of the five forms this reference uses.
    pub fn kind(&self) -> KmsKeyRefKind {
        // Parsing guarantees one of the forms matches.
        Self::classify(&self.0).unwrap_or(KmsKeyRefKind::Alias)
    }

    /// The key ARN for a key id in `region` of `account`.
    pub fn key_arn(region: &Region, account: &AccountId, key_id: &str) -> Result<Self, IdError> {
        Self::parse(&format!("arn:aws:kms:{region}:{account}:key/{key_id}"))
    }

    /// The alias name (`alias/...`) if this is an alias or alias ARN.
    pub fn alias_name(&self) -> Option<&str> {
        match self.kind() {
            KmsKeyRefKind::Alias => Some(&self.0),
            KmsKeyRefKind::AliasArn => split_kms_arn(&self.0).map(|a| a.resource),
            _ => None,
        }
    }

    /// The key id (UUID or `mrk-...`) if this is a key id or key ARN.
    pub fn key_id(&self) -> Option<&str> {
        match self.kind() {
            KmsKeyRefKind::KeyId | KmsKeyRefKind::MultiRegionKeyId => Some(&self.0),
            KmsKeyRefKind::KeyArn => {
                split_kms_arn(&self.0).and_then(|a| a.resource.strip_prefix("key/"))
            }
            _ => None,
        }
    }

    /// The account named in an ARN form; `None` for the short forms (which mean the caller's).
    pub fn account(&self) -> Option<AccountId> {
        split_kms_arn(&self.0).and_then(|a| AccountId::parse(a.account).ok())
    }

    /// The Region named in an ARN form; `None` for the short forms (which mean the caller's).
    pub fn region(&self) -> Option<Region> {
        split_kms_arn(&self.0).and_then(|a| Region::parse(a.region).ok())
    }

    /// True for the AWS managed aliases `alias/aws/*` (e.g. `alias/aws/ebs`, the EBS default key).
    pub fn is_aws_managed_alias(&self) -> bool {
        self.alias_name()
            .is_some_and(|a| a.starts_with("alias/aws/"))
    }

    /// True for a multi-Region key (`mrk-` id or a key ARN naming one).
    pub fn is_multi_region(&self) -> bool {
        self.key_id().is_some_and(|k| k.starts_with("mrk-"))
    }

    /// The EBS default key alias, `alias/aws/ebs`.
    pub fn aws_ebs_alias() -> Self {
        KmsKeyRef(Arc::from("alias/aws/ebs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids() {
        assert!(ImageId::parse("ami-12345678").is_ok());
        assert!(ImageId::parse("ami-0123456789abcdef0").is_ok());
        for bad in [
            "",
            "ami-",
            "ami-1234567",
            "ami-123456789",
            "ami-0123456789ABCDEF0",
            "ami-0123456789abcdefg",
            "AMI-12345678",
            "snap-12345678",
            " ami-12345678",
        ] {
            let e = ImageId::parse(bad).unwrap_err();
            assert_eq!(e.code, "InvalidAMIID.Malformed", "{bad}");
            assert_eq!(e.value, bad);
        }
        let id = ImageId::from_u128(0xabc);
        assert_eq!(id.as_str(), "ami-00000000000000abc");
        assert_eq!(ImageId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn accounts_keep_leading_zeros() {
        let a = AccountId::parse("000000000042").unwrap();
        assert_eq!(a.to_string(), "000000000042");
        assert_eq!(AccountId::from_number(42), a);
        for bad in ["42", "1234567890123", "12345678901a", "1234-5678-9012", ""] {
            assert_eq!(
                AccountId::parse(bad).unwrap_err().code,
                "InvalidUserID.Malformed"
            );
        }
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-5",
            "il-central-1",
            "mx-central-1",
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "us-east",
            "useast1",
            "xx-east-1",
            "US-EAST-1",
            "us-east-1a",
            "",
        ] {
            assert_eq!(
                Region::parse(bad).unwrap_err().code,
                "InvalidRegion",
                "{bad}"
            );
        }
        assert_eq!(Region::parse("cn-north-1").unwrap().partition(), "aws-cn");
        assert_eq!(
            Region::parse("us-gov-west-1").unwrap().partition(),
            "aws-us-gov"
        );
        assert_eq!(Region::parse("us-east-1").unwrap().partition(), "aws");
    }

    #[test]
    fn kms_key_refs() {
        let cases = [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", KmsKeyRefKind::KeyId),
            (
                "mrk-1234abcd12ab34cd56ef1234567890ab",
                KmsKeyRefKind::MultiRegionKeyId,
            ),
            ("alias/my-key", KmsKeyRefKind::Alias),
            (
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                KmsKeyRefKind::KeyArn,
            ),
            (
                "arn:aws:kms:us-east-1:111122223333:alias/my-key",
                KmsKeyRefKind::AliasArn,
            ),
        ];
        for (s, kind) in cases {
            assert_eq!(KmsKeyRef::parse(s).unwrap().kind(), kind, "{s}");
        }
        for bad in [
            "my-key",
            "alias/",
            "arn:aws:kms:us-east-1:1111:key/x",
            "key/1234",
        ] {
            assert_eq!(
                KmsKeyRef::parse(bad).unwrap_err().code,
                "InvalidKmsKey.Malformed"
            );
        }
        assert!(KmsKeyRef::aws_ebs_alias().is_aws_managed_alias());
        let arn = KmsKeyRef::parse("arn:aws:kms:us-east-1:111122223333:alias/aws/ebs").unwrap();
        assert!(arn.is_aws_managed_alias());
        assert_eq!(arn.account().unwrap().as_str(), "111122223333");
        assert!(!KmsKeyRef::parse("alias/custom")
            .unwrap()
            .is_aws_managed_alias());
    }

    #[test]
    fn org_arns() {
        let org =
            OrganizationArn::parse("arn:aws:organizations::123456789012:organization/o-abcdefghij")
                .unwrap();
        assert_eq!(org.org_id(), "o-abcdefghij");
        assert!(OrganizationArn::parse("o-abcdefghij").is_err());
        let ou = OrganizationalUnitArn::parse(
            "arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-abcdefgh",
        )
        .unwrap();
        assert_eq!(ou.ou_id(), "ou-ab12-abcdefgh");
        assert_eq!(ou.org_id(), "o-abcdefghij");
        assert!(OrganizationalUnitArn::parse("ou-ab12-abcdefgh").is_err());
    }

    #[test]
    fn client_tokens() {
        assert!(ClientToken::parse("a").is_ok());
        assert!(ClientToken::parse(&"x".repeat(64)).is_ok());
        assert!(ClientToken::parse(&"x".repeat(65)).is_err());
        assert!(ClientToken::parse("").is_err());
        assert!(ClientToken::parse("has space").is_err());
    }

    #[test]
    fn serde_round_trip_and_rejects_bad() {
        let id: ImageId = serde_json::from_str("\"ami-12345678\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"ami-12345678\"");
        assert!(serde_json::from_str::<ImageId>("\"ami-bad\"").is_err());
    }
}
