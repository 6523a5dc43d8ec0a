//! The library's error type, and what each error means for the message that carried the work.

use std::time::Duration;

use aws_smithy_runtime_api::{client::result::SdkError, http::Response as HttpResponse};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::{config::ConfigError, events::EventError};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop autofed from finishing a unit of work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file is missing, malformed or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An event that autofed does not understand or that is malformed.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A backfill input that is malformed.
    #[error(transparent)]
    Request(#[from] crate::backfill::RequestError),
    /// The event names an account that is not a member of this organization.
    #[error("account {account_id} is not a member of the organization")]
    UnknownAccount {
        /// The account id from the event.
        account_id: String,
    },
    /// The account or cluster exists but cannot be worked on yet (a brand-new account's
    /// execution role is not assumable for a while; a cluster is still `CREATING`).
    #[error("{subject} is not ready: {reason}")]
    NotReady {
        /// What is waited for: `account 222222222222`, `cluster 2222.../eu-west-1/prod`.
        subject: String,
        /// Why it is not ready, as AWS said it.
        reason: String,
    },
    /// The account or cluster stayed not ready past the configured number of deliveries.
    #[error("{subject} still not ready after {attempts} deliveries: {reason}")]
    GaveUp {
        /// What was waited for.
        subject: String,
        /// How many times the message was delivered.
        attempts: u32,
        /// The last reason it was not ready.
        reason: String,
    },
    /// An AWS call failed after the SDK's own retries.
    #[error("{service} {operation} failed: {code}: {message}")]
    Aws {
        /// The service, e.g. `iam`.
        service: &'static str,
        /// The operation, e.g. `CreateRole`.
        operation: &'static str,
        /// AWS's error code, or the kind of transport failure.
        code: String,
        /// AWS's error message.
        message: String,
        /// Whether trying again later can succeed (throttling, a server error, a timeout), as
        /// opposed to a request AWS refuses as it stands (a taken alias, a missing policy).
        retryable: bool,
    },
    /// The SAML metadata could not be loaded or is not usable by IAM.
    #[error("SAML metadata from {source_name}: {problem}")]
    Metadata {
        /// The file or URL it came from.
        source_name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Some planned actions failed, and every failure is one that retrying cannot fix; the
    /// rest was applied. The report says which and why.
    #[error("{failed} of {total} actions for {subject} were refused and need a person: {reasons}")]
    Refused {
        /// The account or cluster worked on.
        subject: String,
        /// How many actions failed.
        failed: usize,
        /// How many actions were planned.
        total: usize,
        /// The failures' reasons, joined.
        reasons: String,
    },
    /// A Kubernetes API call failed.
    #[error("{0}{hint}", hint = kube_hint(.0))]
    Kube(Box<crate::kube::KubeError>),
    /// Okta refused or failed a call, or its state does not fit the configuration.
    #[error(transparent)]
    Okta(Box<crate::okta::OktaError>),
    /// A CloudFormation stack's change failed and was rolled back; the reasons are
    /// CloudFormation's own. Retrying the same change cannot pass.
    #[error("stack {stack} in account {account_id} ended {status}: {reasons}")]
    StackFailed {
        /// The stack.
        stack: String,
        /// The account it is in.
        account_id: String,
        /// The status it ended in (`ROLLBACK_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, ...).
        status: String,
        /// CloudFormation's reasons, from the stack's events.
        reasons: String,
    },
    /// Some planned actions failed, at least one of them in a way that may pass.
    #[error("{failed} of {total} actions failed for {subject}")]
    Incomplete {
        /// The account or cluster worked on.
        subject: String,
        /// How many actions failed.
        failed: usize,
        /// How many actions were planned.
        total: usize,
    },
}

impl From<crate::kube::KubeError> for Error {
    fn from(e: crate::kube::KubeError) -> Self {
        Error::Kube(Box::new(e))
    }
}

// Boxed: an Okta error is large, and every `Result` of the crate would carry its size.
impl From<crate::okta::OktaError> for Error {
    fn from(e: crate::okta::OktaError) -> Self {
        Error::Okta(Box::new(e))
    }
}

/// What the queue should do with a message whose work ended in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Bad input: retrying cannot help. Send it to the dead-letter queue now.
    DeadLetter,
    /// Not ready yet: deliver it again after a delay.
    RetryLater,
    /// A failure that may pass (throttling, a service error): let the queue redeliver it.
    Retry,
}

impl Error {
    /// Whether retrying the same message can ever succeed.
    pub fn disposition(&self) -> Disposition {
        match self {
            Error::Config(_)
            | Error::Event(_)
            | Error::Request(_)
            | Error::UnknownAccount { .. } => Disposition::DeadLetter,
            Error::GaveUp { .. } | Error::Refused { .. } | Error::StackFailed { .. } => {
                Disposition::DeadLetter
            }
            Error::Aws {
                retryable: false, ..
            } => Disposition::DeadLetter,
            Error::NotReady { .. } => Disposition::RetryLater,
            // NB: a wrong token or a missing app will not mend itself: dead-letter at once,
            // and redrive once the secret or configuration is fixed.
            Error::Okta(e) if !e.is_retryable() => Disposition::DeadLetter,
            Error::Okta(_) => Disposition::Retry,
            Error::Kube(e) if !e.is_retryable() => Disposition::DeadLetter,
            Error::Kube(_) => Disposition::Retry,
            Error::Aws { .. } | Error::Metadata { .. } | Error::Incomplete { .. } => {
                Disposition::Retry
            }
        }
    }

    /// Whether retrying can fix it (see [`Disposition`]).
    pub fn is_retryable(&self) -> bool {
        self.disposition() != Disposition::DeadLetter
    }

    /// Builds an [`Error::Aws`] from an SDK error, keeping AWS's code and message, and telling
    /// retryable failures (throttling, 5xx, transport) from refusals (any other 4xx).
    pub fn aws<E>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message, retryable) = match &err {
            SdkError::ServiceError(e) => {
                let code = e.err().code().unwrap_or("Unknown").to_string();
                let status = e.raw().status().as_u16();
                let retryable =
                    status >= 500 || status == 429 || RETRYABLE_CODES.contains(&code.as_str());
                (
                    code,
                    e.err().message().unwrap_or_default().to_string(),
                    retryable,
                )
            }
            SdkError::TimeoutError(_) => ("Timeout".into(), "the request timed out".into(), true),
            SdkError::DispatchFailure(e) => ("DispatchFailure".into(), dispatch_message(e), true),
            SdkError::ResponseError(_) => (
                "ResponseError".into(),
                "the response could not be read".into(),
                true,
            ),
            SdkError::ConstructionFailure(_) => (
                "ConstructionFailure".into(),
                "the request could not be built".into(),
                false,
            ),
            _ => ("Unknown".into(), err.to_string(), true),
        };
        Error::Aws {
            service,
            operation,
            code,
            message,
            retryable,
        }
    }
}

/// What a person must do about an API server that does not let autofed in.
fn kube_hint(e: &crate::kube::KubeError) -> &'static str {
    match e.code {
        401 => {
            " (the cluster did not accept autofed's token: check the execution role and the cluster's region)"
        }
        403 => {
            " (autofed's execution role may not do this in the cluster: map it to system:masters in aws-auth, \
             or give it an access entry with AmazonEKSClusterAdminPolicy)"
        }
        _ => "",
    }
}

/// Error codes that say "not now" rather than "no", whatever their HTTP status.
/// NB: `ConcurrentModification` (IAM) and `ConflictException` (Identity Center, while another
/// assignment operation runs) pass when tried again.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ConcurrentModification",
    "ConcurrentModificationException",
    "ConflictException",
    "OperationInProgressException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerException",
];

fn dispatch_message(e: &aws_smithy_runtime_api::client::result::DispatchFailure) -> String {
    if e.is_io() {
        "connection failed (I/O error)".into()
    } else if e.is_timeout() {
        "connection timed out".into()
    } else {
        "the request could not be sent".into()
    }
}

/// How long to wait before redelivering a not-ready message on its `attempt`-th delivery:
/// doubling from `base`, capped at SQS's 12-hour visibility limit and at `max`.
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor as u32)
        .min(max)
        .min(Duration::from_secs(12 * 3600))
}
