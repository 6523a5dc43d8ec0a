//! Okta: the Management API client, and what autofed keeps in the Okta org for each account
//! (seed 003's group-mapping app and role groups, or seed 002's app per account; seed 004's
//! group push to IAM Identity Center), as desired state, observation, plan and apply like the
//! AWS side.

pub mod apply;
pub mod client;
pub mod desired;
pub mod observe;
pub mod plan;

pub use client::{
    Client, Credentials, OktaError, Retries, SCOPES, Secret, ServiceApp, operation_path,
};
