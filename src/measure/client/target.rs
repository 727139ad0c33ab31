//! The [`Target`] trait every endpoint client implements, and [`ErrorSamples`], the first
//! error message of each class that clients keep for summaries.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::measure::stats::{ErrorClass, Outcome};

/// Something requests can be sent to.
pub trait Target: Send + Sync + 'static {
    /// Sends one request and reports its outcome. Must not panic; every failure is an outcome.
    fn invoke(&self, body: Bytes) -> impl Future<Output = Outcome> + Send;

    /// Names for the variant indices that outcomes carry, in index order.
    fn variant_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The first error message seen per class, for summaries that say why requests failed.
    fn error_samples(&self) -> Vec<(ErrorClass, String)> {
        Vec::new()
    }
}

/// Characters kept of each error message.
const SAMPLE_CHARS: usize = 300;

/// Keeps the first error message of each class. After a class has its message, recording
/// another error of that class costs one atomic load.
#[derive(Default)]
pub struct ErrorSamples {
    seen: [AtomicBool; ErrorClass::ALL.len()],
    messages: Mutex<Vec<(ErrorClass, String)>>,
}

impl ErrorSamples {
    /// Keeps `message()` if no error of `class` was kept yet; `message` runs at most once per class.
    pub fn offer(&self, class: ErrorClass, message: impl FnOnce() -> String) {
        let seen = &self.seen[class.index()];
        if seen.load(Ordering::Relaxed) || seen.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut m = message();
        // A container's error message can be a whole page; the summary needs its start.
        if let Some((cut, _)) = m.char_indices().nth(SAMPLE_CHARS) {
            m.truncate(cut);
            m.push('…');
        }
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((class, m));
    }

    /// The kept messages in class order.
    pub fn get(&self) -> Vec<(ErrorClass, String)> {
        let mut v = self
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        v.sort_by_key(|(c, _)| *c);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_samples_keep_the_first_message_of_each_class_shortened() {
        let s = ErrorSamples::default();
        s.offer(ErrorClass::Timeout, || "first timeout".into());
        s.offer(ErrorClass::Timeout, || {
            panic!("a second message is never built")
        });
        s.offer(ErrorClass::Throttled, || "é".repeat(1000));
        let got = s.get();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, ErrorClass::Throttled);
        assert_eq!(got[0].1.chars().count(), SAMPLE_CHARS + 1);
        assert_eq!(got[1], (ErrorClass::Timeout, "first timeout".to_string()));
    }
}
