//! One fault plan for every fake a test starts: the AWS proxy (moto and the EKS fake), the Okta
//! fake and the clusters' API servers all ask it about each request before serving it. A test
//! fails any chosen call with throttling, a server error, a reset connection or a timeout, each
//! fake answering in its own service's wire format; or it stops the world after the k-th write,
//! as a crash of the function would: that write takes effect but its answer never comes, and
//! no later call is served.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

/// What goes wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The service's throttling answer: AWS `ThrottlingException` / `Throttling`, Okta `429
    /// E0000047` with `X-Rate-Limit-Reset`, Kubernetes `429 TooManyRequests` with
    /// `Retry-After`.
    Throttle,
    /// A server error: AWS `500 InternalFailure`, Okta `500 E0000009`, Kubernetes `500
    /// InternalError`.
    ServerError,
    /// The connection is closed before any answer.
    Reset,
    /// No answer within the client's timeout (the request is not served).
    Timeout,
}

/// Every kind, for matrices.
pub const KINDS: [Kind; 4] = [
    Kind::Throttle,
    Kind::ServerError,
    Kind::Reset,
    Kind::Timeout,
];

/// Which fake a call reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// AWS through the proxy: moto, and EKS's fake.
    Aws,
    /// The Okta fake.
    Okta,
    /// A cluster's API server.
    Kube,
}

/// A call site: a service and its operation. AWS operations by name (`CreateRole`); Okta and
/// Kubernetes calls as `METHOD /path`, with Okta's ids replaced by `{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site {
    /// The fake.
    pub service: Service,
    /// The operation.
    pub call: String,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.service, self.call)
    }
}

/// What a fake does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Pass,
    /// Answer with this fault (a reset or a timeout is carried out by [`Verdict::act`]).
    Fail(Kind),
    /// Never answer: the world has stopped.
    Hang,
}

impl Verdict {
    /// Carries out what every fake does alike: hangs forever for [`Verdict::Hang`], drops the
    /// connection for a reset, waits out the client for a timeout. Returns the fault the fake
    /// must answer with in its own format (throttling, server errors).
    pub async fn act(self, timeout: Duration) -> Option<Kind> {
        match self {
            Verdict::Pass => None,
            Verdict::Hang => std::future::pending().await,
            Verdict::Fail(Kind::Reset) => {
                // Unwinding out of the handler makes the server drop the connection unanswered;
                // `resume_unwind` skips the panic hook, so nothing is printed.
                std::panic::resume_unwind(Box::new("connection reset by the fault plan"))
            }
            Verdict::Fail(Kind::Timeout) => {
                tokio::time::sleep(timeout).await;
                // The client gave up long ago; whatever is answered now is never read.
                Some(Kind::ServerError)
            }
            Verdict::Fail(kind) => Some(kind),
        }
    }
}

struct Rule {
    site: Site,
    kind: Kind,
    times: usize,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    crash_after: Option<usize>,
    started: usize,
    done: usize,
    seen: Vec<(Site, bool)>,
    answered: Vec<(Site, u16)>,
}

/// The plan. Shared (`Arc`) by every fake of one test.
pub struct Faults {
    inner: Mutex<Inner>,
    crashed: Notify,
    /// How long a [`Kind::Timeout`] holds a request: longer than any client's timeout in the
    /// tests' configuration.
    pub timeout: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            crashed: Notify::new(),
            timeout: Duration::from_secs(3),
        }
    }
}

impl Faults {
    /// A new, empty plan.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Fails the next `times` calls of `site` with `kind`.
    pub fn inject(&self, site: &Site, kind: Kind, times: usize) {
        self.inner.lock().unwrap().rules.push(Rule {
            site: site.clone(),
            kind,
            times,
        });
    }

    /// Stops the world after the `k`-th write from now: it takes effect, its answer and every
    /// later call hang.
    pub fn crash_after_writes(&self, k: usize) {
        let mut inner = self.inner.lock().unwrap();
        inner.crash_after = Some(k);
        inner.started = 0;
        inner.done = 0;
    }

    /// Resolves once the crash point is reached.
    pub async fn crashed(&self) {
        self.crashed.notified().await
    }

    /// Removes every rule and the crash point.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.rules.clear();
        inner.crash_after = None;
    }

    /// Forgets the calls seen.
    pub fn clear_seen(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.seen.clear();
        inner.answered.clear();
    }

    /// The writes that took effect (answered with a 2xx), in order.
    pub fn effective_writes(&self) -> Vec<Site> {
        self.inner
            .lock()
            .unwrap()
            .answered
            .iter()
            .filter(|(_, status)| (200..300).contains(status))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The distinct call sites seen, in the order first seen.
    pub fn sites(&self) -> Vec<Site> {
        let mut out: Vec<Site> = Vec::new();
        for (site, _) in &self.inner.lock().unwrap().seen {
            if !out.contains(site) {
                out.push(site.clone());
            }
        }
        out
    }

    /// The write calls seen, in order.
    pub fn writes(&self) -> Vec<Site> {
        self.inner
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|(_, w)| *w)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Every call seen, in order.
    pub fn calls(&self) -> Vec<Site> {
        self.inner
            .lock()
            .unwrap()
            .seen
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Asked by a fake before it serves a call of `site`; `write` when the call changes state.
    pub fn before(&self, site: Site, write: bool) -> Verdict {
        let mut inner = self.inner.lock().unwrap();
        if let Some(k) = inner.crash_after {
            if inner.done >= k || (write && inner.started >= k) {
                return Verdict::Hang;
            }
            if write {
                inner.started += 1;
            }
        }
        inner.seen.push((site.clone(), write));
        if let Some(rule) = inner
            .rules
            .iter_mut()
            .find(|r| r.times > 0 && r.site == site)
        {
            rule.times -= 1;
            return Verdict::Fail(rule.kind);
        }
        Verdict::Pass
    }

    /// Told by a fake once it has served a write of `site` with `status`; `Hang` when that was
    /// the crash point's write, whose answer is then lost.
    pub fn after_write(&self, site: Site, status: u16) -> Verdict {
        let mut inner = self.inner.lock().unwrap();
        inner.answered.push((site, status));
        let Some(k) = inner.crash_after else {
            return Verdict::Pass;
        };
        inner.done += 1;
        if inner.done >= k {
            self.crashed.notify_one();
            return Verdict::Hang;
        }
        Verdict::Pass
    }
}

/// Whether an AWS operation only reads (`Get*`, `List*`, `Describe*`; STS's `AssumeRole` only
/// issues a session; receiving from a queue).
pub fn aws_is_read(operation: &str) -> bool {
    operation.starts_with("Get")
        || operation.starts_with("List")
        || operation.starts_with("Describe")
        || matches!(
            operation,
            "AssumeRole" | "ReceiveMessage" | "DetectStackDrift"
        )
}

/// Whether an AWS operation changes what autofed manages: not a read, and not the queue's own
/// traffic (sending, deleting, changing visibility).
pub fn aws_is_write(operation: &str) -> bool {
    !aws_is_read(operation)
        && !matches!(
            operation,
            "SendMessage"
                | "SendMessageBatch"
                | "DeleteMessage"
                | "DeleteMessageBatch"
                | "ChangeMessageVisibility"
                | "ChangeMessageVisibilityBatch"
        )
}

/// An Okta call as `METHOD /path`, its ids replaced by `{id}` as autofed's own call log names
/// it.
pub fn okta_call(method: &str, path: &str) -> String {
    format!("{method} {}", autofed::okta::operation_path(path))
}
