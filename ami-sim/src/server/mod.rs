//! `ami-sim-server`: the simulator over AWS's wire protocols (feature `server`).

mod wire;

pub(crate) mod ec2;
