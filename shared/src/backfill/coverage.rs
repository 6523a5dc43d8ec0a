//! Coverage of the cluster-event forwarding StackSet: every member account in its target OUs
//! (and the OUs beneath them) must have a current instance in every cluster region, or that
//! account's new EKS clusters are never seen. A plan lists the account/region pairs that have
//! no instance, or a failed or outdated one; an apply deploys the missing ones and re-deploys
//! the others, and reports each operation's outcome.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde::Serialize;
use tracing::{info, warn};

use crate::{
    Context,
    aws::cfn::{self, OperationOutcome},
    config::ConfigError,
    error::{Error, Result},
    ids::AccountId,
};

/// The environment variable naming the forwarding StackSet (unset: coverage is not checked).
pub const STACK_SET_ENV: &str = "AUTOFED_FORWARDING_STACK_SET";
/// The environment variable listing the StackSet's target OUs (or the root), comma-separated.
pub const TARGETS_ENV: &str = "AUTOFED_FORWARDING_TARGETS";
/// The environment variable listing the StackSet's regions, comma-separated.
pub const REGIONS_ENV: &str = "AUTOFED_FORWARDING_REGIONS";

/// How long an apply waits for each StackSet operation before reporting it as still running.
/// A StackSet works through a large organization at its own pace; the operation goes on after
/// the backfill returns, and the next plan shows what is left.
pub const OPERATION_WAIT: Duration = Duration::from_secs(300);

/// The forwarding StackSet, as the template deploys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Its name.
    pub stack_set: String,
    /// The OUs (or the root) it targets.
    pub targets: Vec<String>,
    /// Its regions.
    pub regions: Vec<String>,
}

impl Forwarding {
    /// From [`STACK_SET_ENV`], [`TARGETS_ENV`] and [`REGIONS_ENV`]; `None` when the StackSet is
    /// not named.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Ok(stack_set) = std::env::var(STACK_SET_ENV) else {
            return Ok(None);
        };
        let list = |var: &'static str| -> Result<Vec<String>, ConfigError> {
            let items: Vec<String> = std::env::var(var)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if items.is_empty() {
                return Err(ConfigError::Env {
                    var,
                    reason: format!("required with {STACK_SET_ENV}, and empty or not set"),
                });
            }
            Ok(items)
        };
        let targets = list(TARGETS_ENV)?;
        if let Some(bad) = targets
            .iter()
            .find(|t| !(t.starts_with("ou-") || t.starts_with("r-")))
        {
            return Err(ConfigError::Env {
                var: TARGETS_ENV,
                reason: format!(
                    "{} is not an OU id (ou-...) or a root id (r-...)",
                    crate::ids::quote(bad)
                ),
            });
        }
        let regions = list(REGIONS_ENV)?;
        if let Some(bad) = regions
            .iter()
            .find(|r| !crate::config::cluster::is_region(r))
        {
            return Err(ConfigError::Env {
                var: REGIONS_ENV,
                reason: format!("{} is not a region name", crate::ids::quote(bad)),
            });
        }
        Ok(Some(Self {
            stack_set,
            targets,
            regions,
        }))
    }
}

/// One account and region without a current instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Gap {
    /// The account.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// `missing`, `failed` or `outdated`.
    pub state: &'static str,
    /// CloudFormation's reason, for a failed or outdated instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The StackSet's coverage of the accounts a backfill covers.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The StackSet.
    pub stack_set: String,
    /// Account/region pairs that should have an instance.
    pub expected: usize,
    /// Of those, the pairs whose instance is current (or being deployed).
    pub current: usize,
    /// The others, by account and region.
    pub gaps: Vec<Gap>,
    /// What an apply started, and how each operation ended.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationOutcome>,
}

/// Compares the StackSet's instances with the accounts of `accounts` that lie in its targets.
pub async fn check(ctx: &Context, fw: &Forwarding, accounts: &[AccountId]) -> Result<Coverage> {
    let in_targets = accounts_under(&ctx.organizations, &fw.targets).await?;
    let client = crate::aws::clients::cloudformation(&ctx.aws);
    let instances: BTreeMap<(String, String), cfn::Instance> =
        cfn::instances(&client, &fw.stack_set)
            .await?
            .into_iter()
            .map(|i| ((i.account.clone(), i.region.clone()), i))
            .collect();
    let mut expected = 0;
    let mut gaps = Vec::new();
    for account in accounts.iter().filter(|a| in_targets.contains(a.as_str())) {
        for region in &fw.regions {
            expected += 1;
            let key = (account.to_string(), region.clone());
            let gap = gap_of(instances.get(&key));
            if let Some((state, reason)) = gap {
                gaps.push(Gap {
                    account_id: key.0,
                    region: key.1,
                    state,
                    reason,
                });
            }
        }
    }
    gaps.sort();
    for g in &gaps {
        warn!(account_id = %g.account_id, region = %g.region, state = g.state, stack_set = %fw.stack_set, "no current forwarding StackSet instance");
    }
    Ok(Coverage {
        stack_set: fw.stack_set.clone(),
        current: expected - gaps.len(),
        expected,
        gaps,
        operations: Vec::new(),
    })
}

/// Whether an account/region pair with this instance (or none) is a gap, and which kind:
/// `missing`; `failed` (inoperable, or its last deployment failed or was cancelled);
/// `outdated` (not current and not being deployed). Current instances and those being
/// deployed are not gaps.
fn gap_of(instance: Option<&cfn::Instance>) -> Option<(&'static str, Option<String>)> {
    let Some(i) = instance else {
        return Some(("missing", None));
    };
    match (i.status.as_str(), i.detailed.as_deref()) {
        (_, Some("PENDING" | "RUNNING")) => None,
        ("INOPERABLE", _) | (_, Some("FAILED" | "FAILED_IMPORT" | "CANCELLED")) => {
            Some(("failed", i.reason.clone()))
        }
        ("CURRENT", _) => None,
        _ => Some(("outdated", i.reason.clone())),
    }
}

/// Deploys the missing instances and re-deploys the failed and outdated ones: one operation
/// per set of accounts that lack the same regions (a new account usually lacks them all), one
/// at a time, as a StackSet runs one operation at a time. Each outcome goes into `coverage`.
pub async fn fill(ctx: &Context, fw: &Forwarding, coverage: &mut Coverage) -> Result<()> {
    let client = crate::aws::clients::cloudformation(&ctx.aws);
    for update in [false, true] {
        // regions lacking -> accounts lacking exactly those.
        let mut by_account: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for g in coverage
            .gaps
            .iter()
            .filter(|g| (g.state != "missing") == update)
        {
            by_account
                .entry(&g.account_id)
                .or_default()
                .insert(&g.region);
        }
        let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (account, regions) in by_account {
            groups
                .entry(regions.into_iter().map(String::from).collect())
                .or_default()
                .push(account.to_string());
        }
        for (regions, accounts) in groups {
            let id = cfn::deploy_instances(
                &client,
                &fw.stack_set,
                &fw.targets,
                &accounts,
                &regions,
                update,
            )
            .await?;
            info!(stack_set = %fw.stack_set, operation_id = %id, accounts = accounts.len(), regions = ?regions, update, "StackSet operation started");
            let outcome = cfn::wait_operation(&client, &fw.stack_set, &id, OPERATION_WAIT).await?;
            info!(stack_set = %fw.stack_set, operation_id = %id, status = %outcome.status, failed = outcome.failed.len(), "StackSet operation ended");
            coverage.operations.push(outcome);
        }
    }
    Ok(())
}

/// The accounts in these OUs and every OU beneath them (a root id: the whole organization).
async fn accounts_under(
    org: &aws_sdk_organizations::Client,
    targets: &[String],
) -> Result<BTreeSet<String>> {
    let mut accounts = BTreeSet::new();
    let mut pending: Vec<String> = targets.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(parent) = pending.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        let found: Vec<_> = org
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| Error::aws("organizations", "ListAccountsForParent", e))?;
        accounts.extend(
            found
                .into_iter()
                .flat_map(|p| p.accounts.unwrap_or_default())
                .filter_map(|a| a.id),
        );
        let ous: Vec<_> = org
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| Error::aws("organizations", "ListOrganizationalUnitsForParent", e))?;
        pending.extend(
            ous.into_iter()
                .flat_map(|p| p.organizational_units.unwrap_or_default())
                .filter_map(|o| o.id),
        );
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(status: &str, detailed: Option<&str>) -> cfn::Instance {
        cfn::Instance {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            status: status.into(),
            detailed: detailed.map(String::from),
            reason: Some("because".into()),
        }
    }

    #[test]
    fn gaps_are_missing_failed_or_outdated_instances() {
        assert_eq!(gap_of(None), Some(("missing", None)));
        let kind = |s, d| gap_of(Some(&instance(s, d))).map(|g| g.0);
        assert_eq!(kind("CURRENT", Some("SUCCEEDED")), None);
        assert_eq!(kind("CURRENT", None), None);
        assert_eq!(kind("OUTDATED", Some("RUNNING")), None);
        assert_eq!(kind("OUTDATED", Some("PENDING")), None);
        assert_eq!(kind("OUTDATED", Some("FAILED")), Some("failed"));
        assert_eq!(kind("CURRENT", Some("CANCELLED")), Some("failed"));
        assert_eq!(kind("INOPERABLE", Some("INOPERABLE")), Some("failed"));
        assert_eq!(
            kind("OUTDATED", Some("SKIPPED_SUSPENDED_ACCOUNT")),
            Some("outdated")
        );
        assert_eq!(
            gap_of(Some(&instance("OUTDATED", Some("FAILED"))))
                .unwrap()
                .1
                .as_deref(),
            Some("because")
        );
    }
}
