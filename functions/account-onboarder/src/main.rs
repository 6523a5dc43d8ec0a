//! The account onboarder: a Lambda fed by an SQS queue of organization events. It builds its
//! context once, then hands each batch to [`autofed::batch::handle`], which reports the
//! records to deliver again.

use autofed::Context;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    autofed::telemetry::init();
    let ctx = match Context::from_env().await {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(e.into());
        }
    };
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(autofed::batch::handle(ctx, event.payload).await)
    }))
    .await
}
