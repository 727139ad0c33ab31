//! Per-step statistics of streamed answers: TTFT, ITL, inter-chunk gaps, end-to-end time,
//! tokens and goodput, kept in HDR histograms per recorder shard like `latency_ms`.
//!
//! Every figure is defined by its formula (docs/streaming.md): TTFT = first content token −
//! intended send time; end-to-end = last token − intended send time; ITL (per request) = (last
//! token − first token) ÷ (output tokens − 1); gap = each interval between consecutive content
//! chunks. They are taken over successful requests; output tokens/s and goodput count only
//! successful requests, goodput only those that met every per-request limit.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::Requirements;
use crate::measure::stream::{StreamTally, TokenSource};
use crate::num::round3;

/// What a streamed request came to, as the client saw it: its reads' tally and when the client
/// sent it (the tally's offsets count from there).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub sent: std::time::Instant,
    pub tally: StreamTally,
}

/// The per-request limits a request must meet to count towards goodput.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamLimits {
    pub ttft_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub min_output_tokens_per_s: Option<f64>,
}

impl StreamLimits {
    pub fn from_requirements(r: &Requirements) -> StreamLimits {
        StreamLimits {
            ttft_ms: r.ttft_p99_ms,
            itl_ms: r.itl_p99_ms,
            e2e_ms: r.e2e_p99_ms,
            min_output_tokens_per_s: r.min_output_tokens_per_s,
        }
    }
}

/// One request's stream figures, from the intended send time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamSample {
    pub ttft: Duration,
    pub e2e: Duration,
    pub itl: Option<Duration>,
    pub output_tokens: u64,
    pub source: TokenSource,
    pub input_tokens: Option<u64>,
}

impl StreamSample {
    /// `shift` moves the tally's offsets (from the client's send) to offsets from the intended
    /// send time; a request without a content token has no sample.
    pub fn of(tally: &StreamTally, shift: impl Fn(Duration) -> Duration) -> Option<StreamSample> {
        let (output_tokens, source) = tally.output_tokens();
        Some(StreamSample {
            ttft: shift(tally.first_token?),
            e2e: shift(tally.last_token?),
            itl: tally.itl(),
            output_tokens,
            source,
            input_tokens: tally.usage_input,
        })
    }

    /// Output tokens ÷ end-to-end seconds.
    pub fn tokens_per_s(&self) -> f64 {
        let s = self.e2e.as_secs_f64();
        if s > 0.0 {
            self.output_tokens as f64 / s
        } else {
            0.0
        }
    }

    fn meets(&self, l: &StreamLimits) -> bool {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        l.ttft_ms.is_none_or(|m| ms(self.ttft) <= m)
            && l.e2e_ms.is_none_or(|m| ms(self.e2e) <= m)
            && l.itl_ms.is_none_or(|m| self.itl.is_none_or(|i| ms(i) <= m))
            && l.min_output_tokens_per_s
                .is_none_or(|m| self.tokens_per_s() >= m)
    }
}

/// Microsecond HDR histogram, 1 µs to 2 hours at 3 significant digits (as `latency_ms`'s; kept
/// here so that `stats`, which holds these shards, is not imported back).
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 2 * 3600 * 1_000_000, 3)
        .expect("static histogram bounds are valid")
}

/// One recorder shard's stream histograms (microseconds; tokens/s in thousandths).
#[derive(Debug, Clone)]
pub struct StreamShard {
    pub ttft: Histogram<u64>,
    pub itl: Histogram<u64>,
    pub gap: Histogram<u64>,
    pub e2e: Histogram<u64>,
    pub tokens_per_s_milli: Histogram<u64>,
    /// Successful streamed requests.
    pub streams: u64,
    pub output_tokens: u64,
    pub input_tokens: u64,
    pub input_reported: u64,
    pub from_usage: u64,
    pub counted: u64,
    /// Successful requests that met every per-request limit.
    pub good: u64,
}

impl Default for StreamShard {
    fn default() -> Self {
        StreamShard {
            ttft: new_histogram(),
            itl: new_histogram(),
            gap: new_histogram(),
            e2e: new_histogram(),
            tokens_per_s_milli: Histogram::new_with_bounds(1, 1_000_000_000, 3)
                .expect("static histogram bounds are valid"),
            streams: 0,
            output_tokens: 0,
            input_tokens: 0,
            input_reported: 0,
            from_usage: 0,
            counted: 0,
            good: 0,
        }
    }
}

impl StreamShard {
    pub fn merge(&mut self, o: &StreamShard) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.ttft.add(&o.ttft);
        let _ = self.itl.add(&o.itl);
        let _ = self.gap.add(&o.gap);
        let _ = self.e2e.add(&o.e2e);
        let _ = self.tokens_per_s_milli.add(&o.tokens_per_s_milli);
        self.streams += o.streams;
        self.output_tokens += o.output_tokens;
        self.input_tokens += o.input_tokens;
        self.input_reported += o.input_reported;
        self.from_usage += o.from_usage;
        self.counted += o.counted;
        self.good += o.good;
    }

    /// Records one successful streamed request.
    pub fn record(&mut self, s: &StreamSample, gaps_us: &[u32], limits: &StreamLimits) {
        let us = |d: Duration| (d.as_micros().min(u128::from(u64::MAX)) as u64).max(1);
        self.ttft.saturating_record(us(s.ttft));
        self.e2e.saturating_record(us(s.e2e));
        if let Some(i) = s.itl {
            self.itl.saturating_record(us(i));
        }
        for g in gaps_us {
            self.gap.saturating_record(u64::from(*g).max(1));
        }
        self.tokens_per_s_milli
            .saturating_record(((s.tokens_per_s() * 1000.0) as u64).max(1));
        self.streams += 1;
        self.output_tokens += s.output_tokens;
        if let Some(n) = s.input_tokens {
            self.input_tokens += n;
            self.input_reported += 1;
        }
        match s.source {
            TokenSource::Usage => self.from_usage += 1,
            TokenSource::Counted => self.counted += 1,
        }
        if s.meets(limits) {
            self.good += 1;
        }
    }
}

/// p50/p90/p99/max of one stream figure, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    fn of(h: &Histogram<u64>, scale: f64) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        let v = |x: u64| round3(x as f64 / scale);
        Quantiles {
            p50: v(h.value_at_quantile(0.5)),
            p90: v(h.value_at_quantile(0.9)),
            p99: v(h.value_at_quantile(0.99)),
            max: v(h.max()),
        }
    }
}

/// A step's stream figures, as `report.json` carries them (`steps[].stream`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStepStats {
    /// The wire format read.
    pub format: String,
    /// Successful streamed requests the figures are taken over.
    pub requests: u64,
    pub ttft_ms: Quantiles,
    /// Per request: (last token − first token) ÷ (output tokens − 1).
    pub itl_ms: Quantiles,
    /// Every gap between consecutive content chunks, over all requests.
    pub gap_ms: Quantiles,
    pub e2e_ms: Quantiles,
    /// Per request: output tokens ÷ end-to-end seconds (p1 is the floor 99 % reached).
    pub output_tokens_per_s_per_request: TokenRateFloor,
    pub output_tokens: u64,
    /// Sum of the input tokens the server reported (none reported: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens of successful requests per second of the measured window.
    pub output_tokens_per_s: f64,
    /// Successful requests per second that met every per-request limit.
    pub goodput_rps: f64,
    /// Where output token counts came from: `usage` (the server's count), `counted` (one per
    /// content chunk) or `mixed`.
    pub token_source: String,
}

/// The low end of per-request output token rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenRateFloor {
    pub p1: f64,
    pub p50: f64,
}

impl StreamStepStats {
    pub fn from_shard(s: &StreamShard, format: &str, window_s: f64) -> StreamStepStats {
        let per_s = |n: u64| {
            if window_s > 0.0 {
                round3(n as f64 / window_s)
            } else {
                0.0
            }
        };
        let rate = |q: f64| {
            if s.tokens_per_s_milli.is_empty() {
                0.0
            } else {
                round3(s.tokens_per_s_milli.value_at_quantile(q) as f64 / 1000.0)
            }
        };
        StreamStepStats {
            format: format.to_string(),
            requests: s.streams,
            ttft_ms: Quantiles::of(&s.ttft, 1000.0),
            itl_ms: Quantiles::of(&s.itl, 1000.0),
            gap_ms: Quantiles::of(&s.gap, 1000.0),
            e2e_ms: Quantiles::of(&s.e2e, 1000.0),
            output_tokens_per_s_per_request: TokenRateFloor {
                p1: rate(0.01),
                p50: rate(0.5),
            },
            output_tokens: s.output_tokens,
            input_tokens: (s.input_reported > 0).then_some(s.input_tokens),
            output_tokens_per_s: per_s(s.output_tokens),
            goodput_rps: per_s(s.good),
            token_source: match (s.from_usage, s.counted) {
                (0, 0) => "none",
                (_, 0) => "usage",
                (0, _) => "counted",
                _ => "mixed",
            }
            .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stream::Piece;

    #[test]
    fn step_figures_follow_their_formulas() {
        let ms = Duration::from_millis;
        let limits = StreamLimits {
            ttft_ms: Some(150.0),
            ..Default::default()
        };
        let mut shard = StreamShard::default();
        for ttft in [100u64, 200] {
            let mut t = StreamTally::default();
            for k in 0..5u64 {
                t.take(ms(ttft + 10 * k), &mut vec![Piece::Tokens(1)]);
            }
            t.take(ms(ttft + 40), &mut vec![Piece::Done]);
            let s = StreamSample::of(&t, |d| d).unwrap();
            shard.record(&s, &t.gaps_us, &limits);
        }
        let st = StreamStepStats::from_shard(&shard, "openai", 2.0);
        assert_eq!(st.requests, 2);
        assert!((st.ttft_ms.p50 - 100.0).abs() < 0.1, "{:?}", st.ttft_ms);
        assert!((st.ttft_ms.max - 200.0).abs() < 0.2, "{:?}", st.ttft_ms);
        assert!((st.itl_ms.p99 - 10.0).abs() < 0.01, "{:?}", st.itl_ms);
        assert!((st.gap_ms.p50 - 10.0).abs() < 0.01, "{:?}", st.gap_ms);
        assert!((st.e2e_ms.max - 240.0).abs() < 0.3, "{:?}", st.e2e_ms);
        assert_eq!(st.output_tokens, 10);
        assert_eq!(st.output_tokens_per_s, 5.0);
        assert_eq!(st.goodput_rps, 0.5, "only the 100 ms TTFT met the limit");
        assert_eq!(st.token_source, "counted");
        assert_eq!(st.input_tokens, None);
    }
}
