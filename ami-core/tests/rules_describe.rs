//! DescribeImages rules: the disabled-state filter, and which images a caller is shown.

mod rules_fixtures;

use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, Filter};
use ami_core::rules::{check_describe_images, image_listed, Membership};
use ami_core::{AccountId, Image, ImageState, LaunchPermission};
use rules_fixtures::*;

fn req() -> DescribeImagesRequest {
    DescribeImagesRequest::default()
}

#[test]
fn disabled_filter_requires_include_disabled() {
    let mut r = req();
    r.filters
        .push(Filter::new("state", ["available", "disabled"]));
    let e = check_describe_images(&r).unwrap_err();
    assert_eq!(e.code(), "InvalidParameter");
    assert!(e.message().starts_with("When filtering by the 'disabled' state, 'IncludeDisabled' must be set to 'true' in the request."));
    r.include_disabled = true;
    assert_eq!(check_describe_images(&r), Ok(()));
    let mut r = req();
    r.filters.push(Filter::new("state", ["available"]));
    assert_eq!(check_describe_images(&r), Ok(()));
}

#[test]
fn image_listed_table() {
    let with = |f: &dyn Fn(&mut Image)| {
        let mut i = image(1);
        f(&mut i);
        i
    };
    let deprecated = with(&|i| i.deprecation_time = Some(now().sub(Duration::from_secs(60))));
    let future_deprecation =
        with(&|i| i.deprecation_time = Some(now().add(Duration::from_secs(60))));
    let disabled = with(&|i| i.state = ImageState::Disabled);
    let gone = with(&|i| i.state = ImageState::Deregistered);
    let mut include_disabled = req();
    include_disabled.include_disabled = true;
    let mut include_deprecated = req();
    include_deprecated.include_deprecated = true;
    let mut by_id = req();
    by_id.image_ids.push(image_id(1));
    let shared = vec![LaunchPermission::Account(member())];
    let m = member_membership();
    let none = Membership::none();
    let plain = image(1);
    let default = req();
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        &Image,
        AccountId,
        &Membership,
        &DescribeImagesRequest,
        bool,
    )> = vec![
        ("own image", &plain, owner(), &none, &default, true),
        ("shared image", &plain, member(), &m, &default, true),
        ("unshared image", &plain, stranger(), &none, &default, false),
        (
            "own deprecated image",
            &deprecated,
            owner(),
            &none,
            &default,
            true,
        ),
        (
            "shared deprecated image",
            &deprecated,
            member(),
            &m,
            &default,
            false,
        ),
        (
            "shared deprecated image, IncludeDeprecated",
            &deprecated,
            member(),
            &m,
            &include_deprecated,
            true,
        ),
        (
            "shared deprecated image, named by id",
            &deprecated,
            member(),
            &m,
            &by_id,
            true,
        ),
        (
            "deprecation in the future",
            &future_deprecation,
            member(),
            &m,
            &default,
            true,
        ),
        (
            "own disabled image",
            &disabled,
            owner(),
            &none,
            &default,
            false,
        ),
        (
            "own disabled image, IncludeDisabled",
            &disabled,
            owner(),
            &none,
            &include_disabled,
            true,
        ),
        (
            "shared disabled image, IncludeDisabled",
            &disabled,
            member(),
            &m,
            &include_disabled,
            false,
        ),
        ("deregistered image", &gone, owner(), &none, &default, false),
    ];
    for (name, image, caller, membership, r, want) in table {
        assert_eq!(
            image_listed(image, &shared, &caller, membership, r, now()),
            want,
            "{name}"
        );
    }
}
