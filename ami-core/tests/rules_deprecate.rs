//! Deprecation rules: time limits, rounding, public images, owner only.

mod rules_fixtures;

use std::time::Duration;

use ami_core::rules::{
    check_disable_deprecation, deprecation_time, deprecation_when_public, MAX_DEPRECATION_AHEAD,
    PUBLIC_DEPRECATION_AFTER_CREATION,
};
use ami_core::{AccountId, Image, ImageState, Timestamp};
use rules_fixtures::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn public() -> Image {
    let mut i = image(1);
    i.public = true;
    i
}

#[test]
fn deprecation_time_table() {
    let n = now();
    let created = image(1).creation_time;
    let public_limit = created.add(PUBLIC_DEPRECATION_AFTER_CREATION);
    let mut gone = image(1);
    gone.state = ImageState::Deregistered;
    #[allow(clippy::type_complexity)]
    let table: Vec<(&str, AccountId, Image, Timestamp, Result<Timestamp, &str>)> = vec![
        ("tomorrow", owner(), image(1), n.add(DAY), Ok(n.add(DAY))),
        ("now", owner(), image(1), n, Ok(n)),
        (
            "rounded to the nearest minute",
            owner(),
            image(1),
            n.add(Duration::from_secs(89)),
            Ok(n.add(Duration::from_secs(60))),
        ),
        (
            "exactly 10 years ahead",
            owner(),
            image(1),
            n.add(MAX_DEPRECATION_AHEAD),
            Ok(n.add(MAX_DEPRECATION_AHEAD)),
        ),
        (
            "in the past",
            owner(),
            image(1),
            n.sub(DAY),
            Err("InvalidParameterValue"),
        ),
        (
            "more than 10 years ahead",
            owner(),
            image(1),
            n.add(MAX_DEPRECATION_AHEAD + DAY),
            Err("InvalidParameterValue"),
        ),
        (
            "public, within 2 years of creation",
            owner(),
            public(),
            public_limit,
            Ok(public_limit),
        ),
        (
            "public, beyond 2 years of creation",
            owner(),
            public(),
            public_limit.add(DAY),
            Err("InvalidParameterValue"),
        ),
        (
            "private, beyond 2 years of creation",
            owner(),
            image(1),
            public_limit.add(DAY),
            Ok(public_limit.add(DAY)),
        ),
        (
            "not the owner",
            member(),
            image(1),
            n.add(DAY),
            Err("AuthFailure"),
        ),
        (
            "deregistered",
            owner(),
            gone,
            n.add(DAY),
            Err("InvalidAMIID.Unavailable"),
        ),
    ];
    for (name, caller, image, at, expect) in table {
        match (expect, deprecation_time(&caller, &image, at, n)) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{name}"),
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn cancelling_deprecation() {
    assert_eq!(check_disable_deprecation(&owner(), &image(1)), Ok(()));
    assert_eq!(
        check_disable_deprecation(&owner(), &public())
            .unwrap_err()
            .code(),
        "OperationNotPermitted"
    );
    assert_eq!(
        check_disable_deprecation(&member(), &image(1))
            .unwrap_err()
            .code(),
        "AuthFailure"
    );
}

#[test]
fn public_images_get_a_deprecation_at_most_two_years_after_creation() {
    let mut i = image(1);
    let limit = i.creation_time.add(PUBLIC_DEPRECATION_AFTER_CREATION);
    assert_eq!(deprecation_when_public(&i), limit);
    i.deprecation_time = Some(i.creation_time.add(DAY));
    assert_eq!(deprecation_when_public(&i), i.creation_time.add(DAY));
    i.deprecation_time = Some(limit.add(DAY));
    assert_eq!(deprecation_when_public(&i), limit);
}
