//! A small Kubernetes API client for one EKS cluster: JSON objects read, created and replaced
//! over HTTPS, trusting only the cluster's own CA, authenticated with an EKS bearer token.
//!
//! NB: the `kube` crate would bring its own HTTP stack (hyper-util, tower, a second TLS
//! configuration) for the five calls autofed makes; reqwest is already in the binary, and the
//! objects are `k8s-openapi` types serialized to JSON.

pub mod token;

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use tracing::warn;

use crate::{calls, config::RetryConfig};

/// A Kubernetes API call that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Kubernetes {call} in cluster {cluster}: {code} {reason}: {message}")]
pub struct KubeError {
    /// The cluster (`account/region/name`).
    pub cluster: String,
    /// The call: `PUT /api/v1/namespaces/kube-system/configmaps/aws-auth`.
    pub call: String,
    /// The HTTP status (0 when no answer came).
    pub code: u16,
    /// The `Status` object's reason (`Conflict`, `NotFound`, `Forbidden`), or the transport
    /// problem.
    pub reason: String,
    /// The `Status` object's message.
    pub message: String,
}

impl KubeError {
    /// Whether the same call may pass later (throttling, a server error, no answer).
    pub fn is_retryable(&self) -> bool {
        self.code == 0 || self.code == 429 || self.code >= 500
    }

    /// A `409 Conflict`: the object changed since it was read (or already exists).
    pub fn is_conflict(&self) -> bool {
        self.code == 409
    }
}

/// A connection to one cluster's API server.
pub struct Kube {
    http: reqwest::Client,
    base: String,
    cluster: String,
    attempts: u32,
    base_delay: Duration,
    // NB: a bearer credential; never printed (no Debug derive).
    token: String,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("base", &self.base)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Kube {
    /// Connects to `endpoint` (the cluster's API server URL), trusting only `ca_data` (the
    /// base64 PEM of DescribeCluster's `certificateAuthority.data`), with the attempts and
    /// timeouts of `retry`.
    pub fn new(
        cluster: &str,
        endpoint: &str,
        ca_data: &str,
        token: String,
        retry: &RetryConfig,
    ) -> Result<Self, KubeError> {
        let fail = |reason: &str, message: String| KubeError {
            cluster: cluster.to_string(),
            call: "setup".into(),
            code: 0,
            reason: reason.into(),
            message,
        };
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca_data.trim())
            .map_err(|e| fail("BadCertificateAuthority", format!("not base64: {e}")))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| fail("BadCertificateAuthority", e.to_string()))?;
        if !endpoint.starts_with("https://") {
            return Err(fail(
                "BadEndpoint",
                format!("the API server endpoint is not https: {endpoint}"),
            ));
        }
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(retry.call_timeout())
            .connect_timeout(retry.call_timeout().min(Duration::from_secs(5)))
            .build()
            .map_err(|e| fail("Setup", e.to_string()))?;
        Ok(Self {
            http,
            base: endpoint.trim_end_matches('/').to_string(),
            cluster: cluster.to_string(),
            attempts: retry.call_attempts,
            base_delay: retry.call_base_delay(),
            token,
        })
    }

    /// Reads an object; `None` when it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, KubeError> {
        match self.send(Method::GET, path, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an object in `collection` (`/api/v1/namespaces/x/configmaps`).
    pub async fn create(&self, collection: &str, object: &Value) -> Result<Value, KubeError> {
        self.send(Method::POST, collection, Some(object)).await
    }

    /// Replaces an object; with `metadata.resourceVersion` set, the server refuses (409) if
    /// the object changed since that version was read.
    pub async fn replace(&self, path: &str, object: &Value) -> Result<Value, KubeError> {
        self.send(Method::PUT, path, Some(object)).await
    }

    /// One call, tried again on throttling, server errors and lost connections. Every call
    /// autofed makes may be repeated: reads, creates (a second create answers `409`, which the
    /// caller treats as "already there") and replaces pinned to a `resourceVersion`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, KubeError> {
        let mut delay = self.base_delay;
        let mut attempt = 1;
        loop {
            let (err, retry_after) = match self.attempt(&method, path, body).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() || attempt >= self.attempts {
                return Err(err);
            }
            let wait = retry_after.unwrap_or(delay).min(Duration::from_secs(10));
            warn!(cluster = %self.cluster, call = %err.call, attempt, wait_ms = wait.as_millis() as u64, error = %err, "kubernetes call failed; retrying");
            tokio::time::sleep(wait).await;
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }

    /// One attempt; on failure, the error and the server's `Retry-After`.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, (KubeError, Option<Duration>)> {
        calls::record("kubernetes", &format!("{method} {path}"));
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let error = |code: u16, reason: String, message: String| KubeError {
            cluster: self.cluster.clone(),
            call: format!("{method} {path}"),
            code,
            reason,
            message,
        };
        let transport = |e: reqwest::Error| {
            (
                error(0, "Transport".into(), e.without_url().to_string()),
                None,
            )
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.map_err(transport)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        // A `Status` object, as the API server answers every failure.
        let reason = value["reason"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR.as_str())
                    .to_string()
            });
        let message = value["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err((error(status.as_u16(), reason, message), retry_after))
    }
}
