//! Pacing of a client's requests under a service-wide rate.
//!
//! Identity Center's admin API allows about 20 calls per second for the whole organization.
//! Retrying what it throttles wastes the rate: every refused call costs a backoff, and the
//! SDK's adaptive retry mode, which paces only once throttled, lets each function instance
//! fall well below its share and climb back slowly. Pacing each instance to its share
//! (`identity_center.calls_per_second`) keeps the instances together inside the limit, so the
//! rate is spent on calls that are answered (BENCHMARKS.md has the figures).
//!
//! A share alone leaves rate unused whenever the other instance has less to do, so an
//! instance with more calls than its share allows borrows (see [`crate::aws::share`]): its
//! rate grows while Identity Center answers and falls back at each throttled call.
//!
//! The pace is kept below the SDK, in the client's HTTP connector, so that every attempt,
//! retries included, takes its slot, and no call site can forget it; what each attempt met is
//! fed back by an interceptor ([`Feedback`]) that classifies it as the SDK's retries do.

use std::{sync::Arc, time::Duration};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime::client::retries::classifiers::run_classifiers_on_ctx;
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        http::{
            HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings,
            SharedHttpClient, SharedHttpConnector,
        },
        interceptors::{Intercept, context::FinalizerInterceptorContextRef},
        orchestrator::HttpRequest,
        retries::classifiers::{RetryAction, RetryReason},
        runtime_components::{RuntimeComponents, RuntimeComponentsBuilder},
        runtime_plugin::RuntimePlugin,
    },
};
use aws_smithy_types::{config_bag::ConfigBag, retry::ErrorKind};
use tokio::time::Instant;

use crate::aws::share::Share;

/// What each answered call adds to a borrowing instance's rate (calls per second): the rate
/// grows by this fraction of itself each second, doubling in about five.
const GROWTH: f64 = 0.15;

/// What each second of a pace is stretched by: a service that counts calls in a sliding
/// one-second window refuses a call that arrives a little early, and a request's way to the
/// service (a connection from the pool, the network, the timer) varies by a few milliseconds.
/// One percent of the rate costs less than the refusals it saves: each wastes a slot and a
/// retry.
const MARGIN: Duration = Duration::from_millis(10);

/// How late tokio's timer may wake a sleeper: it fires on whole milliseconds.
const TICK: Duration = Duration::from_millis(1);

/// Sends requests one at a time, in the order they ask, each `(1 s + MARGIN) / rate` after the
/// one before: no burst, no starvation. The rate is the instance's [`Share`] of the service's.
///
/// A request's slot is settled when it is its turn, at the rate then, and settled again if the
/// rate fell while it waited: a refusal slows the very next request, where slots handed out in
/// advance would all go out at the rate that was refused.
#[derive(Debug)]
pub struct Pacer {
    rate: Share,
    /// The last request's slot; held by the request whose turn it is (the lock is fair, so
    /// turns go in the order asked).
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer of `share` requests a second (at least 1) of the service's `limit`, borrowing as
    /// [`Share`] does.
    pub fn new(share: u32, limit: u32) -> Self {
        let floor = f64::from(share.max(1));
        Self {
            rate: Share::new(floor, f64::from(limit), GROWTH),
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for this request's slot.
    pub async fn wait(&self) {
        let mut last = match self.last.try_lock() {
            Ok(last) => last,
            Err(_) => {
                self.rate.backlogged(Instant::now());
                self.last.lock().await
            }
        };
        loop {
            let now = Instant::now();
            let slot = self.slot_after(*last, now);
            if slot <= now {
                *last = Some(slot);
                return;
            }
            self.rate.backlogged(now);
            tokio::time::sleep_until(slot).await;
        }
    }

    /// The slot of a request that follows one sent in slot `last`, asked for at `now`: an
    /// interval after `last` at the rate now. Never before `now`, so idle time is not banked,
    /// but a slot the timer woke its request up to a [`TICK`] late for stays where it was:
    /// that lateness is not carried into every slot after it.
    fn slot_after(&self, last: Option<Instant>, now: Instant) -> Instant {
        let interval = (Duration::from_secs(1) + MARGIN).div_f64(self.rate.value());
        match last {
            Some(last) if last + interval + TICK >= now => last + interval,
            _ => now,
        }
    }

    /// The rate now, calls per second.
    pub fn rate(&self) -> f64 {
        self.rate.value()
    }
}

/// The HTTP client an SDK client built from `conf` uses: the one `conf` names, or the SDK's
/// default HTTPS client for its behavior version.
pub fn base_client(conf: &SdkConfig) -> Option<SharedHttpClient> {
    conf.http_client().or_else(|| {
        aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
            conf.behavior_version()
                .unwrap_or_else(BehaviorVersion::latest),
        )?
        .runtime_components(&RuntimeComponentsBuilder::new("autofed"))
        .http_client()
    })
}

/// `inner`, each of its requests sent in its slot of `pacer`.
pub fn paced(inner: SharedHttpClient, pacer: Arc<Pacer>) -> SharedHttpClient {
    SharedHttpClient::new(PacedClient { inner, pacer })
}

/// Tells `pacer` what each attempt of a client's calls met: answered, or throttled (as the
/// client's own retry classifiers judge it, whatever the service's error code).
#[derive(Debug)]
pub struct Feedback(pub Arc<Pacer>);

impl Intercept for Feedback {
    fn name(&self) -> &'static str {
        "PaceFeedback"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ctx = context.inner();
        let now = Instant::now();
        match ctx.output_or_error() {
            Some(Ok(_)) => {
                self.0.rate.admitted(now);
            }
            // An error the service answered (not a reset or a timeout).
            Some(Err(_)) if ctx.response().is_some() => {
                match run_classifiers_on_ctx(runtime_components.retry_classifiers(), ctx) {
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    }) => self.0.rate.refused(now),
                    _ => self.0.rate.admitted(now),
                };
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug)]
struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let pacer = self.pacer.clone();
        HttpConnectorFuture::new(async move {
            pacer.wait().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// When each of `n` requests, asked for at once, got its slot, from `start`.
    async fn sends(pacer: &Arc<Pacer>, n: usize, start: Instant) -> Vec<Duration> {
        let waits = (0..n).map(|_| {
            let pacer = pacer.clone();
            async move {
                pacer.wait().await;
                Instant::now() - start
            }
        });
        futures::future::join_all(waits).await
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_an_interval_apart_in_order_and_idle_time_is_not_banked() {
        let pacer = Arc::new(Pacer::new(10, 10));
        let t0 = Instant::now();
        // Three asked at once: now, then 101 ms apart (100 ms and the margin's share).
        assert_eq!(sends(&pacer, 3, t0).await, [MS(0), MS(101), MS(202)]);
        // After an idle second: at once, and the next an interval later (no burst).
        tokio::time::sleep_until(t0 + MS(1300)).await;
        assert_eq!(sends(&pacer, 2, t0).await, [MS(1300), MS(1300) + MS(101)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlogged_pacer_borrows_and_a_refusal_slows_the_request_already_waiting() {
        let pacer = Arc::new(Pacer::new(10, 20));
        // More asked than the rate allows, every answer admitted: the rate climbs to 20.
        for _ in 0..40 {
            let t = Instant::now();
            sends(&pacer, 2, t).await;
            pacer.rate.admitted(Instant::now());
            pacer.rate.admitted(Instant::now());
        }
        assert_eq!(pacer.rate(), 20.0);
        let t = Instant::now();
        // 50.5 ms apart (the timer wakes on whole milliseconds).
        let gaps = sends(&pacer, 2, t).await;
        assert!((MS(50)..MS(52)).contains(&(gaps[1] - gaps[0])), "{gaps:?}");
        // A request waits for its slot, 50.5 ms after the last; 10 ms in, the last call is
        // throttled: the waiting request goes out at the lower rate, 63.1 ms after the last
        // (a fifth slower), not in the slot it was waiting for.
        let last = Instant::now();
        let waiting = {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                pacer.wait().await;
                Instant::now()
            })
        };
        tokio::time::sleep(MS(10)).await;
        pacer.rate.refused(Instant::now());
        let sent = waiting.await.unwrap();
        assert!(
            (MS(62)..MS(65)).contains(&(sent - last)),
            "{:?}",
            sent - last
        );
    }
}
