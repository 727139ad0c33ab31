//! One shard's step result as it travels between processes (`rightsize shard` prints it as one
//! JSON line), and the exact merge of several into one step.
//!
//! Histograms travel whole, in HdrHistogram's V2 + deflate encoding (base64), so the merge adds
//! them bucket for bucket: the merged p99 is the p99 of every request of every shard, never an
//! average of the shards' p99s. Counters are summed.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::config::StreamFormat;
use crate::measure::stats::{
    Abort, CLASSES, ErrorClass, MAX_STATUS, Served, Shard, ShardSummary, StepMeasurement,
};
use crate::measure::stream_stats::StreamShard;

/// The `format` of a shard result line.
pub const FORMAT: &str = "rightsize-shard/1";

/// Why shard results cannot be read or merged.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct WireError(pub String);

/// What one shard measured in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardResult {
    /// Always [`FORMAT`].
    pub format: String,
    /// This shard's index, from 0, and how many shards the step has.
    pub shard: u32,
    pub shards: u32,
    /// The whole step's offered rate (a concurrency step: 0).
    pub step_rate: f64,
    /// This shard's share of the offered rate.
    pub offered_rps: f64,
    /// A concurrency step: the requests this shard kept in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// The common start instant (RFC 3339) and how late after it this shard started.
    pub start_at: String,
    pub start_late_ms: f64,
    pub window_s: f64,
    pub warmup_s: f64,
    pub sent: u64,
    pub unsent: u64,
    pub peak_in_flight: u64,
    pub max_concurrency: u64,
    pub served_rps: f64,
    pub served_steady: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<WireAbort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_format: Option<String>,
    pub requests: u64,
    pub clamped: u64,
    pub errors_by_class: BTreeMap<String, u64>,
    #[serde(default)]
    pub status_counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub original_status_counts: BTreeMap<String, u64>,
    #[serde(default)]
    pub variants: BTreeMap<String, u64>,
    /// Microsecond histograms, V2 + deflate, base64.
    pub latency_us: String,
    pub service_us: String,
    pub send_lag_us: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<WireStream>,
}

/// A shard's abort for errors (`[load] abort_error_percent`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireAbort {
    pub error_percent: f64,
    pub over_s: f64,
    pub at_s: f64,
}

/// A shard's stream histograms and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireStream {
    pub ttft_us: String,
    pub itl_us: String,
    pub gap_us: String,
    pub e2e_us: String,
    pub tokens_per_s_milli: String,
    pub streams: u64,
    pub output_tokens: u64,
    pub input_tokens: u64,
    pub input_reported: u64,
    pub from_usage: u64,
    pub counted: u64,
    pub good: u64,
}

/// Where a shard's step ran: its place among the shards and when it started.
#[derive(Debug, Clone)]
pub struct ShardPlace {
    pub shard: u32,
    pub shards: u32,
    pub step_rate: f64,
    pub start_at: String,
    pub start_late_ms: f64,
}

/// A histogram in V2 + deflate encoding, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail for I/O; a histogram the encoder refuses is a bug.
    if let Err(e) = V2DeflateSerializer::new().serialize(h, &mut buf) {
        panic!("encoding a histogram failed: {e:?}");
    }
    STANDARD.encode(buf)
}

/// The histogram [`encode`] wrote.
pub fn decode(s: &str) -> Result<Histogram<u64>, WireError> {
    let bytes = STANDARD
        .decode(s.trim())
        .map_err(|e| WireError(format!("a histogram is not base64: {e}")))?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| WireError(format!("a histogram does not decode: {e:?}")))
}

fn add(into: &mut Histogram<u64>, h: &str, what: &str) -> Result<(), WireError> {
    let h = decode(h).map_err(|e| WireError(format!("{what}: {}", e.0)))?;
    into.add(&h)
        .map_err(|e| WireError(format!("{what}: histogram ranges differ: {e:?}")))
}

impl ShardResult {
    /// A shard's result from its raw measurements (`raw`, every worker merged) and the step
    /// runner's measurement.
    pub fn new(place: &ShardPlace, raw: &Shard, m: &StepMeasurement) -> ShardResult {
        let s = &m.shard;
        ShardResult {
            format: FORMAT.to_string(),
            shard: place.shard,
            shards: place.shards,
            step_rate: place.step_rate,
            offered_rps: m.offered_rps,
            concurrency: m.concurrency,
            start_at: place.start_at.clone(),
            start_late_ms: place.start_late_ms,
            window_s: m.window_s,
            warmup_s: m.warmup_s,
            sent: m.sent,
            unsent: m.unsent,
            peak_in_flight: m.peak_in_flight,
            max_concurrency: m.max_concurrency,
            served_rps: m.served.rps,
            served_steady: m.served.steady,
            abort: m.abort.map(|a| WireAbort {
                error_percent: a.error_percent,
                over_s: a.over_s,
                at_s: a.at_s,
            }),
            stream_format: m.stream_format.map(String::from),
            requests: raw.requests,
            clamped: raw.clamped,
            errors_by_class: ErrorClass::ALL
                .iter()
                .filter(|c| raw.errors[c.index()] > 0)
                .map(|c| (c.name().to_string(), raw.errors[c.index()]))
                .collect(),
            status_counts: s.status_counts.clone(),
            original_status_counts: s.original_status_counts.clone(),
            variants: s.variants.clone(),
            latency_us: encode(&raw.latency),
            service_us: encode(&raw.service),
            send_lag_us: encode(&raw.send_lag),
            stream: m.stream_format.map(|_| {
                let st = &raw.stream;
                WireStream {
                    ttft_us: encode(&st.ttft),
                    itl_us: encode(&st.itl),
                    gap_us: encode(&st.gap),
                    e2e_us: encode(&st.e2e),
                    tokens_per_s_milli: encode(&st.tokens_per_s_milli),
                    streams: st.streams,
                    output_tokens: st.output_tokens,
                    input_tokens: st.input_tokens,
                    input_reported: st.input_reported,
                    from_usage: st.from_usage,
                    counted: st.counted,
                    good: st.good,
                }
            }),
        }
    }

    /// Reads one result line, checking its format.
    pub fn parse(line: &str) -> Result<ShardResult, WireError> {
        let r: ShardResult = serde_json::from_str(line.trim())
            .map_err(|e| WireError(format!("not a rightsize shard result: {e}")))?;
        if r.format != FORMAT {
            return Err(WireError(format!(
                "format {:?} is not {FORMAT:?}: the shard ran another rightsize version",
                r.format
            )));
        }
        if r.shards == 0 || r.shard >= r.shards {
            return Err(WireError(format!(
                "shard {} of {} is not a valid place",
                r.shard, r.shards
            )));
        }
        Ok(r)
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// This shard's own measurement, as if it were a step of its own.
    pub fn own_measurement(&self) -> Result<StepMeasurement, WireError> {
        let mut m = measurement_of(std::slice::from_ref(self))?;
        m.offered_rps = self.offered_rps;
        Ok(m)
    }
}

/// The raw measurements several shards took, merged exactly.
pub fn merge_raw(results: &[ShardResult]) -> Result<(Shard, BTreeMap<String, u64>), WireError> {
    let mut total = Shard::new();
    let mut variants = BTreeMap::new();
    for r in results {
        let what = |h: &str| format!("shard {} {h}", r.shard);
        let mut one = Shard::new();
        add(&mut one.latency, &r.latency_us, &what("latency_us"))?;
        add(&mut one.service, &r.service_us, &what("service_us"))?;
        add(&mut one.send_lag, &r.send_lag_us, &what("send_lag_us"))?;
        one.requests = r.requests;
        one.clamped = r.clamped;
        one.errors = errors_of(&r.errors_by_class)?;
        counts_into(&r.status_counts, &mut one.statuses, "status_counts")?;
        counts_into(
            &r.original_status_counts,
            &mut one.original_statuses,
            "original_status_counts",
        )?;
        if let Some(st) = &r.stream {
            let mut s = StreamShard::default();
            add(&mut s.ttft, &st.ttft_us, &what("stream.ttft_us"))?;
            add(&mut s.itl, &st.itl_us, &what("stream.itl_us"))?;
            add(&mut s.gap, &st.gap_us, &what("stream.gap_us"))?;
            add(&mut s.e2e, &st.e2e_us, &what("stream.e2e_us"))?;
            add(
                &mut s.tokens_per_s_milli,
                &st.tokens_per_s_milli,
                &what("stream.tokens_per_s_milli"),
            )?;
            s.streams = st.streams;
            s.output_tokens = st.output_tokens;
            s.input_tokens = st.input_tokens;
            s.input_reported = st.input_reported;
            s.from_usage = st.from_usage;
            s.counted = st.counted;
            s.good = st.good;
            one.stream = s;
        }
        total.merge(&one);
        for (k, v) in &r.variants {
            *variants.entry(k.clone()).or_insert(0) += v;
        }
    }
    Ok((total, variants))
}

fn errors_of(by_class: &BTreeMap<String, u64>) -> Result<[u64; CLASSES], WireError> {
    let mut errors = [0; CLASSES];
    for (name, n) in by_class {
        let c = ErrorClass::ALL
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| WireError(format!("unknown error class {name:?}")))?;
        errors[c.index()] += n;
    }
    Ok(errors)
}

fn counts_into(
    counts: &BTreeMap<String, u64>,
    into: &mut [u64; MAX_STATUS],
    what: &str,
) -> Result<(), WireError> {
    for (k, n) in counts {
        let i: usize = k
            .parse()
            .map_err(|_| WireError(format!("{what}: {k:?} is not an HTTP status")))?;
        into[i.min(MAX_STATUS - 1)] += n;
    }
    Ok(())
}

/// The step that several shards measured together: histograms added bucket for bucket,
/// counters summed. Its offered rate is the whole step's (a concurrency step: what all shards
/// sent per second of the window).
pub fn merge(results: &[ShardResult]) -> Result<StepMeasurement, WireError> {
    measurement_of(results)
}

fn measurement_of(results: &[ShardResult]) -> Result<StepMeasurement, WireError> {
    let first = results
        .first()
        .ok_or_else(|| WireError("no shard results to merge".into()))?;
    for r in results {
        if r.shards != first.shards || r.step_rate != first.step_rate {
            return Err(WireError(format!(
                "shard {} ran another step (shard {} of {} at {} rps) than shard {} (of {} at {} rps)",
                r.shard, r.shard, r.shards, r.step_rate, first.shard, first.shards, first.step_rate
            )));
        }
        if r.stream_format != first.stream_format {
            return Err(WireError(format!(
                "shard {} read stream format {:?}, shard {} {:?}",
                r.shard, r.stream_format, first.shard, first.stream_format
            )));
        }
    }
    let (raw, variants) = merge_raw(results)?;
    let mut shard = ShardSummary::from_shard(&raw, &[]);
    shard.variants = variants;
    let window_s = results.iter().map(|r| r.window_s).fold(0.0, f64::max);
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    let concurrency = first
        .concurrency
        .map(|_| results.iter().filter_map(|r| r.concurrency).sum());
    let stream_format = match first.stream_format.as_deref() {
        None => None,
        Some(name) => Some(
            [StreamFormat::Openai, StreamFormat::Tgi, StreamFormat::Jsonl]
                .into_iter()
                .map(StreamFormat::name)
                .find(|n| *n == name)
                .ok_or_else(|| WireError(format!("unknown stream format {name:?}")))?,
        ),
    };
    Ok(StepMeasurement {
        offered_rps: match concurrency {
            Some(_) if window_s > 0.0 => sent as f64 / window_s,
            Some(_) => 0.0,
            None => first.step_rate,
        },
        abort: results.iter().find_map(|r| {
            r.abort.map(|a| Abort {
                error_percent: a.error_percent,
                over_s: a.over_s,
                at_s: a.at_s,
            })
        }),
        failed_early: None,
        served: Served {
            rps: results.iter().map(|r| r.served_rps).sum(),
            steady: results.iter().all(|r| r.served_steady),
        },
        window_s,
        warmup_s: first.warmup_s,
        sent,
        unsent: results.iter().map(|r| r.unsent).sum(),
        peak_in_flight: results.iter().map(|r| r.peak_in_flight).sum(),
        max_concurrency: results.iter().map(|r| r.max_concurrency).sum(),
        shard,
        concurrency,
        stream_format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::new_histogram;
    use crate::rng::Rng;

    /// Latencies from a skewed distribution: most fast, a long tail.
    fn values(seed: u64, n: usize) -> Vec<u64> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let u = rng.next_f64();
                (1_000.0 * (-(1.0 - u).ln()).powi(3) + 50.0) as u64
            })
            .collect()
    }

    fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    #[test]
    fn a_histogram_survives_the_v2_deflate_round_trip_bucket_for_bucket() {
        let mut h = new_histogram();
        for v in values(3, 20_000) {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(buckets(&back), buckets(&h));
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(
            back.high(),
            h.high(),
            "same range, so shards' histograms add"
        );
        assert!(decode("not base64 !").is_err());
        assert!(decode(&STANDARD.encode(b"short")).is_err());
    }

    fn result_of(shard: u32, shards: u32, vals: &[u64], errors: u64) -> ShardResult {
        let mut raw = Shard::new();
        for v in vals {
            raw.latency.record(*v).unwrap();
            raw.service.record(*v / 2 + 1).unwrap();
            raw.send_lag.record(1).unwrap();
        }
        raw.requests = vals.len() as u64;
        raw.errors[ErrorClass::Timeout.index()] = errors;
        let m = StepMeasurement {
            offered_rps: 100.0 / shards as f64,
            abort: None,
            failed_early: None,
            served: Served {
                rps: 10.0,
                steady: true,
            },
            window_s: 2.0,
            warmup_s: 0.5,
            sent: vals.len() as u64,
            unsent: 0,
            peak_in_flight: 3,
            max_concurrency: 8,
            shard: ShardSummary::from_shard(&raw, &[]),
            concurrency: None,
            stream_format: None,
        };
        let place = ShardPlace {
            shard,
            shards,
            step_rate: 100.0,
            start_at: "2026-01-01T00:00:00Z".into(),
            start_late_ms: 1.0,
        };
        let r = ShardResult::new(&place, &raw, &m);
        // Every result goes through its line, as between processes.
        ShardResult::parse(&r.to_line()).unwrap()
    }

    #[test]
    fn merging_shards_equals_one_histogram_of_all_values_bucket_for_bucket() {
        let n = 5;
        let mut all = new_histogram();
        let mut results = Vec::new();
        for k in 0..n {
            let vals = values(100 + k as u64, 5_000 + 997 * k as usize);
            for v in &vals {
                all.record(*v).unwrap();
            }
            results.push(result_of(k, n, &vals, k as u64));
        }
        let (raw, _) = merge_raw(&results).unwrap();
        assert_eq!(buckets(&raw.latency), buckets(&all));
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(raw.latency.value_at_quantile(q), all.value_at_quantile(q));
        }
        let m = merge(&results).unwrap();
        assert_eq!(m.shard.requests, all.len());
        assert_eq!(
            m.shard.errors[ErrorClass::Timeout.index()],
            (0..n as u64).sum::<u64>()
        );
        assert_eq!(m.offered_rps, 100.0, "the whole step's rate");
        assert_eq!(m.sent, all.len());
        assert_eq!(m.served.rps, 10.0 * n as f64);
        assert_eq!(
            m.shard.latency.p99,
            crate::num::round3(all.value_at_quantile(0.99) as f64 / 1000.0)
        );
    }

    #[test]
    fn results_of_different_steps_or_formats_are_refused() {
        let a = result_of(0, 2, &[10, 20], 0);
        let mut b = result_of(1, 2, &[10, 20], 0);
        b.step_rate = 50.0;
        assert!(
            merge(&[a.clone(), b])
                .unwrap_err()
                .0
                .contains("another step")
        );
        let mut c = a.clone();
        c.format = "other/9".into();
        assert!(ShardResult::parse(&c.to_line()).is_err());
        let mut d = a.clone();
        d.errors_by_class.insert("bogus".into(), 1);
        assert!(merge(&[d]).unwrap_err().0.contains("bogus"));
        assert!(merge(&[]).is_err());
    }
}
