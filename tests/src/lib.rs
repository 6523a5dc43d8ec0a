//! autofed's test bed: moto started on loopback, a fault-injecting proxy, an emulation of
//! Lambda's SQS event source and of the Lambda Runtime API, and fixtures that build a sandbox
//! organization. Used by the end-to-end tests and by the `sandbox` demo.
//!
//! Every server here listens on 127.0.0.1 on a port the kernel picks, and is stopped by the
//! process that started it.

pub mod bed;
pub mod eks;
pub mod esm;
pub mod faults;
pub mod fixtures;
pub mod flows;
pub mod function;
pub mod ic_limits;
pub mod kubernetes;
pub mod moto;
pub mod okta;
pub mod okta_filter;
pub mod proxy;
pub mod routing;
pub mod runtime_api;

use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The Okta API token every test and the demo use. `tests/run.sh` scans every log line and
/// report of the whole run for it (and fails if it is found, or if there is nothing to scan).
pub const OKTA_TOKEN: &str = "00TESTtokenNeverLogged-9f8e7d6c5b4a";

/// A wrong Okta token (a test's), scanned for in the same way.
pub const OKTA_WRONG_TOKEN: &str = "00WRONGtokenAlsoNeverLogged-1a2b3c";

/// Where each test process writes its JSON log lines (reports included), for that scan.
pub fn log_dir() -> PathBuf {
    function::target_dir().join("test-logs")
}

/// Sends this process's `tracing` output, as JSON lines, to a file in [`log_dir`]; once per
/// process (later calls do nothing).
pub fn capture_logs(name: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = log_dir();
        std::fs::create_dir_all(&dir).expect("log dir");
        let file = std::fs::File::create(dir.join(format!("{name}-{}.jsonl", std::process::id())))
            .expect("log file");
        let _already_set = tracing_subscriber::fmt()
            .json()
            .with_writer(std::sync::Mutex::new(file))
            .with_max_level(tracing::Level::INFO)
            .try_init();
    });
}

/// The management account moto answers as for the test credentials.
pub const MANAGEMENT_ACCOUNT: &str = "123456789012";

/// An SDK configuration that talks to `endpoint` as the management account, in us-east-1.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing-management",
            "testing-secret",
            None,
            None,
            "autofed-testbed",
        )))
        .build()
}
