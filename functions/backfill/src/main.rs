//! The backfill: invoked by hand (`{"mode": "plan" | "apply", "accounts": "all" | [ids],
//! "clusters": true | false, "regions": [...]}`) and by the drift schedule (a plan). It builds
//! its context once, then hands each input to [`autofed::backfill::run`]: a plan returns the
//! aggregated report, an apply what it enqueued on the onboarders' queues.

use autofed::{
    Context,
    backfill::{self, Outbox, Request},
    context::Needs,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    autofed::telemetry::init();
    let init = async {
        let outbox = Outbox::from_env()?;
        let ctx = Context::from_env(Needs::BACKFILL).await?;
        Ok::<_, autofed::Error>((ctx, outbox))
    };
    let (ctx, outbox) = match init.await {
        Ok(parts) => parts,
        Err(e) => {
            // One JSON line naming the problem; Lambda reports the exit as Runtime.ExitError.
            tracing::error!(error = %e, "cannot start");
            std::process::exit(1);
        }
    };
    let (ctx, outbox) = (&ctx, &outbox);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let result = async {
            let request = Request::parse(event.payload)?;
            backfill::run(ctx, outbox, &request).await
        }
        .await;
        result.map_err(|e| {
            tracing::error!(error = %e, "backfill failed");
            Error::from(e.to_string())
        })
    }))
    .await
}
