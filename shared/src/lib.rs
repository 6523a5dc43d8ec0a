//! autofed's library: everything the Lambda functions do, so that each function stays a thin
//! `main` that builds a [`Context`] once and hands events to it.
//!
//! The core is desired state -> plan -> apply: [`desired`] says what must exist for an account,
//! [`observe`] reads what does, [`plan`] compares the two without I/O, and [`apply`] carries the
//! plan out. [`onboard`] ties those steps together for one account and [`batch`] does it for an
//! SQS batch of organization events.

pub mod apply;
pub mod aws;
pub mod backfill;
pub mod batch;
pub mod calls;
pub mod cluster;
pub mod config;
pub mod context;
pub mod desired;
pub mod error;
pub mod events;
pub mod ids;
pub mod kube;
pub mod observe;
pub mod okta;
pub mod onboard;
pub mod plan;
pub mod policy;
pub mod report;
pub mod saml;
pub mod selector;
pub mod stack;
pub mod target;
pub mod telemetry;
pub mod tls;

pub use context::Context;
pub use error::{Error, Result};
