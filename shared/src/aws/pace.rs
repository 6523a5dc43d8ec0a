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

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

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

/// Hands out send times `1 / rate` apart, in the order asked: no burst, no starvation. The
/// rate is the instance's [`Share`] of the service's.
#[derive(Debug)]
pub struct Pacer {
    rate: Share,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer of `share` requests a second (at least 1) of the service's `limit`, borrowing as
    /// [`Share`] does.
    pub fn new(share: u32, limit: u32) -> Self {
        let floor = f64::from(share.max(1));
        Self {
            rate: Share::new(floor, f64::from(limit), GROWTH),
            next: Mutex::new(None),
        }
    }

    /// Waits for this request's slot.
    pub async fn wait(&self) {
        tokio::time::sleep_until(self.take(Instant::now())).await;
    }

    /// The next free slot, asked for at `now`, and the one after it reserved.
    fn take(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = next.map_or(now, |n| n.max(now));
        if slot > now {
            self.rate.backlogged(now);
        }
        *next = Some(slot + Duration::from_secs_f64(1.0 / self.rate.value()));
        slot
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

    #[test]
    fn slots_are_an_interval_apart_and_idle_time_is_not_banked() {
        let pacer = Pacer::new(10, 10);
        let t0 = Instant::now();
        // Three asked at once: now, then 100 ms apart.
        assert_eq!(pacer.take(t0), t0);
        assert_eq!(pacer.take(t0), t0 + MS(100));
        assert_eq!(pacer.take(t0 + MS(50)), t0 + MS(200));
        // After an idle second: at once, and the next an interval later (no burst).
        assert_eq!(pacer.take(t0 + MS(1300)), t0 + MS(1300));
        assert_eq!(pacer.take(t0 + MS(1300)), t0 + MS(1400));
    }

    #[test]
    fn a_backlogged_pacer_borrows_and_a_throttle_slows_it() {
        let pacer = Pacer::new(10, 20);
        let t0 = Instant::now();
        // More asked than the rate allows, every answer admitted: 20 a second.
        for i in 0..200 {
            let now = t0 + MS(i);
            pacer.take(now);
            pacer.take(now);
            pacer.rate.admitted(now);
        }
        let now = t0 + MS(300);
        let first = pacer.take(now);
        assert_eq!(pacer.take(now) - first, MS(50));
        // Throttled: a fifth slower.
        pacer.rate.refused(now);
        let first = pacer.take(now);
        assert_eq!(pacer.take(now) - first, MS(62) + Duration::from_micros(500));
    }
}
