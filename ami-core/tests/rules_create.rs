//! CreateImage rules: instance ownership and state, name, duplicates, the reboot, lineage.

mod rules_fixtures;

use ami_core::api::CreateImageRequest;
use ami_core::lifecycle::CreateImageEffect;
use ami_core::model::ProductCodeType;
use ami_core::rules::{check_create_image, create_lineage};
use ami_core::{AccountId, Instance, InstanceId, InstanceState, ProductCode, Timestamp};
use rules_fixtures::*;

fn instance(state: InstanceState) -> Instance {
    Instance {
        id: InstanceId::from_u128(7),
        region: region(),
        owner: owner(),
        image_id: image_id(1),
        instance_type: "t3.micro".into(),
        state,
        state_reason: None,
        launch_time: Timestamp::EPOCH,
        volumes: vec![],
        product_codes: Vec::new(),
        tags: Default::default(),
    }
}

#[test]
fn check_create_image_table() {
    let mut taken = image(9);
    taken.name = "taken".into();
    let images = [taken];
    let req = |name: &str| CreateImageRequest::new(InstanceId::from_u128(7), name);
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        AccountId,
        InstanceState,
        CreateImageRequest,
        Result<CreateImageEffect, &str>,
    )> = vec![
        (
            "running, with reboot",
            owner(),
            InstanceState::Running,
            req("golden"),
            Ok(CreateImageEffect::Reboot),
        ),
        (
            "running, no reboot",
            owner(),
            InstanceState::Running,
            req("golden").no_reboot(true),
            Ok(CreateImageEffect::NoReboot),
        ),
        (
            "stopped",
            owner(),
            InstanceState::Stopped,
            req("golden"),
            Ok(CreateImageEffect::Stopped),
        ),
        (
            "stopping",
            owner(),
            InstanceState::Stopping,
            req("golden"),
            Ok(CreateImageEffect::Stopped),
        ),
        (
            "another account's instance",
            member(),
            InstanceState::Running,
            req("golden"),
            Err("InvalidInstanceID.NotFound"),
        ),
        (
            "bad name",
            owner(),
            InstanceState::Running,
            req("go"),
            Err("InvalidAMIName.Malformed"),
        ),
        (
            "long description",
            owner(),
            InstanceState::Running,
            req("golden").description("d".repeat(256)),
            Err("InvalidParameterValue"),
        ),
        (
            "pending instance",
            owner(),
            InstanceState::Pending,
            req("golden"),
            Err("InvalidParameterValue"),
        ),
        (
            "terminated instance",
            owner(),
            InstanceState::Terminated,
            req("golden"),
            Err("InvalidParameterValue"),
        ),
        (
            "name in use",
            owner(),
            InstanceState::Running,
            req("taken"),
            Err("InvalidAMIName.Duplicate"),
        ),
    ];
    for (name, caller, state, r, expect) in table {
        match (
            expect,
            check_create_image(&caller, &instance(state), &r, &images),
        ) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{name}"),
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn created_images_record_their_source_and_keep_marketplace_codes() {
    let mut parent = image(1);
    parent.product_codes.push(ProductCode {
        id: "mp".into(),
        kind: ProductCodeType::Marketplace,
    });
    let inst = instance(InstanceState::Running);
    let l = create_lineage(&inst, Some(&parent));
    assert_eq!(l.source_instance_id, inst.id);
    assert_eq!(l.source_image_id, image_id(1));
    assert_eq!(l.source_region, region());
    assert_eq!(l.product_codes, parent.product_codes);
    // Another image's codes are not taken.
    assert!(create_lineage(&inst, Some(&image(2)))
        .product_codes
        .is_empty());
    assert!(create_lineage(&inst, None).product_codes.is_empty());
}
