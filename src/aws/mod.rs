//! AWS's control plane, kept out of the pure core and out of the measuring path: the
//! recommendation as Application Auto Scaling requests and policy files (`policy`), registering
//! them on an endpoint (`autoscaling`, the `apply` command), and creating and deleting the
//! endpoints of a managed campaign (`deploy`).

pub mod autoscaling;
pub mod deploy;
pub mod policy;
