//! `rightsize cleanup`: deletes the endpoints and endpoint configurations carrying the campaign
//! tag — of one campaign (`--campaign ID`, for what a killed run left) or of every rightsize
//! campaign (`--all-mine`). Resources without the tag are never considered, whatever their name.
//!
//! `--dry-run` only lists. `--all-mine` reaches every campaign in the region, including one
//! running right now (whose own teardown then finds nothing left to delete).

use crate::aws::deploy::{CAMPAIGN_TAG, Connection, ControlPlane, TaggedResources};
use crate::error::{Error, Result};

use super::lifecycle;

/// `rightsize cleanup`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct CleanupArgs {
    /// Only this campaign's resources; `None` with `all_mine`.
    pub campaign: Option<String>,
    pub all_mine: bool,
    /// List only.
    pub dry_run: bool,
    pub connection: Connection,
}

/// Whether `id` looks like a campaign id (what `rightsize run` prints and managed.json holds).
fn is_campaign_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn listing(found: &TaggedResources) -> String {
    let mut out = String::new();
    for e in &found.endpoints {
        out.push_str(&format!(
            "  endpoint               {}  ({CAMPAIGN_TAG}={})\n",
            e.name, e.campaign
        ));
    }
    for c in &found.endpoint_configs {
        out.push_str(&format!(
            "  endpoint configuration {}  ({CAMPAIGN_TAG}={})\n",
            c.name, c.campaign
        ));
    }
    out
}

/// Runs the command; returns the text to print. Any deletion that fails makes it an error
/// (exit 1) whose message lists what is left.
pub async fn cleanup(args: &CleanupArgs) -> Result<String> {
    let scope = match (&args.campaign, args.all_mine) {
        (Some(id), false) => {
            if !is_campaign_id(id) {
                return Err(Error::input(format!(
                    "--campaign {id:?} is not a campaign id (the 8 characters `rightsize run` printed, also in the campaign folder's managed.json)"
                )));
            }
            Some(id.as_str())
        }
        (None, true) => None,
        _ => {
            return Err(Error::input(
                "give exactly one of --campaign ID or --all-mine",
            ));
        }
    };
    let cp = ControlPlane::connect(&args.connection).await?;
    // Our names end with the campaign id: a cheap pre-filter. The tag decides.
    let found = cp
        .find_tagged(scope, scope)
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
    let what = match scope {
        Some(id) => format!("campaign {id}"),
        None => "any rightsize campaign".into(),
    };
    let header = format!(
        "{} endpoint(s) and {} endpoint configuration(s) in {} carry the tag of {what}",
        found.endpoints.len(),
        found.endpoint_configs.len(),
        cp.region()
    );
    if found.endpoints.is_empty() && found.endpoint_configs.is_empty() {
        return Ok(format!(
            "Nothing to delete: no endpoint or endpoint configuration in {} carries the tag of {what}.\n",
            cp.region()
        ));
    }
    if args.dry_run {
        let how = "run again without --dry-run to delete them";
        return Ok(format!(
            "Dry run: nothing was deleted. {header}:\n{}{how}.\n",
            listing(&found)
        ));
    }
    let mut out = format!("{header}:\n");
    let mut failed = Vec::new();
    for e in &found.endpoints {
        match lifecycle::delete_endpoint(&cp, &e.name).await {
            Ok(()) => out.push_str(&format!("  deleted endpoint {}\n", e.name)),
            Err(why) => failed.push(format!("endpoint {}: {why}", e.name)),
        }
    }
    for c in &found.endpoint_configs {
        match cp.delete_endpoint_config(&c.name).await {
            Ok(_) => out.push_str(&format!("  deleted endpoint configuration {}\n", c.name)),
            Err(why) => failed.push(format!("endpoint configuration {}: {why}", c.name)),
        }
    }
    if failed.is_empty() {
        Ok(out)
    } else {
        Err(Error::Other(format!(
            "{out}could not delete: {}; run the command again (it only deletes what still carries the tag)",
            failed.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids_are_short_lower_case_words() {
        assert!(is_campaign_id("a1b2c3d4"));
        for bad in ["", "A1B2", "a b", "x".repeat(33).as_str(), "a/b", "*"] {
            assert!(!is_campaign_id(bad), "{bad}");
        }
    }
}
