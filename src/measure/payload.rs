//! Request bodies: weighted files, JSON Lines or one inline body, and the deterministic rotation
//! that picks the body of request `i`.
//!
//! Bodies are loaded once into [`Bytes`], so picking one on the hot path is a hash, a binary
//! search and a reference-count increment: no allocation and no copy.

use std::path::Path;

use bytes::Bytes;

use crate::config::PayloadConfig;
use crate::error::{Error, Result};
use crate::rng::splitmix64;

/// The bodies a campaign sends, with their cumulative weights.
#[derive(Debug, Clone)]
pub struct Payloads {
    bodies: Vec<Bytes>,
    /// cumulative[k] = sum of the weights of bodies 0..=k
    cumulative: Vec<u64>,
    seed: u64,
}

impl Payloads {
    /// Loads the payloads a campaign names. `json` says the content type is JSON, in which case
    /// every body must parse as JSON (a truncated file is caught here, not by the endpoint).
    pub fn load(cfg: &PayloadConfig, campaign_file: &Path, json: bool) -> Result<Payloads> {
        let (bodies, weights) = if let Some(files) = &cfg.files {
            let mut bodies = Vec::with_capacity(files.len());
            let mut weights = Vec::with_capacity(files.len());
            for f in files {
                let data = std::fs::read(&f.path).map_err(|e| {
                    Error::input(format!(
                        "{}: [payload] files: cannot read {}: {e}; fix the path (relative paths start from the campaign file's folder)",
                        campaign_file.display(),
                        f.path.display()
                    ))
                })?;
                if data.is_empty() {
                    return Err(Error::input(format!(
                        "{}: [payload] files: {} is empty; a request body must have content",
                        campaign_file.display(),
                        f.path.display()
                    )));
                }
                if json && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&data) {
                    return Err(Error::input(format!(
                        "{}: [payload] files: {} is not valid JSON ({e}), but content_type is JSON; fix the file or set [target] content_type",
                        campaign_file.display(),
                        f.path.display()
                    )));
                }
                bodies.push(Bytes::from(data));
                weights.push(u64::from(f.weight));
            }
            (bodies, weights)
        } else if let Some(path) = &cfg.jsonl {
            let text = std::fs::read(path).map_err(|e| {
                Error::input(format!(
                    "{}: [payload] jsonl: cannot read {}: {e}; fix the path (relative paths start from the campaign file's folder)",
                    campaign_file.display(),
                    path.display()
                ))
            })?;
            let text = String::from_utf8(text).map_err(|_| {
                Error::input(format!(
                    "{}: [payload] jsonl: {} is not UTF-8 text; JSON Lines must be text, one JSON body per line",
                    campaign_file.display(),
                    path.display()
                ))
            })?;
            let mut bodies = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(line) {
                    return Err(Error::input(format!(
                        "{}: [payload] jsonl: {} line {}: not valid JSON ({e}); each line must hold one JSON body",
                        campaign_file.display(),
                        path.display(),
                        n + 1
                    )));
                }
                bodies.push(Bytes::copy_from_slice(line.as_bytes()));
            }
            if bodies.is_empty() {
                return Err(Error::input(format!(
                    "{}: [payload] jsonl: {} has no request bodies; add one JSON body per line",
                    campaign_file.display(),
                    path.display()
                )));
            }
            let weights = vec![1; bodies.len()];
            (bodies, weights)
        } else if let Some(body) = &cfg.body {
            if body.is_empty() {
                return Err(Error::input(format!(
                    "{}: [payload] body is empty; a request body must have content",
                    campaign_file.display()
                )));
            }
            if json && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(body) {
                return Err(Error::input(format!(
                    "{}: [payload] body is not valid JSON ({e}), but content_type is JSON; fix the body or set [target] content_type",
                    campaign_file.display()
                )));
            }
            (vec![Bytes::from(body.clone())], vec![1])
        } else {
            return Err(Error::input(format!(
                "{}: [payload] needs one of files, jsonl or body",
                campaign_file.display()
            )));
        };
        Ok(Payloads::new(bodies, &weights, cfg.seed))
    }

    /// Builds a rotation from bodies and their weights (each at least 1).
    pub fn new(bodies: Vec<Bytes>, weights: &[u64], seed: u64) -> Payloads {
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += (*w).max(1);
                total
            })
            .collect();
        Payloads {
            bodies,
            cumulative,
            seed,
        }
    }

    /// The same rotation with each body replaced by `f`'s answer (kept when it gives none).
    pub fn map_bodies(mut self, f: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Payloads {
        for b in &mut self.bodies {
            if let Some(new) = f(b) {
                *b = Bytes::from(new);
            }
        }
        self
    }

    /// One fixed body.
    pub fn single(body: impl Into<Bytes>) -> Payloads {
        Payloads::new(vec![body.into()], &[1], 1)
    }

    /// The body of request `i`: a pure function of the seed and `i`, so runs are reproducible
    /// whatever order workers take requests in.
    pub fn pick(&self, i: u64) -> Bytes {
        self.bodies[self.index_of(i)].clone()
    }

    fn index_of(&self, i: u64) -> usize {
        if self.bodies.len() == 1 {
            return 0;
        }
        let total = *self.cumulative.last().unwrap_or(&1);
        let r = splitmix64(self.seed ^ splitmix64(i)) % total;
        self.cumulative.partition_point(|c| *c <= r)
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// A stable digest of the bodies, their weights and the seed: two rotations with the same
    /// digest send the same bytes in the same order (used to recognise a campaign on resume).
    pub fn digest(&self) -> String {
        let mut h = crate::rng::Fnv64::new();
        h.write_u64(self.seed);
        h.write_u64(self.bodies.len() as u64);
        for (body, cum) in self.bodies.iter().zip(&self.cumulative) {
            h.write_u64(*cum);
            h.write_u64(body.len() as u64);
            h.write(body);
        }
        h.hex()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_follows_the_weights_and_is_reproducible() {
        let p = Payloads::new(
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            &[3, 1],
            7,
        );
        let picks: Vec<usize> = (0..40_000).map(|i| p.index_of(i)).collect();
        let a = picks.iter().filter(|k| **k == 0).count() as f64 / picks.len() as f64;
        assert!((a - 0.75).abs() < 0.01, "share of a = {a}");
        let again: Vec<usize> = (0..40_000).map(|i| p.index_of(i)).collect();
        assert_eq!(picks, again);
        let other_seed = Payloads::new(
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            &[3, 1],
            8,
        );
        let differs = (0..1000).any(|i| other_seed.index_of(i) != p.index_of(i));
        assert!(differs, "a different seed gives a different order");
    }
}
