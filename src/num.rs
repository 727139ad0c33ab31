//! Numbers as reports show them: rounded to three decimals (no float noise in JSON) and
//! formatted without a trailing ".0" in messages and pages. Used by every layer above.

/// Rounds to three decimals, so reports do not carry float noise.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Formats a number without a trailing ".0".
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
