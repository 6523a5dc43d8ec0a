//! The backfill: enumerates the organization's accounts (and their EKS clusters) and either
//! plans them all, returning one aggregated report, or enqueues them onto the onboarders'
//! queues. It never does the work inline: a plan only reads, and an apply only sends messages,
//! so the onboarders' concurrency limits hold and a large organization fits Lambda's 15
//! minutes. The drift schedule runs a plan; see [`summary`] for its metric.

pub mod coverage;
pub mod enqueue;
pub mod request;
pub mod summary;

use aws_types::region::Region;
use futures::{StreamExt, stream};
use serde_json::Value;
use tracing::{info, instrument};

use crate::{
    Context,
    aws::{clients, eks, org, sts},
    config::ConfigError,
    context::queue_url,
    error::{Error, Result},
    events::ClusterRef,
    ids::AccountId,
    onboard::{self, Outcome},
    report::Mode,
};
pub use request::{Accounts, Request, RequestError};
use summary::{Item, Skip, Summary};

/// The environment variable naming the account onboarder's queue.
pub const ACCOUNT_QUEUE_ENV: &str = "AUTOFED_ACCOUNT_QUEUE_URL";
/// The environment variable naming the cluster onboarder's queue.
pub const CLUSTER_QUEUE_ENV: &str = "AUTOFED_CLUSTER_QUEUE_URL";

/// How many accounts or clusters are planned (or accounts listed for clusters) at once. Each
/// plan is a few dozen reads spread over IAM (per account), Identity Center and Okta; eight at
/// once stay well inside their rate limits while a 2,000-account organization still plans
/// within Lambda's 15 minutes.
pub const PLAN_CONCURRENCY: usize = 8;

/// Where an apply sends its work: the onboarders' own queues, and the forwarding StackSet's
/// instances.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The account onboarder's queue.
    pub accounts_url: String,
    /// The cluster onboarder's queue.
    pub clusters_url: String,
    /// The cluster-event forwarding StackSet, whose coverage of the accounts is checked (and,
    /// on apply, filled); not checked when absent.
    pub forwarding: Option<coverage::Forwarding>,
}

impl Outbox {
    /// The queue URLs from [`ACCOUNT_QUEUE_ENV`] and [`CLUSTER_QUEUE_ENV`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            accounts_url: queue_url(ACCOUNT_QUEUE_ENV)?,
            clusters_url: queue_url(CLUSTER_QUEUE_ENV)?,
            forwarding: coverage::Forwarding::from_env()?,
        })
    }
}

/// Runs a backfill: the aggregated plan ([`summary::Summary`]) or what was enqueued
/// ([`enqueue::Enqueued`]), as JSON. Bad input and unknown accounts fail before anything is
/// read from a member account or sent.
#[instrument(skip_all, fields(mode = ?request.mode))]
pub async fn run(ctx: &Context, outbox: &Outbox, request: &Request) -> Result<Value> {
    // Boxed, as `onboard` boxes its run: the SDK's futures nest deeply (the Okta client's
    // requests hold the secret's read), and unboxed this one outgrows the compiler's layout
    // depth in the backfill binary.
    Box::pin(backfill(ctx, outbox, request)).await
}

async fn backfill(ctx: &Context, outbox: &Outbox, request: &Request) -> Result<Value> {
    let (accounts, mut skipped) = select(ctx, &request.accounts).await?;
    let (clusters, failed_listings) = if request.clusters {
        list_clusters(ctx, &accounts, &request.regions).await
    } else {
        (Vec::new(), Vec::new())
    };
    info!(
        accounts = accounts.len(),
        clusters = clusters.len(),
        skipped = skipped.len(),
        "backfill selected its targets"
    );
    match request.mode {
        Mode::Plan => {
            let mut items = failed_listings;
            let plans = bounded(&accounts, |id| onboard::onboard(ctx, id, Mode::Plan)).await;
            for (id, result) in plans {
                classify(id, None, result, &mut items, &mut skipped);
            }
            let plans = bounded(&clusters, |c| {
                crate::cluster::onboard::onboard(ctx, c, Mode::Plan)
            })
            .await;
            for (c, result) in plans {
                classify(&c.account_id, Some(c), result, &mut items, &mut skipped);
            }
            let mut summary = Summary::new(accounts.len(), clusters.len(), items, skipped);
            if let Some(fw) = &outbox.forwarding {
                let coverage = coverage::check(ctx, fw, &accounts).await?;
                // A missing forwarding instance hides an account's clusters: it counts
                // towards the drift metric like any other drifted resource.
                summary.drifted_resources += coverage.gaps.len();
                summary.coverage = Some(coverage);
            }
            summary.log();
            Ok(serde_json::to_value(&summary).expect("a summary serializes"))
        }
        Mode::Apply => {
            let coverage = match &outbox.forwarding {
                Some(fw) => {
                    let mut coverage = coverage::check(ctx, fw, &accounts).await?;
                    coverage::fill(ctx, fw, &mut coverage).await?;
                    Some(coverage)
                }
                None => None,
            };
            let mut enqueued = enqueue::enqueue(
                &ctx.sqs,
                outbox,
                &accounts,
                &clusters,
                skipped,
                failed_listings,
            )
            .await?;
            enqueued.coverage = coverage;
            Ok(serde_json::to_value(&enqueued).expect("a result serializes"))
        }
    }
}

/// Runs `work` on each item, [`PLAN_CONCURRENCY`] at a time; each item with its result.
async fn bounded<'a, T, R, Fut>(items: &'a [T], work: impl Fn(&'a T) -> Fut) -> Vec<(&'a T, R)>
where
    Fut: Future<Output = R>,
{
    stream::iter(items)
        .map(|item| {
            let run = work(item);
            async move { (item, run.await) }
        })
        .buffer_unordered(PLAN_CONCURRENCY)
        .collect()
        .await
}

/// Sorts one plan's outcome into the summary's items (new, drifted, failed) or skips.
fn classify(
    account_id: &AccountId,
    cluster: Option<&ClusterRef>,
    result: Result<Outcome>,
    items: &mut Vec<Item>,
    skipped: &mut Vec<Skip>,
) {
    let subject = match cluster {
        Some(c) => format!("cluster {c}"),
        None => format!("account {account_id}"),
    };
    match result {
        Ok(Outcome::Reconciled(report)) => {
            if let Some(item) = Item::from_report(account_id, cluster, &report) {
                items.push(item);
            }
        }
        Ok(Outcome::Skipped { reason, .. }) => skipped.push(Skip { subject, reason }),
        Ok(Outcome::Inactive { status, .. }) => skipped.push(Skip {
            subject,
            reason: format!("the account is {status}"),
        }),
        Ok(Outcome::ManagementAccount) => skipped.push(Skip {
            subject,
            reason: "the management account is not onboarded".into(),
        }),
        Err(e @ Error::NotReady { .. }) => skipped.push(Skip {
            subject,
            reason: e.to_string(),
        }),
        Err(e) => items.push(Item::failed(account_id, cluster, &e)),
    }
}

/// The accounts to cover: active members, the management account left out (skipped). A named
/// account that is not a member fails the whole request before anything else is read.
async fn select(ctx: &Context, wanted: &Accounts) -> Result<(Vec<AccountId>, Vec<Skip>)> {
    let pages: Vec<_> = ctx
        .organizations
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::aws("organizations", "ListAccounts", e))?;
    // (id, state, whether it is the management account, which every account's ARN names)
    let members: Vec<(AccountId, String, bool)> = pages
        .into_iter()
        .flat_map(|p| p.accounts.unwrap_or_default())
        .filter_map(|a| {
            let id = AccountId::parse(a.id.as_deref()?).ok()?;
            let state = org::state_of(&a);
            let management =
                a.arn.as_deref().and_then(org::management_account) == Some(id.as_str());
            Some((id, state, management))
        })
        .collect();
    if let Accounts::Only(ids) = wanted
        && let Some(unknown) = ids
            .iter()
            .find(|id| !members.iter().any(|(m, ..)| m == *id))
    {
        return Err(Error::UnknownAccount {
            account_id: unknown.to_string(),
        });
    }
    let mut accounts = Vec::new();
    let mut skipped = Vec::new();
    for (id, state, management) in members {
        if let Accounts::Only(ids) = wanted
            && !ids.contains(&id)
        {
            continue;
        }
        let subject = format!("account {id}");
        if management {
            skipped.push(Skip {
                subject,
                reason: "the management account is not onboarded".into(),
            });
        } else if state != "ACTIVE" {
            skipped.push(Skip {
                subject,
                reason: format!("the account is {state}"),
            });
        } else {
            accounts.push(id);
        }
    }
    accounts.sort();
    Ok((accounts, skipped))
}

/// The clusters of `accounts` in `regions`. An account whose clusters cannot be listed is a
/// failed item; the others go on.
async fn list_clusters(
    ctx: &Context,
    accounts: &[AccountId],
    regions: &[String],
) -> (Vec<ClusterRef>, Vec<Item>) {
    let listings = bounded(accounts, |id| clusters_of(ctx, id, regions)).await;
    let mut clusters = Vec::new();
    let mut failed = Vec::new();
    for (id, listing) in listings {
        match listing {
            Ok(found) => clusters.extend(found),
            Err(e) => failed.push(Item::failed(id, None, &e)),
        }
    }
    clusters.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.name).cmp(&(&b.account_id, &b.region, &b.name))
    });
    (clusters, failed)
}

async fn clusters_of(ctx: &Context, id: &AccountId, regions: &[String]) -> Result<Vec<ClusterRef>> {
    let session = sts::assume(
        &ctx.sts,
        &ctx.aws,
        ctx.partition,
        id,
        &ctx.execution_roles(),
        sts::CLUSTER_ACTIONS,
        &ctx.config.retry,
    )
    .await?;
    let mut found = Vec::new();
    for region in regions {
        let regional = session
            .to_builder()
            .region(Region::new(region.clone()))
            .build();
        for name in eks::list_clusters(&clients::eks(&regional)).await? {
            found.push(ClusterRef {
                account_id: id.clone(),
                region: region.clone(),
                name,
            });
        }
    }
    Ok(found)
}
