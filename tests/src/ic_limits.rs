//! Identity Center's service limits, enforced by the proxy in front of moto as the service
//! enforces them (https://docs.aws.amazon.com/singlesignon/latest/userguide/limits.html): a
//! rate over all of its admin API, past which calls get `ThrottlingException`, and a number of
//! assignment creations in progress at once, past which `CreateAccountAssignment` gets
//! `ConflictException`. A creation stays `IN_PROGRESS` (in its answer and in
//! `DescribeAccountAssignmentCreationStatus`) for a set time, where moto finishes it at once.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::Value;

/// The limits.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    /// Calls per second over the whole admin API (requests signed for `sso`).
    pub tps: usize,
    /// Assignment creations in progress at once.
    pub max_in_progress: usize,
    /// How long a creation stays in progress.
    pub creation_time: Duration,
}

impl Limits {
    /// The documented limits: 20 TPS, 10 creations in progress; a creation takes `creation`.
    pub fn documented(creation: Duration) -> Self {
        Self {
            tps: 20,
            max_in_progress: 10,
            creation_time: creation,
        }
    }
}

/// What the limits did, for a benchmark's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Calls admitted.
    pub admitted: usize,
    /// Calls refused with `ThrottlingException`.
    pub throttled: usize,
    /// Creations refused with `ConflictException`.
    pub conflicts: usize,
    /// Creations admitted.
    pub creations: usize,
    /// The most creations in progress at once.
    pub peak_in_progress: usize,
    /// The most calls admitted within one second.
    pub peak_tps: usize,
    /// Calls admitted in each whole second since the limits were set: where the rate went
    /// unused.
    pub per_second: Vec<usize>,
}

/// The proxy's limit state.
#[derive(Default)]
pub struct Enforcer {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    limits: Option<Limits>,
    since: Option<Instant>,
    window: VecDeque<Instant>,
    /// Creation request ids still in progress, with when they finish.
    in_progress: HashMap<String, Instant>,
    /// Creations admitted and not yet answered: in progress too, as in the service, where
    /// admitting is what starts one.
    pending: usize,
    stats: Stats,
}

/// What the proxy does with an Identity Center call.
pub enum Admission {
    /// Refuse it with this error code (`ThrottlingException`, `ConflictException`).
    Refuse(&'static str, &'static str),
    /// Forward it; then pass its answer to [`Enforcer::answered`].
    Forward,
}

impl Enforcer {
    /// Starts enforcing `limits` (or stops, with `None`), with fresh figures.
    pub fn set(&self, limits: Option<Limits>) {
        *self.inner.lock().unwrap() = Inner {
            limits,
            since: Some(Instant::now()),
            ..Inner::default()
        };
    }

    /// The figures so far.
    pub fn stats(&self) -> Stats {
        self.inner.lock().unwrap().stats.clone()
    }

    /// Decides on a call to `operation` of the admin API.
    pub fn admit(&self, operation: &str) -> Admission {
        let mut inner = self.inner.lock().unwrap();
        let Some(limits) = inner.limits else {
            return Admission::Forward;
        };
        let now = Instant::now();
        while inner
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            inner.window.pop_front();
        }
        if inner.window.len() >= limits.tps {
            inner.stats.throttled += 1;
            return Admission::Refuse("ThrottlingException", "Rate exceeded");
        }
        inner.in_progress.retain(|_, done| *done > now);
        let creation = operation == "CreateAccountAssignment";
        if creation && inner.in_progress.len() + inner.pending >= limits.max_in_progress {
            inner.stats.conflicts += 1;
            // The window still counts the call: the service served it, with a refusal.
            inner.window.push_back(now);
            return Admission::Refuse(
                "ConflictException",
                "There are too many requests processing. Please try again later.",
            );
        }
        inner.window.push_back(now);
        inner.stats.admitted += 1;
        if creation {
            inner.pending += 1;
        }
        let second = inner
            .since
            .map_or(0, |since| now.duration_since(since).as_secs() as usize);
        let per_second = &mut inner.stats.per_second;
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
        inner.stats.peak_tps = inner.stats.peak_tps.max(inner.window.len());
        Admission::Forward
    }

    /// A forwarded call moto answered with an error: a creation it refused is not in progress.
    pub fn failed(&self, operation: &str) {
        if operation == "CreateAccountAssignment" {
            let mut inner = self.inner.lock().unwrap();
            inner.pending = inner.pending.saturating_sub(1);
        }
    }

    /// Rewrites moto's answer to `operation` (requested with `request`): a new creation is in
    /// progress for the configured time, and its status says so until then.
    pub fn answered(&self, operation: &str, request: &[u8], answer: &mut Value) {
        let mut inner = self.inner.lock().unwrap();
        let Some(limits) = inner.limits else {
            return;
        };
        if operation == "CreateAccountAssignment" {
            inner.pending = inner.pending.saturating_sub(1);
        }
        let status = &mut answer["AccountAssignmentCreationStatus"];
        match operation {
            "CreateAccountAssignment" => {
                let Some(id) = status["RequestId"].as_str().map(str::to_string) else {
                    return;
                };
                inner
                    .in_progress
                    .insert(id, Instant::now() + limits.creation_time);
                inner.stats.creations += 1;
                inner.stats.peak_in_progress =
                    inner.stats.peak_in_progress.max(inner.in_progress.len());
                status["Status"] = "IN_PROGRESS".into();
            }
            "DescribeAccountAssignmentCreationStatus" => {
                let asked: Value = serde_json::from_slice(request).unwrap_or_default();
                let id = asked["AccountAssignmentCreationRequestId"].as_str();
                if id
                    .and_then(|id| inner.in_progress.get(id))
                    .is_some_and(|done| *done > Instant::now())
                {
                    status["Status"] = "IN_PROGRESS".into();
                }
            }
            _ => {}
        }
    }
}
