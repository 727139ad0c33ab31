//! Control-plane calls to AWS, kept out of the pure core: registering the auto-scaling settings
//! a report recommends, and the endpoints of a managed campaign.

pub mod autoscaling;
pub mod deploy;
