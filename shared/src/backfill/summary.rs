//! The aggregated plan of a backfill, and the drift run's metric.
//!
//! Only what needs attention is named: new accounts and clusters (autofed has not onboarded
//! them), drifted ones (onboarded, but something differs from the configuration now), and
//! failed plans. What is in sync is only counted.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::{info, warn};

use crate::{
    error::Error,
    events::ClusterRef,
    ids::AccountId,
    plan::ActionKind,
    report::{ActionReport, Report},
};

/// The CloudWatch namespace of autofed's metrics.
pub const METRIC_NAMESPACE: &str = "autofed";

/// Where an account or cluster stands against the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not onboarded: an account whose SAML provider (or, in `stack` mode, stack) is yet to
    /// be created; a cluster whose
    /// plan creates and changes nothing else.
    New,
    /// Onboarded, and something differs from the configuration (or stands in its way).
    Drifted,
    /// Its plan failed; `error` says why.
    Failed,
}

/// One account or cluster that needs attention.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The account.
    pub account_id: String,
    /// The cluster (`account/region/name`), for a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// New, drifted or failed.
    pub state: State,
    /// What a run would do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionReport>,
    /// Why the plan failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Item {
    /// The item for a plan's report; `None` when nothing would change.
    pub fn from_report(
        account_id: &AccountId,
        cluster: Option<&ClusterRef>,
        report: &Report,
    ) -> Option<Item> {
        if report.actions.is_empty() {
            return None;
        }
        let new = match cluster {
            None => report.actions.iter().any(|a| {
                a.kind == ActionKind::Create
                    && (a.resource.starts_with("saml-provider/")
                        || a.resource.starts_with("stack/"))
            }),
            Some(_) => report.actions.iter().all(|a| a.kind == ActionKind::Create),
        };
        Some(Item {
            account_id: account_id.to_string(),
            cluster: cluster.map(ToString::to_string),
            state: if new { State::New } else { State::Drifted },
            actions: report.actions.clone(),
            error: None,
        })
    }

    /// The item for a plan that failed.
    pub fn failed(account_id: &AccountId, cluster: Option<&ClusterRef>, err: &Error) -> Item {
        Item {
            account_id: account_id.to_string(),
            cluster: cluster.map(ToString::to_string),
            state: State::Failed,
            actions: Vec::new(),
            error: Some(err.to_string()),
        }
    }
}

/// An account or cluster left out, and why (the management account, a suspended account, a
/// cluster still being created).
#[derive(Debug, Clone, Serialize)]
pub struct Skip {
    /// `account ...` or `cluster ...`.
    pub subject: String,
    /// Why.
    pub reason: String,
}

/// How many accounts or clusters are in each state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Planned.
    pub planned: usize,
    /// Nothing to do.
    pub in_sync: usize,
    /// Not onboarded yet.
    pub new: usize,
    /// Onboarded, and drifted.
    pub drifted: usize,
    /// Their plan failed.
    pub failed: usize,
}

/// The aggregated plan of a backfill.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `plan`.
    pub mode: &'static str,
    /// Accounts by state.
    pub accounts: Counts,
    /// Clusters by state.
    pub clusters: Counts,
    /// The actions in drifted accounts and clusters: the drift run's metric.
    pub drifted_resources: usize,
    /// Every new, drifted or failed account and cluster, accounts first, by id.
    pub items: Vec<Item>,
    /// What was left out, and why.
    pub skipped: Vec<Skip>,
    /// The forwarding StackSet's coverage of the accounts, when it is checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<super::coverage::Coverage>,
}

impl Summary {
    /// Aggregates the items of `accounts` planned accounts and `clusters` planned clusters.
    pub fn new(
        accounts: usize,
        clusters: usize,
        mut items: Vec<Item>,
        mut skipped: Vec<Skip>,
    ) -> Self {
        items.sort_by(|a, b| {
            (a.cluster.is_some(), &a.account_id, &a.cluster).cmp(&(
                b.cluster.is_some(),
                &b.account_id,
                &b.cluster,
            ))
        });
        skipped.sort_by(|a, b| a.subject.cmp(&b.subject));
        let count = |cluster: bool, planned: usize| {
            let of = |state| {
                items
                    .iter()
                    .filter(|i| i.cluster.is_some() == cluster && i.state == state)
                    .count()
            };
            let (new, drifted, failed) = (of(State::New), of(State::Drifted), of(State::Failed));
            Counts {
                planned,
                in_sync: planned.saturating_sub(new + drifted + failed),
                new,
                drifted,
                failed,
            }
        };
        let accounts = count(false, accounts);
        let clusters = count(true, clusters);
        let drifted_resources = items
            .iter()
            .filter(|i| i.state == State::Drifted)
            .map(|i| i.actions.len())
            .sum();
        Summary {
            mode: "plan",
            accounts,
            clusters,
            drifted_resources,
            items,
            skipped,
            coverage: None,
        }
    }

    /// Logs one line per drifted resource and per failed plan, then the drift metric in
    /// CloudWatch's embedded metric format (a JSON line of its own on standard output, which
    /// CloudWatch Logs turns into metrics without a PutMetricData call).
    pub fn log(&self) {
        for item in &self.items {
            match item.state {
                State::Drifted => {
                    for a in &item.actions {
                        warn!(account_id = %item.account_id, cluster = item.cluster.as_deref(), resource = %a.resource, kind = %a.kind, summary = %a.summary, "drifted");
                    }
                }
                State::Failed => {
                    warn!(account_id = %item.account_id, cluster = item.cluster.as_deref(), error = item.error.as_deref(), "plan failed")
                }
                State::New => {}
            }
        }
        info!(
            accounts_new = self.accounts.new,
            accounts_drifted = self.accounts.drifted,
            clusters_new = self.clusters.new,
            clusters_drifted = self.clusters.drifted,
            drifted_resources = self.drifted_resources,
            failed = self.accounts.failed + self.clusters.failed,
            "backfill plan"
        );
        println!("{}", self.metrics(now_millis()));
    }

    /// The metric line: `DriftedResources`, new and drifted accounts and clusters, failures.
    pub fn metrics(&self, timestamp_ms: u128) -> serde_json::Value {
        let values: BTreeMap<&str, usize> = [
            ("DriftedResources", self.drifted_resources),
            ("DriftedAccounts", self.accounts.drifted),
            ("DriftedClusters", self.clusters.drifted),
            ("NewAccounts", self.accounts.new),
            ("NewClusters", self.clusters.new),
            ("FailedPlans", self.accounts.failed + self.clusters.failed),
        ]
        .into();
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Function"]],
                    "Metrics": values.keys().map(|name| serde_json::json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
                }],
            },
            "Function": "backfill",
        });
        for (name, value) in values {
            line[name] = value.into();
        }
        line
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_line_is_embedded_metric_format() {
        let summary = Summary {
            mode: "plan",
            accounts: Counts {
                planned: 5,
                in_sync: 2,
                new: 1,
                drifted: 2,
                failed: 0,
            },
            clusters: Counts::default(),
            drifted_resources: 3,
            items: Vec::new(),
            skipped: Vec::new(),
            coverage: None,
        };
        let line = summary.metrics(1_700_000_000_000);
        let meta = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(meta["Namespace"], "autofed");
        assert_eq!(meta["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(line["Function"], "backfill");
        // Every metric declared has its value at the top level, as EMF requires.
        for m in meta["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name}");
        }
        assert_eq!(line["DriftedResources"], 3);
        assert_eq!(line["DriftedAccounts"], 2);
        assert_eq!(line["NewAccounts"], 1);
    }
}
