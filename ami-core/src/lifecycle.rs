//! The image and instance state machines, as pure functions.
