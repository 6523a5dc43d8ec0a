//! The built function binaries, run as processes through the Lambda Runtime API with the SQS
//! samples from `events/`, configured only through their environment.

use std::time::Duration;

use autofed_tests::{
    bed::Bed,
    fixtures::event,
    function::{FunctionProcess, binary, testbed_path},
    root,
    runtime_api::RuntimeApi,
};
use serde_json::{Value, json};

/// `events/sqs-create-account-result.json` with its record's body aimed at `account_id` and
/// its receipt handle replaced by a real one.
fn sqs_event(body: &str, receipt_handle: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("events/sqs-create-account-result.json")).unwrap();
    let mut sample: Value = serde_json::from_str(&text).unwrap();
    sample["Records"][0]["body"] = json!(body);
    sample["Records"][0]["receiptHandle"] = json!(receipt_handle);
    sample
}

#[tokio::test]
async fn the_built_function_onboards_an_account_through_the_runtime_api() {
    let mut bed = Bed::new().await;
    let id = bed.new_account(&[("team", "payments")]).await;
    let config = testbed_path("runtime-api", "toml");
    std::fs::write(&config, bed.config_text(|c| c)).unwrap();

    let api = RuntimeApi::start("autofed-account-onboarder").await;
    let function = FunctionProcess::start(
        &binary("account-onboarder"),
        "autofed-account-onboarder",
        &api.address,
        &[
            ("AWS_ENDPOINT_URL", bed.proxy.url.clone()),
            ("AUTOFED_CONFIG", config.display().to_string()),
            ("AUTOFED_QUEUE_URL", bed.work.url.clone()),
            ("AUTOFED_DLQ_URL", bed.dlq.url.clone()),
        ],
    );

    // The sample event, delivered through a real queue so its receipt handle is live.
    bed.work
        .send(&event("create-account-result-succeeded.json", &id))
        .await;
    let received = bed.work.receive_raw().await.remove(0);
    let invocation = sqs_event(received.body().unwrap(), received.receipt_handle().unwrap());
    let response = api
        .invoke(invocation.clone(), Duration::from_secs(60))
        .await
        .expect("function response");
    assert_eq!(response, json!({ "batchItemFailures": [] }));

    let iam = aws_sdk_iam::Client::new(&bed.member(&id).await);
    for role in ["Administrator", "PowerUsers", "ReadOnly"] {
        assert!(
            iam.get_role().role_name(role).send().await.is_ok(),
            "{role}"
        );
    }
    assert_eq!(bed.assignments(&id).await.len(), 2);

    // A second invocation of the same event finds nothing to do and writes nothing.
    bed.proxy.clear_calls();
    let response = api
        .invoke(invocation, Duration::from_secs(60))
        .await
        .expect("function response");
    assert_eq!(response, json!({ "batchItemFailures": [] }));
    assert_eq!(bed.writes(), Vec::<String>::new());

    let reports = function.reports();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["account_id"], id.as_str());
    assert_eq!(reports[0]["calls"]["writes"], 11);
    assert_eq!(reports[1]["actions"], json!([]));
    assert_eq!(reports[1]["calls"]["writes"], 0);
    // One JSON line per applied action, naming the account.
    let applied: Vec<_> = function
        .log_json()
        .into_iter()
        .filter(|l| l["status"] == "applied")
        .collect();
    assert_eq!(applied.len(), 11);
    assert!(
        applied
            .iter()
            .all(|l| l["account_id"] == id.as_str() && l["action"].is_string())
    );
    assert!(api.init_error().await.is_none());
}

/// A configuration error stops the function during init, as Lambda reports it
/// (`Runtime.ExitError`), with one log line naming the key and the value. No event is taken.
#[tokio::test]
async fn a_bad_configuration_stops_init_with_the_key_named() {
    let config = testbed_path("bad", "toml");
    std::fs::write(
        &config,
        "[saml]\nmetadata_file = \"x.xml\"\n[[roles]]\nname = \"Admin\"\npath = \"nope\"\n",
    )
    .unwrap();
    let message = init_error(&[("AUTOFED_CONFIG", config.display().to_string())]).await;
    assert!(
        message.contains("`roles[0].path`") && message.contains("\"nope\""),
        "{message}"
    );
}

/// Without the region Lambda sets, init stops naming the variable: the functions take their
/// region and credentials from the environment only, as Lambda provides them.
#[tokio::test]
async fn a_missing_region_stops_init_with_the_variable_named() {
    let message = init_error(&[("AWS_REGION", String::new())]).await;
    assert!(
        message.starts_with("environment variable AWS_REGION: not set"),
        "{message}"
    );
}

/// A certificate bundle named by `SSL_CERT_FILE` that cannot be trusted stops init the same
/// way, naming the variable, the file and what is wrong with it.
#[tokio::test]
async fn an_unusable_certificate_bundle_stops_init_with_the_variable_named() {
    let bundle = testbed_path("bad-bundle", "pem");
    std::fs::write(
        &bundle,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let message = init_error(&[("SSL_CERT_FILE", bundle.display().to_string())]).await;
    assert!(
        message.starts_with("environment variable SSL_CERT_FILE: ")
            && message.contains(&bundle.display().to_string())
            && message.contains("certificate 1: not a usable CA certificate"),
        "{message}"
    );
}

/// Starts the account onboarder with `env` (and queue URLs) and returns the error its init
/// logs; asserts the process exits unsuccessfully without taking an event.
async fn init_error(env: &[(&str, String)]) -> String {
    let api = RuntimeApi::start("autofed-account-onboarder").await;
    let mut env = env.to_vec();
    env.push(("AUTOFED_QUEUE_URL", "http://127.0.0.1:9/q".into()));
    env.push(("AUTOFED_DLQ_URL", "http://127.0.0.1:9/dlq".into()));
    let mut function = FunctionProcess::start(
        &binary("account-onboarder"),
        "autofed-account-onboarder",
        &api.address,
        &env,
    );
    let status = function
        .exited(Duration::from_secs(30))
        .await
        .expect("init fails and the process exits");
    assert!(!status.success());
    assert_eq!(
        api.first_poll(Duration::ZERO).await,
        None,
        "no event is taken"
    );
    let lines = function.log_json();
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .expect("an error line");
    error["error"].as_str().unwrap().to_string()
}

/// The README's demo: both function binaries through the Runtime API, the account onboarded
/// (IAM, Okta, Identity Center), then an API-mode and a CONFIG_MAP cluster in it. The sandbox
/// checks what each run did in the emulators and exits non-zero if a run is not as it should
/// be (for example a rerun that writes, or a foreign aws-auth row that changed).
#[test]
fn the_sandbox_demo_onboards_an_account_and_its_clusters() {
    let out = std::process::Command::new(binary("sandbox"))
        .output()
        .expect("run the sandbox");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "third run: 0 actions planned, 0 write calls",
        "delivery 1: 1 message(s) handed back",
        "sandbox: OK",
    ] {
        assert!(stdout.contains(line), "missing {line:?}:\n{stdout}");
    }
}
