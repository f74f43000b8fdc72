//! The conformance suite every implementation of the Ec2 and Kms traits must pass.
