//! autofed's test bed: moto started on loopback, a fault-injecting proxy, an emulation of
//! Lambda's SQS event source and of the Lambda Runtime API, and fixtures that build a sandbox
//! organization. Used by the end-to-end tests and by the `sandbox` demo.
//!
//! Every server here listens on 127.0.0.1 on a port the kernel picks, and is stopped by the
//! process that started it.

pub mod bed;
pub mod esm;
pub mod fixtures;
pub mod function;
pub mod moto;
pub mod okta;
pub mod proxy;
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
