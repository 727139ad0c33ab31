//! Measurement of one step: error classes, HDR histograms, and the [`StepResult`] they become.
//!
//! Workers record into a few mutex-guarded shards (a worker always uses the same shard, so the
//! locks are nearly never contended); shards are merged once at step end. Nothing is allocated
//! and no message is sent per request, and memory stays constant however long a step runs.
//!
//! `record` is the recording side, `step` what a step becomes; both are re-exported here.

mod record;
mod step;

pub use record::*;
pub use step::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_keeps_a_multi_second_tail_without_panicking() {
        let r = Recorder::new(2);
        for i in 0..990u64 {
            r.record(i as usize, 10_000, 9_000, &Outcome::success(200));
        }
        for i in 0..10u64 {
            // a 40-minute request must be recorded, not rejected
            r.record(
                i as usize,
                40 * 60 * 1_000_000,
                1_000,
                &Outcome::error(ErrorClass::Timeout, None),
            );
        }
        let m = r.merged();
        let s = ShardSummary::from_shard(&m, &[]);
        assert_eq!(s.requests, 1000);
        assert_eq!(s.errors[ErrorClass::Timeout.index()], 10);
        assert!((s.latency.p50 - 10.0).abs() < 0.02, "{:?}", s.latency);
        assert!(s.latency.max > 2_390_000.0, "{:?}", s.latency);
        assert_eq!(s.clamped, 0, "40 minutes is inside the range");
        assert_eq!(s.status_counts.get("200"), Some(&990));
    }

    #[test]
    fn latencies_above_the_range_are_counted_as_clamped() {
        let r = Recorder::new(1);
        r.record(0, 10_000, 9_000, &Outcome::success(200));
        // 3 hours: above the 2-hour range
        r.record(0, 3 * 3600 * 1_000_000, 1_000, &Outcome::success(200));
        r.record_not_sent(0, 3 * 3600 * 1_000_000);
        let m = StepMeasurement {
            concurrency: None,
            stream_format: None,
            offered_rps: 1.0,
            abort: None,
            failed_early: None,
            served: Served {
                rps: 0.0,
                steady: false,
            },
            window_s: 3.0,
            warmup_s: 0.0,
            sent: 2,
            unsent: 1,
            peak_in_flight: 1,
            max_concurrency: 1,
            shard: ShardSummary::from_shard(&r.merged(), &[]),
        }
        .into_result();
        assert_eq!(m.requests, 3);
        assert_eq!(m.clamped, 2, "{m:?}");
        assert!(serde_json::to_string(&m).unwrap().contains("\"clamped\":2"));
    }

    #[test]
    fn http_statuses_map_onto_the_stable_classes() {
        assert_eq!(ErrorClass::from_http_status(200), None);
        assert_eq!(ErrorClass::from_http_status(204), None);
        assert_eq!(
            ErrorClass::from_http_status(429),
            Some(ErrorClass::Throttled)
        );
        assert_eq!(
            ErrorClass::from_http_status(503),
            Some(ErrorClass::ServiceUnavailable)
        );
        assert_eq!(
            ErrorClass::from_http_status(500),
            Some(ErrorClass::ModelError)
        );
        assert_eq!(
            ErrorClass::from_http_status(424),
            Some(ErrorClass::ModelError)
        );
        assert_eq!(
            ErrorClass::from_http_status(404),
            Some(ErrorClass::Validation)
        );
        assert_eq!(ErrorClass::from_http_status(302), Some(ErrorClass::Other));
    }

    #[test]
    fn max_rps_reads_successes_only_and_never_more_than_offered() {
        let mut s = StepResult {
            offered_rps: 100.0,
            achieved_rps: 101.0,
            success_rps: 101.0,
            ..Default::default()
        };
        assert_eq!(s.successful_rps(), 100.0, "capped at the offered rate");
        s.success_rps = 99.0;
        s.error_rps = 1.0;
        s.achieved_rps = 100.0;
        assert_eq!(
            s.successful_rps(),
            99.0,
            "failed responses are not capacity"
        );
        // A step saved before success_rps existed: achieved less its error share.
        s.success_rps = 0.0;
        s.error_percent = 2.0;
        assert_eq!(s.successful_rps(), 98.0);
    }

    #[test]
    fn class_names_match_their_serde_names() {
        for c in ErrorClass::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
            assert_eq!(ErrorClass::ALL[c.index()], c);
        }
    }
}
