//! # ami-sim: a deterministic in-memory AWS for EC2 images, snapshots, instances and KMS
