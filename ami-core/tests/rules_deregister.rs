//! Deregistration rules: owner only, protection and its cooldown, which snapshots are deleted;
//! DisableImage and EnableImage.

mod rules_fixtures;

use std::time::Duration;

use ami_core::model::DeleteSnapshotOutcome as Outcome;
use ami_core::rules::{
    check_deregister, check_disable_image, check_enable_image, deregister_snapshot_plan,
    protection_after_disable, protection_after_enable, PROTECTION_COOLDOWN,
};
use ami_core::{AccountId, DeregistrationProtection as Dp, Image, ImageState};
use rules_fixtures::*;

fn with(f: impl FnOnce(&mut Image)) -> Image {
    let mut i = image(1);
    f(&mut i);
    i
}

#[test]
fn check_deregister_table() {
    let later = now().add(Duration::from_secs(3600));
    let earlier = now().sub(Duration::from_secs(1));
    #[allow(clippy::type_complexity)]
    let table: Vec<(&str, AccountId, Image, Result<(), &str>)> = vec![
        ("owner, unprotected", owner(), image(1), Ok(())),
        (
            "pending copy can be stopped",
            owner(),
            with(|i| i.state = ImageState::Pending),
            Ok(()),
        ),
        (
            "failed image",
            owner(),
            with(|i| i.state = ImageState::Failed),
            Ok(()),
        ),
        (
            "disabled image",
            owner(),
            with(|i| i.state = ImageState::Disabled),
            Ok(()),
        ),
        (
            "cooldown over",
            owner(),
            with(|i| i.deregistration_protection = Dp::DisabledAfter(earlier)),
            Ok(()),
        ),
        (
            "cooldown ends exactly now",
            owner(),
            with(|i| i.deregistration_protection = Dp::DisabledAfter(now())),
            Ok(()),
        ),
        ("not the owner", member(), image(1), Err("AuthFailure")),
        (
            "already deregistered",
            owner(),
            with(|i| i.state = ImageState::Deregistered),
            Err("InvalidAMIID.Unavailable"),
        ),
        (
            "protected",
            owner(),
            with(|i| i.deregistration_protection = Dp::Enabled),
            Err("OperationNotPermitted"),
        ),
        (
            "protected with cooldown",
            owner(),
            with(|i| i.deregistration_protection = Dp::EnabledWithCooldown),
            Err("OperationNotPermitted"),
        ),
        (
            "cooldown running",
            owner(),
            with(|i| i.deregistration_protection = Dp::DisabledAfter(later)),
            Err("OperationNotPermitted"),
        ),
    ];
    for (name, caller, image, expect) in table {
        match (expect, check_deregister(&caller, &image, now())) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    let e = check_deregister(
        &owner(),
        &with(|i| i.deregistration_protection = Dp::DisabledAfter(later)),
        now(),
    )
    .unwrap_err();
    assert!(e.message().contains(&later.to_string()), "{}", e.message());
}

#[test]
fn protection_transitions() {
    assert_eq!(protection_after_enable(false), Dp::Enabled);
    assert_eq!(protection_after_enable(true), Dp::EnabledWithCooldown);
    let until = now().add(PROTECTION_COOLDOWN);
    let table = [
        (Dp::Disabled, Dp::Disabled),
        (Dp::Enabled, Dp::Disabled),
        (Dp::EnabledWithCooldown, Dp::DisabledAfter(until)),
        (Dp::DisabledAfter(until), Dp::DisabledAfter(until)),
        (
            Dp::DisabledAfter(now().sub(Duration::from_secs(1))),
            Dp::Disabled,
        ),
    ];
    for (before, after) in table {
        assert_eq!(protection_after_disable(before, now()), after, "{before:?}");
    }
    // Disabling with cooldown keeps the image protected for exactly 24 hours.
    let p = protection_after_disable(Dp::EnabledWithCooldown, now());
    assert!(p.protects_at(now().add(PROTECTION_COOLDOWN - Duration::from_secs(1))));
    assert!(!p.protects_at(now().add(PROTECTION_COOLDOWN)));
}

#[test]
fn snapshot_plan() {
    let mut img = image(1);
    img.block_devices.push(block_device(2, None));
    img.block_devices.push(block_device(3, None));
    let mut shares_2 = image(20);
    shares_2.block_devices = vec![block_device(2, None)];
    let mut gone_shares_3 = image(30);
    gone_shares_3.block_devices = vec![block_device(3, None)];
    gone_shares_3.state = ImageState::Deregistered;
    let images = [img.clone(), shares_2, gone_shares_3];

    assert!(deregister_snapshot_plan(&img, false, &images, |_| None).is_empty());
    let plan = deregister_snapshot_plan(&img, true, &images, |_| Some(owner()));
    let got: Vec<_> = plan
        .iter()
        .map(|r| (r.snapshot_id.clone(), r.outcome))
        .collect();
    assert_eq!(
        got,
        vec![
            (snapshot_id(1), Outcome::Success),
            (snapshot_id(2), Outcome::Skipped),
            (snapshot_id(3), Outcome::Success),
        ]
    );
    let plan = deregister_snapshot_plan(&img, true, &images, |s| {
        (s == &snapshot_id(3)).then(stranger)
    });
    assert_eq!(plan[2].outcome, Outcome::MissingPermissions);
}

#[test]
fn disable_and_enable_table() {
    let disabled = with(|i| i.state = ImageState::Disabled);
    let pending = with(|i| i.state = ImageState::Pending);
    assert_eq!(
        check_disable_image(&owner(), &image(1)).unwrap(),
        ImageState::Disabled
    );
    assert_eq!(
        check_enable_image(&owner(), &disabled).unwrap(),
        ImageState::Available
    );
    let refusals = [
        (
            "disable, not owner",
            check_disable_image(&member(), &image(1)),
            "AuthFailure",
        ),
        (
            "enable, not owner",
            check_enable_image(&member(), &disabled),
            "AuthFailure",
        ),
        (
            "disable twice",
            check_disable_image(&owner(), &disabled),
            "InvalidAMIID.Unavailable",
        ),
        (
            "enable an available image",
            check_enable_image(&owner(), &image(1)),
            "InvalidAMIID.Unavailable",
        ),
        (
            "disable a pending image",
            check_disable_image(&owner(), &pending),
            "InvalidAMIID.Unavailable",
        ),
    ];
    for (name, got, code) in refusals {
        assert_eq!(got.unwrap_err().code(), code, "{name}");
    }
}
