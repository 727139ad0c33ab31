//! Which error class a transport failure belongs to, read from the error's cause chain. Shared
//! by the HTTP/1.1 client and the SDK path, so a refused connection is
//! `connect` and a stalled one `timeout` whichever client saw it.

use crate::measure::stats::ErrorClass;

/// Walks an error's sources for a hyper or I/O cause that says what happened on the wire.
pub fn source_chain(e: &(dyn std::error::Error + 'static)) -> ErrorClass {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return ErrorClass::Timeout;
            }
            if h.is_parse() {
                return ErrorClass::Other;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return ErrorClass::Connect;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                TimedOut => ErrorClass::Timeout,
                ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe
                | UnexpectedEof | NotConnected | AddrNotAvailable => ErrorClass::Connect,
                _ => ErrorClass::Other,
            };
        }
        cur = err.source();
    }
    ErrorClass::Other
}
