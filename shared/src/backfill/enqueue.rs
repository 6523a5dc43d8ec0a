//! An apply: one message per account and cluster onto the onboarders' queues, in batches of
//! ten (SQS's `SendMessageBatch` limit).

use aws_sdk_sqs::{Client, types::SendMessageBatchRequestEntry};
use serde::Serialize;
use tracing::info;

use super::{
    Outbox,
    summary::{Item, Skip},
};
use crate::{
    error::{Error, Result},
    events::{self, ClusterRef},
    ids::AccountId,
};

/// What an apply sent.
#[derive(Debug, Clone, Serialize)]
pub struct Enqueued {
    /// Always `apply`.
    pub mode: &'static str,
    /// The accounts, each now a message on the account onboarder's queue.
    pub accounts: Vec<String>,
    /// The clusters (`account/region/name`), each a message on the cluster onboarder's queue.
    pub clusters: Vec<String>,
    /// What was left out, and why.
    pub skipped: Vec<Skip>,
    /// Accounts whose clusters could not be listed.
    pub failed: Vec<Item>,
    /// The forwarding StackSet's coverage before the apply, and the operations that filled
    /// its gaps, when it is checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<super::coverage::Coverage>,
}

/// Sends the messages. A message SQS refuses fails the run (naming it); those sent before
/// stay sent, and a rerun sends them again, which the onboarders treat as a rerun.
pub async fn enqueue(
    sqs: &Client,
    outbox: &Outbox,
    accounts: &[AccountId],
    clusters: &[ClusterRef],
    skipped: Vec<Skip>,
    failed: Vec<Item>,
) -> Result<Enqueued> {
    let account_messages: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.to_string(), events::account_message(a)))
        .collect();
    send(sqs, &outbox.accounts_url, &account_messages).await?;
    let cluster_messages: Vec<(String, String)> = clusters
        .iter()
        .map(|c| (c.to_string(), events::cluster_message(c)))
        .collect();
    send(sqs, &outbox.clusters_url, &cluster_messages).await?;
    info!(
        accounts = accounts.len(),
        clusters = clusters.len(),
        "backfill enqueued"
    );
    Ok(Enqueued {
        mode: "apply",
        accounts: account_messages.into_iter().map(|(s, _)| s).collect(),
        clusters: cluster_messages.into_iter().map(|(s, _)| s).collect(),
        skipped,
        failed,
        coverage: None,
    })
}

/// Sends `(subject, body)` messages to `queue_url`, ten per call.
async fn send(sqs: &Client, queue_url: &str, messages: &[(String, String)]) -> Result<()> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::aws("sqs", "SendMessageBatch", e))?;
        if let Some(f) = out.failed.first() {
            let subject =
                f.id.parse::<usize>()
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .map_or("?", |(s, _)| s.as_str());
            return Err(Error::Aws {
                service: "sqs",
                operation: "SendMessageBatch",
                code: f.code.clone(),
                message: format!(
                    "the message for {subject} was not sent: {}",
                    f.message.as_deref().unwrap_or("no reason given")
                ),
                retryable: !f.sender_fault,
            });
        }
    }
    Ok(())
}
