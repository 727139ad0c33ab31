//! Orchestration: the pieces below put together over time. `campaign` is the loop (search →
//! step → verdict → journal → recommend → report); `caps` holds the safety caps; `resume`
//! continues an unfinished campaign from its folder; `managed` runs the loop once per instance
//! type on endpoints it deploys and always tears down.

pub mod campaign;
pub mod caps;
pub mod distributed;
pub mod managed;
pub mod resume;
pub mod step;
