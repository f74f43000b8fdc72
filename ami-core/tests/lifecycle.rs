//! The image and instance state machines, over every (state, event) pair.

use ami_core::lifecycle::{
    create_image_accepts, create_image_effect, image_transition, instance_transition,
    CreateImageEffect, ImageEvent, InstanceEvent,
};
use ami_core::{ImageId, ImageState, InstanceId, InstanceState};

fn ami() -> ImageId {
    "ami-0123456789abcdef0".parse().unwrap()
}
fn inst() -> InstanceId {
    "i-0123456789abcdef0".parse().unwrap()
}

/// Every image state, with the outcome of each event in `ImageEvent::ALL` order:
/// CreationSucceeded, CreationFailed, Disable, Enable, Deregister, RestoreFromRecycleBin.
/// `None` is a refusal with `InvalidAMIID.Unavailable`.
#[test]
fn image_transitions_every_pair() {
    use ImageState::*;
    let x: Option<ImageState> = None;
    let table: [(ImageState, [Option<ImageState>; 6]); 8] = [
        (
            Pending,
            [Some(Available), Some(Failed), x, x, Some(Deregistered), x],
        ),
        (Available, [x, x, Some(Disabled), x, Some(Deregistered), x]),
        (Failed, [x, x, x, x, Some(Deregistered), x]),
        (Deregistered, [x, x, x, x, x, Some(Available)]),
        (Disabled, [x, x, x, Some(Available), Some(Deregistered), x]),
        (Invalid, [x, x, x, x, Some(Deregistered), x]),
        (Transient, [x, x, x, x, Some(Deregistered), x]),
        (Error, [x, x, x, x, Some(Deregistered), x]),
    ];
    assert_eq!(
        table.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        ImageState::ALL.to_vec(),
        "the table covers every state"
    );
    for (state, outcomes) in table {
        for (event, expected) in ImageEvent::ALL.into_iter().zip(outcomes) {
            let got = image_transition(&ami(), state, event);
            match expected {
                Some(next) => assert_eq!(got.unwrap(), next, "{state} + {event}"),
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(e.code(), "InvalidAMIID.Unavailable", "{state} + {event}");
                    assert!(
                        e.message().contains("ami-0123456789abcdef0"),
                        "{}",
                        e.message()
                    );
                }
            }
        }
    }
}

#[test]
fn image_refusals_say_what_to_do() {
    let e = image_transition(&ami(), ImageState::Disabled, ImageEvent::Disable).unwrap_err();
    assert!(e.message().contains("already disabled"), "{}", e.message());
    let e = image_transition(&ami(), ImageState::Deregistered, ImageEvent::Deregister).unwrap_err();
    assert!(
        e.message()
            .starts_with("The image id '[ami-0123456789abcdef0]' is no longer available"),
        "{}",
        e.message()
    );
    let e = image_transition(&ami(), ImageState::Pending, ImageEvent::Disable).unwrap_err();
    assert!(
        e.message().contains("wait until it is available"),
        "{}",
        e.message()
    );
}

/// Every instance state, with the outcome of each event in `InstanceEvent::ALL` order:
/// Start, Stop, Reboot, Terminate, BootCompleted, StopCompleted, TerminateCompleted.
/// `None` is a refusal with `IncorrectInstanceState`.
#[test]
fn instance_transitions_every_pair() {
    use InstanceState::*;
    let x: Option<InstanceState> = None;
    let table: [(InstanceState, [Option<InstanceState>; 7]); 6] = [
        (
            Pending,
            [Some(Pending), x, x, Some(ShuttingDown), Some(Running), x, x],
        ),
        (
            Running,
            [
                Some(Running),
                Some(Stopping),
                Some(Running),
                Some(ShuttingDown),
                x,
                x,
                x,
            ],
        ),
        (
            Stopping,
            [
                x,
                Some(Stopping),
                x,
                Some(ShuttingDown),
                x,
                Some(Stopped),
                x,
            ],
        ),
        (
            Stopped,
            [Some(Pending), Some(Stopped), x, Some(ShuttingDown), x, x, x],
        ),
        (
            ShuttingDown,
            [x, x, x, Some(ShuttingDown), x, x, Some(Terminated)],
        ),
        (Terminated, [x, x, x, Some(Terminated), x, x, x]),
    ];
    assert_eq!(
        table.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        InstanceState::ALL.to_vec(),
        "the table covers every state"
    );
    for (state, outcomes) in table {
        for (event, expected) in InstanceEvent::ALL.into_iter().zip(outcomes) {
            let got = instance_transition(&inst(), state, event);
            match expected {
                Some(next) => assert_eq!(got.unwrap(), next, "{state} + {event}"),
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(e.code(), "IncorrectInstanceState", "{state} + {event}");
                    assert!(
                        e.message().contains("i-0123456789abcdef0"),
                        "{}",
                        e.message()
                    );
                }
            }
        }
    }
}

#[test]
fn create_image_accepts_running_stopping_stopped_only() {
    for state in InstanceState::ALL {
        let got = create_image_accepts(&inst(), state);
        match state {
            InstanceState::Running | InstanceState::Stopping | InstanceState::Stopped => {
                assert_eq!(got, Ok(()), "{state}")
            }
            _ => {
                let e = got.unwrap_err();
                assert_eq!(e.code(), "InvalidParameterValue", "{state}");
                assert!(
                    e.message().starts_with(
                        "Invalid value 'i-0123456789abcdef0' for instanceId. Instance is not in state 'running' or 'stopping' or 'stopped'"
                    ),
                    "{}",
                    e.message()
                );
            }
        }
    }
}

/// CreateImage over every (state, NoReboot) pair: a running instance reboots unless told not
/// to; a stopped or stopping one is not touched; other states are refused.
#[test]
fn create_image_effect_every_pair() {
    use CreateImageEffect as E;
    use InstanceState::*;
    let table = [
        (Pending, false, None),
        (Pending, true, None),
        (Running, false, Some(E::Reboot)),
        (Running, true, Some(E::NoReboot)),
        (Stopping, false, Some(E::Stopped)),
        (Stopping, true, Some(E::Stopped)),
        (InstanceState::Stopped, false, Some(E::Stopped)),
        (InstanceState::Stopped, true, Some(E::Stopped)),
        (ShuttingDown, false, None),
        (ShuttingDown, true, None),
        (Terminated, false, None),
        (Terminated, true, None),
    ];
    assert_eq!(table.len(), InstanceState::ALL.len() * 2);
    for (state, no_reboot, expected) in table {
        let got = create_image_effect(&inst(), state, no_reboot);
        match expected {
            Some(effect) => assert_eq!(got.unwrap(), effect, "{state} no_reboot={no_reboot}"),
            None => assert_eq!(got.unwrap_err().code(), "InvalidParameterValue"),
        }
    }
}

#[test]
fn reboot_passes_through_stop_and_start_and_flushes() {
    use CreateImageEffect::{NoReboot, Reboot};
    assert!(Reboot.reboots());
    assert!(Reboot.flushes_buffered_writes());
    assert!(!NoReboot.flushes_buffered_writes());
    assert!(CreateImageEffect::Stopped.flushes_buffered_writes());
    assert_eq!(
        Reboot.instance_states(),
        &[
            InstanceState::Stopping,
            InstanceState::Stopped,
            InstanceState::Pending,
            InstanceState::Running
        ]
    );
    assert!(NoReboot.instance_states().is_empty());
    // The reboot's states are a legal walk of the instance machine back to running.
    let mut state = InstanceState::Running;
    for (event, expect) in [
        (InstanceEvent::Stop, InstanceState::Stopping),
        (InstanceEvent::StopCompleted, InstanceState::Stopped),
        (InstanceEvent::Start, InstanceState::Pending),
        (InstanceEvent::BootCompleted, InstanceState::Running),
    ] {
        state = instance_transition(&inst(), state, event).unwrap();
        assert_eq!(state, expect);
    }
    assert_eq!(Reboot.instance_states().last(), Some(&state));
}
