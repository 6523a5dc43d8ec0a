//! Adapters for the AWS services autofed calls. They read, write and translate errors; the
//! decisions are made in [`crate::plan`].

pub mod cfn;
pub mod clients;
pub mod eks;
pub mod iam;
pub mod org;
pub mod pace;
pub mod queue;
pub mod share;
pub mod sso;
pub mod sts;
