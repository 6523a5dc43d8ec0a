//! SQS housekeeping for a work queue: re-queue a message with a delay, or move it to the
//! dead-letter queue at once.

use std::time::Duration;

use aws_sdk_sqs::{Client, types::MessageAttributeValue};

use crate::error::{Error, Result};

/// The queues a worker function reads from and dead-letters to.
#[derive(Debug, Clone)]
pub struct Queues {
    /// The work queue the function's event source mapping reads.
    pub work_url: String,
    /// Its dead-letter queue.
    pub dead_letter_url: String,
}

/// Makes a received message visible again only after `delay`. With the message then reported
/// as a batch item failure, Lambda leaves it in the queue and it comes back after the delay.
pub async fn delay(
    sqs: &Client,
    queues: &Queues,
    receipt_handle: &str,
    delay: Duration,
) -> Result<()> {
    sqs.change_message_visibility()
        .queue_url(&queues.work_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(delay.as_secs().min(43_200) as i32)
        .send()
        .await
        .map_err(|e| Error::aws("sqs", "ChangeMessageVisibility", e))?;
    Ok(())
}

/// Sends a message that can never succeed to the dead-letter queue, with the reason as a
/// message attribute. The caller then reports the original as done, so it is not retried.
pub async fn dead_letter(
    sqs: &Client,
    queues: &Queues,
    message_id: &str,
    body: &str,
    reason: &str,
) -> Result<()> {
    let attr = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .expect("data type is set")
    };
    sqs.send_message()
        .queue_url(&queues.dead_letter_url)
        .message_body(if body.is_empty() { "(empty)" } else { body })
        .message_attributes("autofed-error", attr(reason))
        .message_attributes("autofed-source-message-id", attr(message_id))
        .send()
        .await
        .map_err(|e| Error::aws("sqs", "SendMessage", e))?;
    Ok(())
}
