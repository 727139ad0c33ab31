//! Argument parsers shared by the commands (durations such as `30s`, `500ms`, `2m`; a
//! `--prices` table).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::prices::PriceTable;

/// Reads a `--prices` table when one was given.
pub(crate) fn load_prices(path: Option<&std::path::Path>) -> Result<Option<PriceTable>> {
    path.map(PriceTable::load).transpose()
}

pub(crate) fn duration_arg(s: &str) -> Result<Duration> {
    parse_duration(s)
}

pub(crate) fn warmup_arg(s: &str) -> Result<Duration> {
    if s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// Parses a duration such as `30s`, `500ms`, `2m`, `1h` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num.trim().parse().map_err(|_| {
        Error::input(format!(
            "{s:?} is not a duration; write for example 30s, 500ms or 2m"
        ))
    })?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(Error::input(format!(
                "{s:?} has an unknown unit {unit:?}; use ms, s, m or h"
            )));
        }
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 7.0 * 24.0 * 3600.0 {
        return Err(Error::input(format!(
            "{s:?} must be a positive duration of at most a week"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "abc", "10x", "-3s", "0s"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }
}
