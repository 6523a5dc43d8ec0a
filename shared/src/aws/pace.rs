//! Pacing of a client's requests under a service-wide rate.
//!
//! Identity Center's admin API allows about 20 calls per second for the whole organization.
//! Retrying what it throttles wastes the rate: every refused call costs a backoff, and the
//! SDK's adaptive retry mode, which paces only once throttled, lets each function instance
//! fall well below its share and climb back slowly. Pacing each instance to its share
//! (`identity_center.calls_per_second`) keeps the instances together inside the limit, so the
//! rate is spent on calls that are answered (BENCHMARKS.md has the figures).
//!
//! The pace is kept below the SDK, in the client's HTTP connector, so that every attempt,
//! retries included, takes its slot, and no call site can forget it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::HttpRequest,
    runtime_components::{RuntimeComponents, RuntimeComponentsBuilder},
    runtime_plugin::RuntimePlugin,
};
use tokio::time::Instant;

/// Hands out send times at most `per_second` apart, in the order asked: no burst, no
/// starvation.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer of `per_second` requests a second (at least 1).
    pub fn per_second(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
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
        *next = Some(slot + self.interval);
        slot
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

/// `inner`, each of its requests sent at most `per_second` a second.
pub fn paced(inner: SharedHttpClient, per_second: u32) -> SharedHttpClient {
    SharedHttpClient::new(PacedClient {
        inner,
        pacer: Arc::new(Pacer::per_second(per_second)),
    })
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

    #[test]
    fn slots_are_an_interval_apart_and_idle_time_is_not_banked() {
        let pacer = Pacer::per_second(10);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Three asked at once: now, then 100 ms apart.
        assert_eq!(pacer.take(t0), t0);
        assert_eq!(pacer.take(t0), t0 + ms(100));
        assert_eq!(pacer.take(t0 + ms(50)), t0 + ms(200));
        // After an idle second: at once, and the next an interval later (no burst).
        assert_eq!(pacer.take(t0 + ms(1300)), t0 + ms(1300));
        assert_eq!(pacer.take(t0 + ms(1300)), t0 + ms(1400));
    }
}
