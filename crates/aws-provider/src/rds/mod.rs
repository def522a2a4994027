//! RDS: DB instances, subnet groups and parameter groups (`rds.aws.upbound.io/v1beta1`).

pub mod instance;
pub mod parameter_group;
pub mod subnet_group;
pub mod tags;

/// The API group of RDS resources.
pub const GROUP: &str = "rds.aws.upbound.io";
