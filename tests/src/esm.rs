//! Lambda's SQS event source mapping, emulated: receive a batch from a real (moto) queue, hand
//! it to the function as an `SqsEvent`, then delete the records the function did not report as
//! failures, as Lambda does with `ReportBatchItemFailures`.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::{
    Client,
    types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName},
};
use serde_json::json;

/// A queue the emulated event source reads.
pub struct Queue {
    /// The SQS client.
    pub sqs: Client,
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// Held while receiving: SQS hides a received message from every other receiver at once,
    /// but moto's threaded server can hand one message to two receives that overlap, which
    /// would be a duplicate delivery of the test bed's making.
    receiving: tokio::sync::Mutex<()>,
}

impl Queue {
    /// Creates a queue (idempotent by name).
    pub async fn create(sqs: &Client, name: &str) -> Queue {
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        Queue {
            sqs: sqs.clone(),
            url,
            arn,
            receiving: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends a message body.
    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("send message");
    }

    /// Receives up to 10 messages as the raw SQS messages (for assertions).
    pub async fn receive_raw(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.receive_up_to(10).await
    }

    /// Receives up to `max` (1 to 10) messages.
    async fn receive_up_to(&self, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
        let _receiving = self.receiving.lock().await;
        self.sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// The event of one delivery of `body`, not taken from the queue (no receipt handle): for
    /// tests that deliver the same message again at will, or twice at once.
    pub fn delivery(message_id: &str, body: &str, receive_count: u32) -> SqsEvent {
        serde_json::from_value(json!({"Records": [{
            "messageId": message_id,
            "body": body,
            "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1",
        }]}))
        .expect("an SqsEvent")
    }

    /// Receives a batch of up to `max` messages and builds the event Lambda would deliver;
    /// `None` if the queue has no visible message. Past SQS's 10 messages a receive, the
    /// batch is gathered from several receives, as an event source mapping with a batching
    /// window does (the window itself is not waited for: the queue is full in the benchmarks).
    pub async fn receive_event(&self, max: i32) -> Option<SqsEvent> {
        let mut messages = Vec::new();
        while (messages.len() as i32) < max {
            let got = self
                .receive_up_to((max - messages.len() as i32).min(10))
                .await;
            if got.is_empty() {
                break;
            }
            messages.extend(got);
        }
        if messages.is_empty() {
            return None;
        }
        let records: Vec<_> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        Some(serde_json::from_value(json!({ "Records": records })).expect("an SqsEvent"))
    }

    /// Delivers one batch to `function` and deletes what it finished; returns its response,
    /// or `None` if nothing was visible.
    pub async fn deliver<F, Fut>(&self, function: F) -> Option<SqsBatchResponse>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        self.deliver_up_to(10, function).await
    }

    /// [`Queue::deliver`] with batches of at most `batch_size` messages (an event source
    /// mapping's `BatchSize`).
    pub async fn deliver_up_to<F, Fut>(
        &self,
        batch_size: i32,
        function: F,
    ) -> Option<SqsBatchResponse>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let event = self.receive_event(batch_size).await?;
        let handles: Vec<(String, String)> = event
            .records
            .iter()
            .map(|r| {
                (
                    r.message_id.clone().unwrap_or_default(),
                    r.receipt_handle.clone().unwrap_or_default(),
                )
            })
            .collect();
        let response = function(event).await;
        let done: Vec<_> = handles
            .into_iter()
            .filter(|(id, _)| {
                !response
                    .batch_item_failures
                    .iter()
                    .any(|f| &f.item_identifier == id)
            })
            .collect();
        // Ten to a call: in Lambda the poller deletes them, outside the function's time; one
        // call per record to moto made the end of every batch of the benchmark's backfill
        // slower than the function is.
        for chunk in done.chunks(10) {
            let entries = chunk.iter().enumerate().map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .expect("an entry has its id and receipt handle")
            });
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
                .expect("delete message batch");
            assert!(out.failed.is_empty(), "deletes failed: {:?}", out.failed);
        }
        Some(response)
    }

    /// Delivers the next batch to `function` once a message is visible (a handed-back one
    /// comes back after its delay); `None` if none comes within 10 s.
    pub async fn deliver_when_visible<F, Fut>(&self, function: F) -> Option<SqsBatchResponse>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        for _ in 0..40 {
            if let Some(response) = self.deliver(&function).await {
                return Some(response);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        None
    }

    /// Takes the visible messages of a dead-letter queue (received, then deleted): each body
    /// with the reason autofed gave in its `autofed-error` attribute.
    pub async fn take_dead_letters(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for m in self.receive_raw().await {
            let reason = m
                .message_attributes()
                .and_then(|a| a.get("autofed-error"))
                .and_then(|a| a.string_value())
                .expect("a dead letter carries autofed-error")
                .to_string();
            self.sqs
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete message");
            out.push((m.body().unwrap_or_default().to_string(), reason));
        }
        out
    }

    /// How many messages the queue holds, visible or not.
    pub async fn depth(&self) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|k| attrs.get(k)?.parse::<usize>().ok())
        .sum()
    }
}
