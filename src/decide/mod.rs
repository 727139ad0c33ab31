//! What decides, and nothing else: plain data in, plain data out — no clock, no socket, no
//! file, no async. `verdict` says whether a step passed and why not; `search` picks the next
//! rate; `recommend` turns MAX_RPS into `invocations_target`, instance counts and a scaling
//! policy (`concurrency` does the same from C_max for streams); `autoscale` simulates target tracking over a traffic ramp for the minimum instance
//! count. Each is tested with tables of cases.

pub mod autoscale;
pub mod concurrency;
pub mod concurrency_sizing;
pub mod recommend;
pub mod search;
pub mod verdict;
