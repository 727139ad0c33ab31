//! Control-plane calls to AWS, kept out of the pure core: registering the auto-scaling settings
//! a report recommends.

pub mod autoscaling;
