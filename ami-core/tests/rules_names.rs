//! Name rules: the characters and lengths of image names, descriptions, and one name per
//! account and Region.

mod rules_fixtures;

use ami_core::rules::{check_name_available, validate_description, validate_image_name};
use ami_core::ImageState;
use rules_fixtures::*;

#[test]
fn image_name_table() {
    let table: Vec<(String, Result<(), &str>)> = vec![
        ("abc".into(), Ok(())),
        (
            "golden-2026.11.27_build(42) [x86] /base 'it'@home".into(),
            Ok(()),
        ),
        // AWS writes the class as [A-Za-z0-9 ()[]./\-'@_]: the backslash escapes the dash and
        // is not allowed itself.
        ("golden\\base".into(), Err("InvalidAMIName.Malformed")),
        ("a-b".into(), Ok(())),
        ("a".repeat(128), Ok(())),
        ("ab".into(), Err("InvalidAMIName.Malformed")),
        ("".into(), Err("InvalidAMIName.Malformed")),
        ("a".repeat(129), Err("InvalidAMIName.Malformed")),
        ("golden*".into(), Err("InvalidAMIName.Malformed")),
        ("golden:1".into(), Err("InvalidAMIName.Malformed")),
        ("gölden".into(), Err("InvalidAMIName.Malformed")),
        ("tab\there".into(), Err("InvalidAMIName.Malformed")),
    ];
    for (name, expect) in table {
        match (expect, validate_image_name(&name)) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => {
                assert_eq!(e.code(), code, "{name:?}");
                assert!(e.message().contains("3 to 128"), "{}", e.message());
            }
            (want, got) => panic!("{name:?}: expected {want:?}, got {got:?}"),
        }
    }
    let e = validate_image_name("golden*").unwrap_err();
    assert!(e.message().contains("'*'"), "{}", e.message());
    let e = validate_image_name("golden\\base").unwrap_err();
    assert!(e.message().contains("'\\\\'"), "{}", e.message());
}

#[test]
fn description_length() {
    assert_eq!(validate_description(&"d".repeat(255)), Ok(()));
    assert_eq!(
        validate_description(&"d".repeat(256)).unwrap_err().code(),
        "InvalidParameterValue"
    );
}

#[test]
fn duplicate_names_table() {
    let mut taken = image(1);
    taken.name = "golden".into();
    let mut other_owner = image(2);
    other_owner.name = "shared".into();
    other_owner.owner = member();
    let mut other_region = image(3);
    other_region.name = "regional".into();
    other_region.region = rules_fixtures::other_region();
    let mut gone = image(4);
    gone.name = "gone".into();
    gone.state = ImageState::Deregistered;
    let images = [taken.clone(), other_owner, other_region, gone];
    let table = [
        ("golden", Err("InvalidAMIName.Duplicate")),
        ("fresh", Ok(())),
        ("shared", Ok(())),
        ("regional", Ok(())),
        ("gone", Ok(())),
    ];
    for (name, expect) in table {
        match (
            expect,
            check_name_available(name, &owner(), &region(), &images),
        ) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    let e = check_name_available("golden", &owner(), &region(), &images).unwrap_err();
    assert!(e.message().starts_with(&format!(
        "AMI name golden is already in use by AMI {}",
        taken.id
    )));
}
