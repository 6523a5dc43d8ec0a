//! The smallest Rust Lambda function: `lambda_runtime` answering every event with `{}`. The
//! init-time benchmark (`tests/tests/bench.rs`) starts it beside a real function, so that the
//! function's own init is measured against the runtime's floor on the same machine and run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({}))
    }))
    .await
}
