//! The image and instance state machines, as pure functions.
//!
//! An image moves `pending → available | failed`, `available ⇄ disabled`, and ends
//! `deregistered`; an instance moves through `pending, running, stopping, stopped,
//! shutting-down, terminated`. [`image_transition`] and [`instance_transition`] answer "what is
//! the next state?" or refuse with the exact AWS error; [`create_image_effect`] says what
//! CreateImage does to the instance it is called on.
//!
//! ```
//! use ami_core::lifecycle::{image_transition, ImageEvent};
//! use ami_core::{ImageId, ImageState};
//!
//! let id: ImageId = "ami-0123456789abcdef0".parse()?;
//! assert_eq!(
//!     image_transition(&id, ImageState::Pending, ImageEvent::CreationSucceeded)?,
//!     ImageState::Available
//! );
//! let refused = image_transition(&id, ImageState::Pending, ImageEvent::Disable).unwrap_err();
//! assert_eq!(refused.code(), "InvalidAMIID.Unavailable");
//! # Ok::<(), ami_core::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};
use crate::id::{ImageId, InstanceId};
use crate::model::{ImageState, InstanceState};

/// Something that happens to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageEvent {
    /// The asynchronous creation (CreateImage, CopyImage, RegisterImage) completed.
    CreationSucceeded,
    /// The asynchronous creation failed (e.g. an unusable KMS key for a copy).
    CreationFailed,
    /// DisableImage.
    Disable,
    /// EnableImage.
    Enable,
    /// DeregisterImage.
    Deregister,
    /// RestoreImageFromRecycleBin, for an image that went to the Recycle Bin on deregistration.
    RestoreFromRecycleBin,
}

impl ImageEvent {
    /// Every event, in declaration order (for exhaustive tests).
    pub const ALL: [ImageEvent; 6] = [
        ImageEvent::CreationSucceeded,
        ImageEvent::CreationFailed,
        ImageEvent::Disable,
        ImageEvent::Enable,
        ImageEvent::Deregister,
        ImageEvent::RestoreFromRecycleBin,
    ];

    /// The AWS operation (or asynchronous completion) the event stands for.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageEvent::CreationSucceeded => "creation succeeded",
            ImageEvent::CreationFailed => "creation failed",
            ImageEvent::Disable => "DisableImage",
            ImageEvent::Enable => "EnableImage",
            ImageEvent::Deregister => "DeregisterImage",
            ImageEvent::RestoreFromRecycleBin => "RestoreImageFromRecycleBin",
        }
    }
}

impl fmt::Display for ImageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state an image reaches when `event` happens in `state`, or the AWS refusal.
///
/// Allowed transitions:
///
/// | from | event | to |
/// |---|---|---|
/// | `pending` | creation succeeded | `available` |
/// | `pending` | creation failed | `failed` |
/// | `available` | DisableImage | `disabled` |
/// | `disabled` | EnableImage | `available` |
/// | `pending`, `available`, `failed`, `disabled`, `invalid`, `transient`, `error` | DeregisterImage | `deregistered` |
/// | `deregistered` | RestoreImageFromRecycleBin | `available` |
///
/// Deregistering a `pending` image is how AWS stops a pending copy; failed and disabled images
/// can be deregistered too. Everything else is refused with `InvalidAMIID.Unavailable`
/// (the code AWS gives for an image "not in a modifiable state"); the message names the image,
/// its state and what to do.
pub fn image_transition(id: &ImageId, state: ImageState, event: ImageEvent) -> Result<ImageState> {
    use ImageEvent as E;
    use ImageState as S;
    let next = match (state, event) {
        (S::Pending, E::CreationSucceeded) => Some(S::Available),
        (S::Pending, E::CreationFailed) => Some(S::Failed),
        (S::Available, E::Disable) => Some(S::Disabled),
        (S::Disabled, E::Enable) => Some(S::Available),
        (S::Deregistered, E::RestoreFromRecycleBin) => Some(S::Available),
        (S::Deregistered, E::Deregister) => None,
        (_, E::Deregister) => Some(S::Deregistered),
        _ => None,
    };
    next.ok_or_else(|| image_refusal(id, state, event))
}

fn image_refusal(id: &ImageId, state: ImageState, event: ImageEvent) -> Error {
    let hint = match (state, event) {
        (ImageState::Deregistered, _) => {
            return Error::from_code(
                "InvalidAMIID.Unavailable",
                format!(
                    "The image id '[{id}]' is no longer available: it is deregistered, so {event} cannot apply to it."
                ),
            )
        }
        (ImageState::Pending, _) => "wait until it is available".to_owned(),
        (ImageState::Disabled, ImageEvent::Disable) => "it is already disabled".to_owned(),
        (ImageState::Available, ImageEvent::Enable) => "it is already enabled".to_owned(),
        (ImageState::Disabled, _) => "enable it first with EnableImage".to_owned(),
        (ImageState::Failed, _) => {
            "a failed image can only be deregistered; create or copy it again".to_owned()
        }
        (_, ImageEvent::CreationSucceeded | ImageEvent::CreationFailed) => {
            "only a pending image completes creation".to_owned()
        }
        (_, ImageEvent::RestoreFromRecycleBin) => {
            "only a deregistered image in the Recycle Bin can be restored".to_owned()
        }
        _ => "only an available image allows this".to_owned(),
    };
    Error::from_code(
        "InvalidAMIID.Unavailable",
        format!(
            "The image id '[{id}]' is in state '{state}', where {event} is not allowed: {hint}."
        ),
    )
}

/// Something that happens to an instance: an API call, or the completion of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceEvent {
    /// StartInstances.
    Start,
    /// StopInstances.
    Stop,
    /// RebootInstances (and the reboot CreateImage performs).
    Reboot,
    /// TerminateInstances.
    Terminate,
    /// The instance finished booting (`pending → running`).
    BootCompleted,
    /// The instance finished stopping (`stopping → stopped`).
    StopCompleted,
    /// The instance finished shutting down (`shutting-down → terminated`).
    TerminateCompleted,
}

impl InstanceEvent {
    /// Every event, in declaration order (for exhaustive tests).
    pub const ALL: [InstanceEvent; 7] = [
        InstanceEvent::Start,
        InstanceEvent::Stop,
        InstanceEvent::Reboot,
        InstanceEvent::Terminate,
        InstanceEvent::BootCompleted,
        InstanceEvent::StopCompleted,
        InstanceEvent::TerminateCompleted,
    ];

    /// The AWS operation (or completion) the event stands for.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceEvent::Start => "StartInstances",
            InstanceEvent::Stop => "StopInstances",
            InstanceEvent::Reboot => "RebootInstances",
            InstanceEvent::Terminate => "TerminateInstances",
            InstanceEvent::BootCompleted => "boot completed",
            InstanceEvent::StopCompleted => "stop completed",
            InstanceEvent::TerminateCompleted => "termination completed",
        }
    }
}

impl fmt::Display for InstanceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state an instance reaches when `event` happens in `state`, or the AWS refusal
/// (`IncorrectInstanceState`, naming the instance, its state and what to do).
///
/// | event | accepted in | result |
/// |---|---|---|
/// | StartInstances | `stopped` → `pending`; `pending`, `running` unchanged | |
/// | StopInstances | `running` → `stopping`; `stopping`, `stopped` unchanged | |
/// | RebootInstances | `running` (stays `running`; the OS restarts) | |
/// | TerminateInstances | `pending`, `running`, `stopping`, `stopped` → `shutting-down`; `shutting-down`, `terminated` unchanged | |
/// | boot completed | `pending` → `running` | |
/// | stop completed | `stopping` → `stopped` | |
/// | termination completed | `shutting-down` → `terminated` | |
///
/// Repeating a call on an instance already on its way (stop a stopped instance, start a running
/// one, terminate a terminated one) succeeds without change, as on AWS.
pub fn instance_transition(
    id: &InstanceId,
    state: InstanceState,
    event: InstanceEvent,
) -> Result<InstanceState> {
    use InstanceEvent as E;
    use InstanceState as S;
    let next = match (event, state) {
        (E::Start, S::Stopped) => Some(S::Pending),
        (E::Start, S::Pending | S::Running) => Some(state),
        (E::Stop, S::Running) => Some(S::Stopping),
        (E::Stop, S::Stopping | S::Stopped) => Some(state),
        (E::Reboot, S::Running) => Some(S::Running),
        (E::Terminate, S::Pending | S::Running | S::Stopping | S::Stopped) => Some(S::ShuttingDown),
        (E::Terminate, S::ShuttingDown | S::Terminated) => Some(state),
        (E::BootCompleted, S::Pending) => Some(S::Running),
        (E::StopCompleted, S::Stopping) => Some(S::Stopped),
        (E::TerminateCompleted, S::ShuttingDown) => Some(S::Terminated),
        _ => None,
    };
    next.ok_or_else(|| {
        let verb = match event {
            E::Start => "started",
            E::Stop => "stopped",
            E::Reboot => "rebooted",
            E::Terminate => "terminated",
            E::BootCompleted => "finish booting",
            E::StopCompleted => "finish stopping",
            E::TerminateCompleted => "finish terminating",
        };
        let hint = match state {
            S::Terminated | S::ShuttingDown => "the instance is terminated or terminating; launch a new one",
            S::Pending => "wait until it is running",
            S::Stopping => "wait until it is stopped",
            S::Stopped => "start it first",
            S::Running => "it is already running",
        };
        let what = match event {
            E::BootCompleted | E::StopCompleted | E::TerminateCompleted => {
                format!("The instance '{id}' is in state '{state}' and cannot {verb}")
            }
            _ => format!(
                "The instance '{id}' is not in a state from which it can be {verb} (it is '{state}')"
            ),
        };
        Error::from_code("IncorrectInstanceState", format!("{what}: {hint}."))
    })
}

/// Whether CreateImage accepts an instance in `state`: `running`, `stopping` or `stopped`.
///
/// Any other state is refused with AWS's `InvalidParameterValue`
/// "Invalid value 'i-…' for instanceId. Instance is not in state 'running' or 'stopping' or
/// 'stopped'", followed by what to do.
pub fn create_image_accepts(id: &InstanceId, state: InstanceState) -> Result<()> {
    match state {
        InstanceState::Running | InstanceState::Stopping | InstanceState::Stopped => Ok(()),
        other => {
            let hint = match other {
                InstanceState::Pending => "wait until it is running",
                _ => "it is terminated or terminating; image a live instance instead",
            };
            Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "Invalid value '{id}' for instanceId. Instance is not in state 'running' or 'stopping' or 'stopped' (it is '{other}': {hint})."
                ),
            ))
        }
    }
}

/// What CreateImage does to the instance it is called on, and how consistent the snapshots are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateImageEffect {
    /// The instance is running and `NoReboot` is false: EC2 shuts it down and boots it again
    /// before taking the snapshots, so buffered writes reach the volumes. The instance passes
    /// through [`REBOOT_STATES`](CreateImageEffect::REBOOT_STATES) and is `running` again after.
    Reboot,
    /// The instance is running and `NoReboot` is true: snapshots are taken live and are
    /// crash-consistent: writes still buffered in the guest are missing.
    NoReboot,
    /// The instance is `stopped` (or `stopping`, and the snapshots are taken once it is
    /// stopped): its volumes are quiescent, nothing is buffered, the instance is not touched.
    Stopped,
}

impl CreateImageEffect {
    /// The states a running instance passes through during a CreateImage reboot, in order; it
    /// ends `running`.
    pub const REBOOT_STATES: [InstanceState; 4] = [
        InstanceState::Stopping,
        InstanceState::Stopped,
        InstanceState::Pending,
        InstanceState::Running,
    ];

    /// Whether writes buffered in the guest are on the snapshots.
    pub fn flushes_buffered_writes(self) -> bool {
        !matches!(self, CreateImageEffect::NoReboot)
    }

    /// The states the instance passes through, in order (empty when it is not touched).
    pub fn instance_states(self) -> &'static [InstanceState] {
        match self {
            CreateImageEffect::Reboot => &Self::REBOOT_STATES,
            CreateImageEffect::NoReboot | CreateImageEffect::Stopped => &[],
        }
    }

    /// Whether the instance is restarted.
    pub fn reboots(self) -> bool {
        matches!(self, CreateImageEffect::Reboot)
    }
}

/// What CreateImage on an instance in `state` does, given its `NoReboot` flag; refused as in
/// [`create_image_accepts`] for the states CreateImage does not accept.
pub fn create_image_effect(
    id: &InstanceId,
    state: InstanceState,
    no_reboot: bool,
) -> Result<CreateImageEffect> {
    create_image_accepts(id, state)?;
    Ok(match state {
        InstanceState::Running if no_reboot => CreateImageEffect::NoReboot,
        InstanceState::Running => CreateImageEffect::Reboot,
        _ => CreateImageEffect::Stopped,
    })
}
