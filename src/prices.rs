//! Price tables: hourly on-demand USD per instance type, one table per region, and the cost of
//! a recommendation that follows from them.
//!
//! The tables in `configs/prices/` are compiled in; `--prices FILE` replaces them. A table names
//! its source and the date it was taken, and says whether its figures were verified, so every
//! cost in a report can say where its price came from.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::decide::recommend::{Cost, Recommendation};
use crate::error::{Error, Result};

/// The region a campaign is priced in when it names none (HTTP targets never do).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The compiled-in tables: (region, file name, text).
const BUILT_IN: [(&str, &str, &str); 2] = [
    (
        "us-east-1",
        "configs/prices/us-east-1.toml",
        include_str!("../configs/prices/us-east-1.toml"),
    ),
    (
        "us-west-2",
        "configs/prices/us-west-2.toml",
        include_str!("../configs/prices/us-west-2.toml"),
    ),
];

/// One price table, as written in a `configs/prices/*.toml` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    pub currency: String,
    /// The date the prices were taken (YYYY-MM-DD).
    pub taken_on: String,
    /// Where the prices come from.
    pub source: String,
    /// Whether the figures were checked against the provider's published prices.
    pub verified: bool,
    /// USD per instance-hour, by instance type.
    pub hourly_usd: BTreeMap<String, f64>,
    /// Per instance type, where its price comes from when that differs from the table's
    /// `source` (and its own date and verification).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_sources: BTreeMap<String, PriceNote>,
    /// The file the table was read from (not part of the file format).
    #[serde(skip)]
    pub file: String,
}

/// Where one price comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceNote {
    pub source: String,
    pub taken_on: String,
    pub verified: bool,
}

impl PriceTable {
    /// Reads a price table given with `--prices`. Any problem is bad input (exit code 2).
    pub fn load(path: &Path) -> Result<PriceTable> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!(
                "{}: cannot read the price table: {e}",
                path.display()
            ))
        })?;
        PriceTable::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a price table; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<PriceTable> {
        let mut t: PriceTable = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!(" line {}", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            Error::input(format!(
                "{file}{line}: {} (a price table has region, currency = \"USD\", taken_on, source, verified and a [hourly_usd] table; see configs/prices/us-east-1.toml)",
                e.message().trim_end()
            ))
        })?;
        t.file = file.to_string();
        if t.currency != "USD" {
            return Err(Error::input(format!(
                "{file}: currency = {:?} is not supported; write prices in USD and set currency = \"USD\"",
                t.currency
            )));
        }
        for key in ["region", "taken_on", "source"] {
            let v = match key {
                "region" => &t.region,
                "taken_on" => &t.taken_on,
                _ => &t.source,
            };
            if v.trim().is_empty() {
                return Err(Error::input(format!(
                    "{file}: {key} must not be empty: say where and when the prices were taken"
                )));
            }
        }
        if t.hourly_usd.is_empty() {
            return Err(Error::input(format!(
                "{file}: [hourly_usd] is empty; add lines such as \"ml.c5.xlarge\" = 0.204"
            )));
        }
        for (ty, note) in &t.price_sources {
            if !t.hourly_usd.contains_key(ty) {
                return Err(Error::input(format!(
                    "{file}: price_sources.{ty:?} names a type with no price in [hourly_usd]; add its price or remove the note"
                )));
            }
            if note.source.trim().is_empty() || note.taken_on.trim().is_empty() {
                return Err(Error::input(format!(
                    "{file}: price_sources.{ty:?}: source and taken_on must not be empty"
                )));
            }
        }
        for (ty, price) in &t.hourly_usd {
            if !price.is_finite() || *price <= 0.0 {
                return Err(Error::input(format!(
                    "{file}: hourly_usd.{ty:?} = {price} must be a positive number of USD per instance-hour"
                )));
            }
        }
        Ok(t)
    }

    /// The compiled-in table of a region, if rightsize ships one.
    pub fn built_in(region: &str) -> Option<PriceTable> {
        BUILT_IN
            .iter()
            .find(|(r, _, _)| *r == region)
            .map(|(_, file, text)| {
                // The built-in tables are checked by a unit test; a broken one is a build bug.
                PriceTable::parse(text, file)
                    .unwrap_or_else(|e| panic!("built-in price table: {e}"))
            })
    }

    /// The regions rightsize ships a table for.
    pub fn built_in_regions() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(r, _, _)| *r).collect()
    }

    pub fn hourly(&self, instance_type: &str) -> Option<f64> {
        self.hourly_usd.get(instance_type).copied()
    }

    /// Whether one type's price was verified (its own note, else the table's flag).
    pub fn verified_for(&self, instance_type: &str) -> bool {
        self.price_sources
            .get(instance_type)
            .map_or(self.verified, |n| n.verified)
    }

    /// Names where one type's price comes from: its own note when it has one, else the table.
    pub fn describe_for(&self, instance_type: &str) -> String {
        match self.price_sources.get(instance_type) {
            Some(n) => format!(
                "{} ({} price of {instance_type}: {}, taken {}{})",
                self.file,
                self.region,
                n.source,
                n.taken_on,
                if n.verified { "" } else { ", not verified" }
            ),
            None => self.describe(),
        }
    }

    /// Names the table, its source and date, for reports.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} prices: {}, taken {}{})",
            self.file,
            self.region,
            self.source,
            self.taken_on,
            if self.verified { "" } else { ", not verified" }
        )
    }

    /// A short name for explanation lines.
    pub fn short(&self) -> String {
        format!(
            "{} table{}",
            self.region,
            if self.verified { "" } else { ", not verified" }
        )
    }
}

/// Where a campaign's prices come from: the `--prices` table when given, else the built-in
/// table of the campaign's region (default us-east-1).
#[derive(Debug, Clone, PartialEq)]
pub enum PriceSource {
    Table(PriceTable),
    /// No table for this region: costs are left out, and the explanation says why.
    Missing {
        region: String,
    },
}

impl PriceSource {
    pub fn select(given: Option<&PriceTable>, region: Option<&str>) -> PriceSource {
        if let Some(t) = given {
            return PriceSource::Table(t.clone());
        }
        let region = region.unwrap_or(DEFAULT_REGION);
        match PriceTable::built_in(region) {
            Some(t) => PriceSource::Table(t),
            None => PriceSource::Missing {
                region: region.to_string(),
            },
        }
    }
}

/// USD per million inferences for one instance serving `max_rps` requests per second.
pub fn usd_per_million(hourly_usd: f64, max_rps: f64) -> f64 {
    hourly_usd / (max_rps * 3600.0) * 1e6
}

/// Adds the fleet's cost to a recommendation and an explanation line saying how it was
/// computed, or why it could not be. Pure.
pub fn attach_cost(mut r: Recommendation, source: &PriceSource) -> Recommendation {
    let table = match source {
        PriceSource::Table(t) => t,
        PriceSource::Missing { region } => {
            r.explanation.push(format!(
                "cost: rightsize has no price table for region {region} (built in: {}); pass --prices FILE to add costs",
                PriceTable::built_in_regions().join(", ")
            ));
            return r;
        }
    };
    let Some(price) = table.hourly(&r.instance_type) else {
        r.explanation.push(format!(
            "cost: {} is not in the price table {}; pass --prices FILE with its hourly price to add costs",
            r.instance_type,
            table.describe()
        ));
        return r;
    };
    let verified = table.verified_for(&r.instance_type);
    let hourly_min = price * r.min_instances as f64;
    let hourly_max = price * r.max_instances as f64;
    let per_million = usd_per_million(price, r.max_rps_per_instance);
    r.explanation.push(format!(
        "hourly cost = {} at ${price} per instance-hour ({} table{}) × instances = ${}/h at min_instances {}, ${}/h at max_instances {}",
        r.instance_type,
        table.region,
        if verified { "" } else { ", not verified" },
        usd(hourly_min),
        r.min_instances,
        usd(hourly_max),
        r.max_instances
    ));
    r.explanation.push(if r.concurrency.is_some() {
        format!(
            "usd_per_million = ${price} per hour ÷ ({} requests/s at C_max × 3600 s) × 1,000,000 = ${} per million requests on one instance busy at C_max",
            r.max_rps_per_instance,
            usd(per_million)
        )
    } else {
        format!(
            "usd_per_million = ${price} per hour ÷ (MAX_RPS {} × 3600 s) × 1,000,000 = ${} per million inferences on an instance busy at MAX_RPS",
            r.max_rps_per_instance,
            usd(per_million)
        )
    });
    let per_million_tokens = r.concurrency.as_ref().and_then(|k| {
        (k.output_tokens_per_s_per_instance > 0.0)
            .then(|| usd_per_million(price, k.output_tokens_per_s_per_instance))
    });
    if let (Some(t), Some(k)) = (per_million_tokens, &r.concurrency) {
        r.explanation.push(format!(
            "usd_per_million_output_tokens = ${price} per hour ÷ ({} output tokens/s at C_max × 3600 s) × 1,000,000 = ${} per million output tokens on one {} busy at C_max",
            k.output_tokens_per_s_per_instance,
            usd(t),
            k.unit.word()
        ));
    }
    r.cost = Some(Cost {
        hourly_usd_min: round6(hourly_min),
        hourly_usd_max: round6(hourly_max),
        usd_per_million: round6(per_million),
        hourly_usd_per_instance: Some(price),
        price_source: Some(table.describe_for(&r.instance_type)),
        price_verified: Some(verified),
        usd_per_million_output_tokens: per_million_tokens.map(round6),
    });
    r
}

/// Dollars for prose: at least two decimals, at most four, no trailing zeros beyond two.
pub fn usd(x: f64) -> String {
    let s = format!("{x:.4}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, "0000"));
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    format!("{int}.{frac}")
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::recommend::{PredefinedMetric, ScalingPolicy};

    fn rec(instance_type: &str, max_rps: f64, min: u64, max: u64) -> Recommendation {
        Recommendation {
            instance_type: instance_type.into(),
            instance_count_tested: 1,
            max_rps_per_instance: max_rps,
            safety_factor: 0.5,
            invocations_target: 0,
            max_instances: max,
            min_instances: min,
            explanation: vec![],
            scaling_policy: ScalingPolicy {
                target_value: 0.0,
                predefined_metric_specification: PredefinedMetric {
                    predefined_metric_type: "x".into(),
                },
                scale_in_cooldown: 300,
                scale_out_cooldown: 300,
            },
            cost: None,
            autoscaling: None,
            max_concurrency_per_instance: None,
            concurrency: None,
        }
    }

    #[test]
    fn built_in_tables_parse_and_carry_the_published_figures() {
        for region in PriceTable::built_in_regions() {
            let t = PriceTable::built_in(region).unwrap();
            assert_eq!(t.region, region);
            assert!(
                !t.verified,
                "no figure was verified against AWS; the file must say so"
            );
            assert!(t.source.contains("perfsizesagemaker"), "{}", t.source);
        }
        let west = PriceTable::built_in("us-west-2").unwrap();
        assert_eq!(west.hourly("ml.m5.large"), Some(0.115));
        assert_eq!(west.hourly("ml.c5.xlarge"), Some(0.204));
        assert_eq!(west.hourly("ml.g4dn.xlarge"), Some(0.736));
        assert!(PriceTable::built_in("eu-north-1").is_none());
    }

    #[test]
    fn the_llm_families_have_prices_each_with_its_own_unverified_source() {
        for region in PriceTable::built_in_regions() {
            let t = PriceTable::built_in(region).unwrap();
            for family in ["g5", "g6", "g6e", "inf2", "trn1", "p4d", "p5"] {
                let types: Vec<&String> = t
                    .hourly_usd
                    .keys()
                    .filter(|k| k.starts_with(&format!("ml.{family}.")))
                    .collect();
                assert!(!types.is_empty(), "{region}: no ml.{family} price");
                for ty in types {
                    let note = t.price_sources.get(ty.as_str()).expect("a source");
                    assert!(!note.verified, "{ty}: nothing was checked against AWS");
                    assert!(!t.verified_for(ty));
                    assert!(t.describe_for(ty).contains(&note.source));
                    assert!(t.describe_for(ty).contains("not verified"));
                }
            }
        }
        // The cost of a type with a note names that note, not the table's source.
        let t = PriceTable::built_in("us-east-1").unwrap();
        let r = attach_cost(rec("ml.g5.xlarge", 4.8, 1, 2), &PriceSource::Table(t));
        let c = r.cost.unwrap();
        assert_eq!(c.hourly_usd_per_instance, Some(1.21));
        assert!(c.price_source.unwrap().contains("wring.co"));
        assert_eq!(c.price_verified, Some(false));
        let bad = "region = \"x\"\ncurrency = \"USD\"\ntaken_on = \"2026-01-01\"\nsource = \"me\"\nverified = true\n[hourly_usd]\n\"ml.a\" = 1\n[price_sources]\n\"ml.b\" = { source = \"s\", taken_on = \"2026-01-01\", verified = true }\n";
        let e = PriceTable::parse(bad, "p.toml").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("price_sources.\"ml.b\""), "{e}");
    }

    #[test]
    fn the_campaign_region_selects_the_table_and_us_east_1_is_the_default() {
        match PriceSource::select(None, None) {
            PriceSource::Table(t) => assert_eq!(t.region, "us-east-1"),
            other => panic!("{other:?}"),
        }
        match PriceSource::select(None, Some("us-west-2")) {
            PriceSource::Table(t) => assert_eq!(t.region, "us-west-2"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            PriceSource::select(None, Some("eu-north-1")),
            PriceSource::Missing {
                region: "eu-north-1".into()
            }
        );
        let own = PriceTable::parse(
            "region = \"x\"\ncurrency = \"USD\"\ntaken_on = \"2026-01-01\"\nsource = \"me\"\nverified = true\n[hourly_usd]\n\"ml.a\" = 1.5\n",
            "mine.toml",
        )
        .unwrap();
        assert_eq!(
            PriceSource::select(Some(&own), Some("us-west-2")),
            PriceSource::Table(own)
        );
    }

    #[test]
    fn cost_follows_the_stated_formulas() {
        // price 0.204 $/h, MAX_RPS 400, 2..5 instances:
        // hourly 0.408 and 1.02; per million = 0.204 / (400 × 3600) × 1e6 = 0.141666…
        let t = PriceTable::built_in("us-west-2").unwrap();
        let r = attach_cost(
            rec("ml.c5.xlarge", 400.0, 2, 5),
            &PriceSource::Table(t.clone()),
        );
        let c = r.cost.unwrap();
        assert_eq!(c.hourly_usd_min, 0.408);
        assert_eq!(c.hourly_usd_max, 1.02);
        assert_eq!(c.usd_per_million, 0.141667);
        assert_eq!(c.hourly_usd_per_instance, Some(0.204));
        assert_eq!(c.price_verified, Some(false));
        assert!(
            r.explanation[1].contains("÷ (MAX_RPS 400 × 3600 s) × 1,000,000 = $0.1417"),
            "{:?}",
            r.explanation
        );
        assert!(
            r.explanation[0].contains("not verified"),
            "{:?}",
            r.explanation
        );
    }

    #[test]
    fn unknown_types_and_regions_get_no_cost_and_say_why() {
        let t = PriceTable::built_in("us-east-1").unwrap();
        let r = attach_cost(rec("ml.test.large", 10.0, 1, 1), &PriceSource::Table(t));
        assert!(r.cost.is_none());
        assert!(
            r.explanation[0].contains("ml.test.large is not in"),
            "{:?}",
            r.explanation
        );
        let r = attach_cost(
            rec("ml.c5.xlarge", 10.0, 1, 1),
            &PriceSource::Missing {
                region: "eu-north-1".into(),
            },
        );
        assert!(r.cost.is_none());
        assert!(
            r.explanation[0].contains("--prices FILE"),
            "{:?}",
            r.explanation
        );
    }

    #[test]
    fn bad_price_tables_are_bad_input_naming_the_key() {
        let head = "region = \"x\"\ncurrency = \"USD\"\ntaken_on = \"2026-01-01\"\nsource = \"me\"\nverified = false\n";
        let cases = [
            (
                format!("{head}[hourly_usd]\n\"ml.a\" = -1\n"),
                "hourly_usd.\"ml.a\"",
            ),
            (
                format!("{head}[hourly_usd]\n\"ml.a\" = \"cheap\"\n"),
                "line 7",
            ),
            (format!("{head}[hourly_usd]\n"), "[hourly_usd] is empty"),
            (
                format!("{head}colour = 1\n[hourly_usd]\n\"ml.a\" = 1\n"),
                "unknown field",
            ),
            (
                head.replace("USD", "EUR") + "[hourly_usd]\n\"ml.a\" = 1\n",
                "currency",
            ),
            (
                head.replace("\"me\"", "\"\"") + "[hourly_usd]\n\"ml.a\" = 1\n",
                "source must not be empty",
            ),
        ];
        for (text, want) in cases {
            let e = PriceTable::parse(&text, "p.toml").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(msg.starts_with("p.toml"), "{msg}");
            assert!(msg.contains(want), "{want:?} not in {msg}");
        }
    }

    #[test]
    fn dollars_are_printed_without_noise() {
        assert_eq!(usd(0.408), "0.408");
        assert_eq!(usd(1.02), "1.02");
        assert_eq!(usd(0.141666), "0.1417");
        assert_eq!(usd(2.0), "2.00");
        assert_eq!(usd(0.5), "0.50");
    }
}
