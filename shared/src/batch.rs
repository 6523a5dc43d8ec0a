//! An SQS batch of organization events (or EKS events): each record parsed and worked on
//! alone, so that one bad message fails only itself.
//!
//! What happens to a record that does not succeed depends on its error's
//! [`Disposition`](crate::error::Disposition): bad input and writes AWS refuses go to the
//! dead-letter queue at once with the reason (retrying cannot help); a not-ready account is
//! re-queued with a growing delay, until `retry.max_deliveries`; anything else is reported as a
//! batch item failure for the queue to redeliver, bounded by the queue's redrive policy.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{StreamExt, stream};
use tracing::{Instrument, error, info, info_span, warn};

use crate::{
    Context,
    aws::queue,
    cluster,
    error::{Disposition, Error, backoff},
    events::{self, AccountEvent, ClusterEvent},
    onboard,
    report::Mode,
};

/// How many records of a batch are worked on at once.
pub const RECORD_CONCURRENCY: usize = 10;

/// Handles a batch of organization events; the response names the records the queue should
/// deliver again.
///
/// The records of a batch are worked on at once (up to [`RECORD_CONCURRENCY`], the next one
/// started as soon as any finishes): an account's onboarding mostly waits on calls, and
/// Identity Center's limits are kept by the context's pacing and assignment permits, not by
/// working one account at a time. Accounts started at different times are in different phases
/// (reading, writing IAM and Okta, waiting on assignment creations), so Identity Center's rate
/// stays busy. A record is started only while at
/// least `retry.assignment_timeout_seconds` plus a minute remain before `deadline` (the
/// invocation's, from Lambda): the rest are handed back at once, so a long batch never runs
/// into the function's timeout, which would fail the whole batch with no partial response.
pub async fn handle(
    ctx: &Context,
    event: SqsEvent,
    deadline: Option<SystemTime>,
) -> SqsBatchResponse {
    handle_batch(ctx, event, deadline, work).await
}

/// Handles a batch of EKS `CreateCluster` / `DeleteCluster` events, as [`handle`] does
/// organization events.
pub async fn handle_clusters(
    ctx: &Context,
    event: SqsEvent,
    deadline: Option<SystemTime>,
) -> SqsBatchResponse {
    handle_batch(ctx, event, deadline, work_on_cluster).await
}

/// Works through a batch with `work`, one record's body at a time.
///
/// NB: the flow is a type parameter, not a value, so that each function links only its own
/// flow: the account onboarder carries no EKS client or Kubernetes code, and the cluster
/// onboarder not the account flow (federation, Okta, assignments), which keeps their binaries
/// (and the relocations the loader applies at every cold start) smaller.
async fn handle_batch(
    ctx: &Context,
    event: SqsEvent,
    deadline: Option<SystemTime>,
    work: impl AsyncFn(&Context, &str) -> Result<(), Error>,
) -> SqsBatchResponse {
    let work = &work;
    let reserve = Duration::from_secs(ctx.config.retry.assignment_timeout_seconds + 60);
    let done: Vec<(String, bool)> = stream::iter(&event.records)
        .map(|record| async move {
            let message_id = record.message_id.clone().unwrap_or_default();
            let span = info_span!("message", message_id = %message_id);
            let out_of_time = deadline
                .is_some_and(|d| d.duration_since(SystemTime::now()).unwrap_or_default() < reserve);
            let done = if out_of_time {
                defer(ctx, record).instrument(span).await;
                false
            } else {
                handle_record(ctx, record, work).instrument(span).await
            };
            (message_id, done)
        })
        .buffer_unordered(RECORD_CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (message_id, _) in done.into_iter().filter(|(_, done)| !done) {
        response.add_failure(message_id);
    }
    response
}

/// Hands a record back to the queue for another invocation, visible again at once.
async fn defer(ctx: &Context, record: &SqsMessage) {
    warn!("not started: too little time left in this invocation; handed back to the queue");
    hand_back(ctx, record, Duration::ZERO).await;
}

/// Makes a record visible again after `delay`; the caller reports it as a batch item failure,
/// so Lambda leaves it in the queue.
async fn hand_back(ctx: &Context, record: &SqsMessage, delay: Duration) {
    if let Some(handle) = record.receipt_handle.as_deref()
        && let Some(queues) = &ctx.queues
        && let Err(e) = queue::delay(&ctx.sqs, queues, handle, delay).await
    {
        warn!(error = %e, "could not set the message's visibility; it returns after the queue's visibility timeout");
    }
}

/// Works on one record; returns whether it is finished with (done, skipped or dead-lettered).
async fn handle_record(
    ctx: &Context,
    record: &SqsMessage,
    work: &impl AsyncFn(&Context, &str) -> Result<(), Error>,
) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    let err = match work(ctx, body).await {
        Ok(()) => return true,
        Err(e) => e,
    };
    let message_id = record.message_id.as_deref().unwrap_or_default();
    match err.disposition() {
        Disposition::DeadLetter => dead_letter(ctx, message_id, body, &err).await,
        Disposition::RetryLater => {
            let deliveries = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1u32);
            let retry = &ctx.config.retry;
            if deliveries >= retry.max_deliveries {
                let Error::NotReady { subject, reason } = err else {
                    unreachable!("only NotReady is RetryLater")
                };
                let gave_up = Error::GaveUp {
                    subject,
                    attempts: deliveries,
                    reason,
                };
                return dead_letter(ctx, message_id, body, &gave_up).await;
            }
            let delay = backoff(
                Duration::from_secs(retry.requeue_base_delay_seconds),
                Duration::from_secs(retry.requeue_max_delay_seconds),
                deliveries,
            );
            warn!(error = %err, deliveries, delay_seconds = delay.as_secs(), "not ready; re-queued with a delay");
            hand_back(ctx, record, delay).await;
            false
        }
        Disposition::Retry => {
            warn!(error = %err, "failed; the queue will deliver it again");
            false
        }
    }
}

fn mode(ctx: &Context) -> Mode {
    if ctx.config.dry_run {
        Mode::Plan
    } else {
        Mode::Apply
    }
}

async fn work_on_cluster(ctx: &Context, body: &str) -> Result<(), Error> {
    match events::parse_cluster(body)? {
        ClusterEvent::Created { cluster } => {
            info!(event = "cluster-created", account_id = %cluster.account_id, region = %cluster.region, cluster = %cluster.name, "event received");
            match cluster::onboard::onboard(ctx, &cluster, mode(ctx))
                .await?
                .error()
            {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        ClusterEvent::Deleted { cluster } => {
            info!(event = "cluster-deleted", account_id = %cluster.account_id, region = %cluster.region, cluster = %cluster.name, "cluster deleted; its access entries and aws-auth went with it");
            Ok(())
        }
        ClusterEvent::CallFailed {
            event_name,
            error_code,
        } => {
            info!(event = event_name, error_code = %error_code, "the call failed; nothing to do");
            Ok(())
        }
    }
}

async fn work(ctx: &Context, body: &str) -> Result<(), Error> {
    let event = events::parse(body)?;
    let Some(account_id) = event.account_id() else {
        match &event {
            AccountEvent::CreationFailed {
                account_name,
                reason,
            } => {
                info!(event = event.kind(), account_name = %account_name, reason = %reason, "account creation failed; nothing to onboard")
            }
            other => info!(event = other.kind(), "no account to work on; skipped"),
        }
        return Ok(());
    };
    info!(event = event.kind(), account_id = %account_id, "event received");
    let mode = mode(ctx);
    let outcome = match event {
        AccountEvent::Departed { .. } => onboard::remove(ctx, account_id, mode).await?,
        _ => onboard::onboard(ctx, account_id, mode).await?,
    };
    match outcome.error() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Moves a record to the dead-letter queue; if that fails, the record stays a batch failure
/// (and the queue's own redrive moves it there eventually).
async fn dead_letter(ctx: &Context, message_id: &str, body: &str, err: &Error) -> bool {
    error!(error = %err, "rejected; sent to the dead-letter queue");
    let Some(queues) = &ctx.queues else {
        error!("no dead-letter queue configured; the queue's redrive moves the message");
        return false;
    };
    match queue::dead_letter(&ctx.sqs, queues, message_id, body, &err.to_string()).await {
        Ok(()) => true,
        Err(e) => {
            error!(error = %e, "could not send to the dead-letter queue");
            false
        }
    }
}
