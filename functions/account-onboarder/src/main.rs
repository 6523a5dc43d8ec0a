//! The account onboarder: a Lambda fed by an SQS queue of organization events. It builds its
//! context once, then hands each batch to [`autofed::batch::handle`], which reports the
//! records to deliver again.

use autofed::{Context, context::Needs};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{Duration, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    autofed::telemetry::init();
    let ctx = match Context::from_env(Needs::ACCOUNT_ONBOARDER).await {
        Ok(ctx) => ctx,
        Err(e) => {
            // One JSON line naming the problem; Lambda reports the exit as Runtime.ExitError.
            tracing::error!(error = %e, "cannot start");
            std::process::exit(1);
        }
    };
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(
            autofed::batch::handle(ctx, event.payload, Some(deadline)).await,
        )
    }))
    .await
}
