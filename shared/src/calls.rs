//! Write accounting: every AWS call made while onboarding one account is recorded, so the report
//! can say how many reads and writes a run made, and tests and benchmarks can assert them.
//!
//! One mechanism serves every client: an SDK interceptor, installed on each client when it is
//! built, records the operation into the log of the current run. The run's log lives in a
//! task-local, so concurrent runs in one process never mix their counts.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::BeforeSerializationInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

tokio::task_local! {
    static RUN: Arc<CallLog>;
}

/// One AWS call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The service, as the SDK names it (`IAM`, `SSO Admin`, ...).
    pub service: String,
    /// The operation (`CreateRole`).
    pub operation: String,
}

impl Call {
    /// Whether the call changes state. `Get*`, `List*` and `Describe*` only read, and so do
    /// STS's credential calls, which create nothing, and CloudFormation's `DetectStackDrift`,
    /// which compares a stack with its resources and changes neither.
    pub fn is_write(&self) -> bool {
        // Okta calls are named by method and path (`GET /api/v1/groups`).
        if let Some((method, _)) = self.operation.split_once(' ') {
            return method != "GET";
        }
        let read = ["Get", "List", "Describe", "DetectStackDrift"]
            .iter()
            .any(|p| self.operation.starts_with(p));
        !(read || self.operation == "AssumeRole")
    }
}

/// The calls of one run, in order.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<Call>>,
}

/// Totals of a run's calls, as the report carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Calls that only read.
    pub reads: usize,
    /// Calls that change state.
    pub writes: usize,
    /// Calls per `Service:Operation`.
    pub by_operation: BTreeMap<String, usize>,
}

impl CallLog {
    fn record(&self, call: Call) {
        self.calls.lock().expect("call log poisoned").push(call);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("call log poisoned").clone()
    }

    /// Totals of the calls so far.
    pub fn counts(&self) -> CallCounts {
        let mut counts = CallCounts::default();
        for call in self.calls.lock().expect("call log poisoned").iter() {
            if call.is_write() {
                counts.writes += 1;
            } else {
                counts.reads += 1;
            }
            *counts
                .by_operation
                .entry(format!("{}:{}", call.service, call.operation))
                .or_default() += 1;
        }
        counts
    }
}

/// Runs `fut` with its own call log, returned beside its output.
pub async fn scope<F: Future>(fut: F) -> (F::Output, Arc<CallLog>) {
    let log = Arc::new(CallLog::default());
    let out = RUN.scope(log.clone(), fut).await;
    (out, log)
}

/// Records a call made outside the AWS SDK (Okta's HTTP API) in the current run's log.
pub fn record(service: &str, operation: &str) {
    let call = Call {
        service: service.to_string(),
        operation: operation.to_string(),
    };
    let _outside_a_run = RUN.try_with(|log| log.record(call));
}

/// The interceptor that records each call into the current run's log. Calls made outside a
/// [`scope`] (queue housekeeping) are not counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordCalls;

impl Intercept for RecordCalls {
    fn name(&self) -> &'static str {
        "autofed::RecordCalls"
    }

    // NB: not `read_before_execution`: a client interceptor runs that before the operation's
    // configuration (and so its `Metadata`) is in the bag. Serialization happens once per
    // operation, before the retry loop, so each call is counted once however often it is retried.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let call = Call {
                service: meta.service().to_string(),
                operation: meta.name().to_string(),
            };
            let _outside_a_run = RUN.try_with(|log| log.record(call));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_told_apart_by_operation() {
        let call = |op: &str| Call {
            service: "IAM".into(),
            operation: op.into(),
        };
        assert!(!call("GetRole").is_write());
        assert!(!call("ListAttachedRolePolicies").is_write());
        assert!(!call("DescribeAccountAssignmentCreationStatus").is_write());
        assert!(!call("AssumeRole").is_write());
        assert!(call("CreateRole").is_write());
        assert!(call("TagRole").is_write());
        assert!(call("PutRolePolicy").is_write());
    }
}
