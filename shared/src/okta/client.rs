//! The Okta Management API client: an API token (`SSWS`) from Secrets Manager, or an OAuth 2.0
//! service app (client credentials with `private_key_jwt`, Okta's recommended alternative);
//! pagination through the `Link` header, `429` honoured through `X-Rate-Limit-Reset`, server
//! errors retried with backoff, and Okta's `errorCode` / `errorSummary` surfaced in errors.
//! Credentials never reach a log, a report or an error: they live in [`Secret`]s, whose
//! `Debug` prints nothing.
//!
//! Credentials kept in Secrets Manager are read when the first request needs them, not when
//! the client is built, and read again when Okta refuses them: an API token rotated in the
//! secret is picked up by the next request of a running function instance, as AWS's Secrets
//! Manager caching clients do (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html>).

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::tls::TrustRoots;

/// How autofed authenticates to Okta.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// An API token, sent as `Authorization: SSWS <token>`.
    ApiToken(Secret),
    /// An OAuth 2.0 service app: access tokens from `/oauth2/v1/token` by client credentials,
    /// the client authenticated by a JWT signed with its private key (`private_key_jwt`).
    ServiceApp(ServiceApp),
}

/// An Okta OAuth 2.0 service app.
#[derive(Debug, Clone)]
pub struct ServiceApp {
    /// The app's client id.
    pub client_id: String,
    /// The id of the public key registered with the app (the JWT's `kid`), if any.
    pub key_id: Option<String>,
    /// The app's RSA private key, PEM.
    pub private_key: Secret,
    /// Scopes to request, e.g. `okta.apps.manage okta.groups.manage`.
    pub scopes: Vec<String>,
}

/// The scopes autofed needs.
pub const SCOPES: [&str; 2] = ["okta.apps.manage", "okta.groups.manage"];

/// A credential, kept out of every `Debug` and `Display`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What went wrong talking to Okta.
#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    /// Okta answered with an error object.
    #[error("okta {method} {path}: HTTP {status} {code}: {summary}{causes}")]
    Api {
        /// Method.
        method: String,
        /// Path (no query, no host).
        path: String,
        /// HTTP status.
        status: u16,
        /// Okta's `errorCode` (`E0000007`).
        code: String,
        /// Okta's `errorSummary`.
        summary: String,
        /// Okta's `errorCauses`, joined (with a leading separator), or empty.
        causes: String,
    },
    /// The request did not get an answer, or the answer could not be read.
    #[error("okta {method} {path}: {problem}")]
    Transport {
        /// Method.
        method: String,
        /// Path.
        path: String,
        /// What happened (never the URL's query or any header).
        problem: String,
    },
    /// Okta's state does not fit the configuration (an app that is not there, or several
    /// candidates): a person must set the key named.
    #[error("okta: configuration key `{key}`: {problem}")]
    Setup {
        /// The configuration key to look at.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The token could not be had from Secrets Manager.
    #[error("okta token from secret {secret_id}: {problem}")]
    Token {
        /// The secret's name or ARN.
        secret_id: String,
        /// What is wrong.
        problem: String,
        /// Whether reading it again later may succeed (Secrets Manager throttled or failed,
        /// rather than refused or found no such secret).
        retryable: bool,
    },
}

impl OktaError {
    /// Okta's error code, if Okta answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            OktaError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            OktaError::Api { status, .. } => *status == 429 || *status >= 500,
            OktaError::Transport { .. } => true,
            OktaError::Token { retryable, .. } => *retryable,
            OktaError::Setup { .. } => false,
        }
    }
}

/// Retry limits for one request.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// First backoff after a server error, doubled each time.
    pub base_delay: Duration,
    /// The longest wait for a rate limit to reset before giving up.
    pub max_rate_limit_wait: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self::from_config(&crate::config::RetryConfig::default())
    }
}

impl Retries {
    /// The limits the configuration's `[retry]` section sets for every call.
    pub fn from_config(retry: &crate::config::RetryConfig) -> Self {
        Self {
            attempts: retry.call_attempts,
            base_delay: retry.call_base_delay(),
            max_rate_limit_wait: Duration::from_secs(60),
            attempt_timeout: retry.call_timeout(),
        }
    }
}

/// A client for one Okta org, built once at init.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    source: Arc<Source>,
    http: reqwest::Client,
    retries: Retries,
    /// The credentials in use, read from `source` when first needed.
    held: Arc<Mutex<Held>>,
}

/// Where a client's credentials come from.
#[derive(Debug)]
enum Source {
    /// Handed to the client as it was built.
    Given(Arc<Credentials>),
    /// Secrets Manager.
    Secrets {
        client: aws_sdk_secretsmanager::Client,
        kind: Kept,
    },
}

/// What the configuration keeps in Secrets Manager.
#[derive(Debug)]
enum Kept {
    /// `api_token_secret`: an API token.
    ApiToken { secret_id: String },
    /// `service_app`: its settings, and its private key in `private_key_secret`.
    ServiceApp(crate::config::okta::ServiceAppConfig),
}

/// What a client holds between requests.
#[derive(Debug, Default)]
struct Held {
    /// The credentials, once read.
    credentials: Option<Arc<Credentials>>,
    /// A service app's access token and when to stop using it.
    access: Option<(Secret, Instant)>,
    /// Which holding this is: bumped whenever Okta's refusal drops what is held, so that the
    /// other requests refused with the same credentials do not drop their successors.
    generation: u64,
}

/// A response body with the `Link` to the next page, if any.
struct Answer {
    body: Value,
    text: String,
    next: Option<String>,
}

impl Client {
    /// A client for `org_url` (`https://acme.okta.com`) with an API token.
    pub fn new(
        org_url: &str,
        token: Secret,
        retries: Retries,
        roots: &TrustRoots,
    ) -> Result<Self, OktaError> {
        Self::with_credentials(org_url, Credentials::ApiToken(token), retries, roots)
    }

    /// A client for `org_url` with either kind of credentials.
    pub fn with_credentials(
        org_url: &str,
        credentials: Credentials,
        retries: Retries,
        roots: &TrustRoots,
    ) -> Result<Self, OktaError> {
        Self::from_source(
            org_url,
            Source::Given(Arc::new(credentials)),
            retries,
            roots,
        )
    }

    fn from_source(
        org_url: &str,
        source: Source,
        retries: Retries,
        roots: &TrustRoots,
    ) -> Result<Self, OktaError> {
        Ok(Self {
            base: org_url.trim_end_matches('/').to_string(),
            source: Arc::new(source),
            http: http_client(org_url, &retries, roots)?,
            retries,
            held: Arc::default(),
        })
    }

    /// The `Authorization` header value for the next request, and the generation of the
    /// credentials it carries. The lock is held while credentials are read or an access token
    /// is requested, so that requests made at once read and request once.
    async fn authorization(&self) -> Result<(String, u64), OktaError> {
        let mut held = self.held.lock().await;
        let credentials = match &held.credentials {
            Some(c) => c.clone(),
            None => {
                let c = self.source.read().await?;
                held.credentials = Some(c.clone());
                c
            }
        };
        let app = match &*credentials {
            Credentials::ApiToken(token) => {
                return Ok((format!("SSWS {}", token.expose()), held.generation));
            }
            Credentials::ServiceApp(app) => app,
        };
        if let Some((token, until)) = &held.access
            && Instant::now() < *until
        {
            return Ok((format!("Bearer {}", token.expose()), held.generation));
        }
        let (token, lifetime) = self.request_access_token(app).await?;
        // Renewed a minute early, so that no request goes out with a token about to lapse.
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        let header = format!("Bearer {}", token.expose());
        held.access = Some((token, until));
        Ok((header, held.generation))
    }

    /// Okta refused the credentials of `generation` (or, with `None`, whatever is held): drops
    /// them, so that the next request reads the secret again and requests a new access token.
    /// Whether anything can be had afresh: not for a token handed to the client.
    async fn forget(&self, generation: Option<u64>) -> bool {
        let mut held = self.held.lock().await;
        if generation.is_some_and(|g| g != held.generation) {
            // Another request refused with the same credentials already dropped them.
            return true;
        }
        let from_secrets = matches!(*self.source, Source::Secrets { .. });
        if !from_secrets && held.access.is_none() {
            return false;
        }
        held.access = None;
        if from_secrets {
            held.credentials = None;
        }
        held.generation += 1;
        true
    }

    /// Client credentials with `private_key_jwt`
    /// (https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/).
    async fn request_access_token(
        &self,
        app: &ServiceApp,
    ) -> Result<(Secret, Duration), OktaError> {
        let path = "/oauth2/v1/token";
        let token_url = format!("{}{path}", self.base);
        let fail = |problem: String| OktaError::Transport {
            method: "POST".into(),
            path: path.into(),
            problem,
        };
        let assertion = client_assertion(app, &token_url).map_err(fail)?;
        let scope = app.scopes.join(" ");
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.expose()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&");
        let resp = self
            .http
            .post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_else(|_| json!({}));
        if !status.is_success() {
            return Err(OktaError::Api {
                method: "POST".into(),
                path: path.into(),
                status: status.as_u16(),
                code: body["error"].as_str().unwrap_or("none").to_string(),
                summary: body["error_description"]
                    .as_str()
                    .unwrap_or("no description")
                    .to_string(),
                causes: String::new(),
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| fail("the token response has no access_token".into()))?;
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        Ok((Secret::new(token), lifetime))
    }

    /// The client the configuration describes. Its credentials are read from Secrets Manager
    /// when the first request needs them.
    pub fn from_config(
        config: &crate::config::OktaConfig,
        secrets: &aws_sdk_secretsmanager::Client,
        retries: Retries,
        roots: &TrustRoots,
    ) -> Result<Self, OktaError> {
        let kind = match (&config.api_token_secret, &config.service_app) {
            (Some(secret_id), _) => Kept::ApiToken {
                secret_id: secret_id.clone(),
            },
            (None, Some(app)) => Kept::ServiceApp(app.clone()),
            (None, None) => {
                return Err(OktaError::Setup {
                    key: "okta.api_token_secret",
                    problem: "no credentials configured".into(),
                });
            }
        };
        let source = Source::Secrets {
            client: secrets.clone(),
            kind,
        };
        Self::from_source(&config.org_url, source, retries, roots)
    }

    /// Reads the API token from Secrets Manager: the secret string is the token itself, or a
    /// JSON object with an `apiToken` field.
    pub async fn token_from_secret(
        secrets: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Secret, OktaError> {
        let fail = |problem: String| OktaError::Token {
            secret_id: secret_id.to_string(),
            problem,
            retryable: false,
        };
        let text = secret_string(secrets, secret_id).await?.0;
        let token = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map
                .get("apiToken")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    fail("the secret is a JSON object without an `apiToken` string".into())
                })?,
            _ => text.trim().to_string(),
        };
        if token.is_empty() {
            return Err(fail("the token is empty".into()));
        }
        Ok(Secret::new(token))
    }

    /// `GET` of every page of a list, following `Link: <…>; rel="next"`.
    pub async fn list(&self, path_and_query: &str) -> Result<Vec<Value>, OktaError> {
        let mut items = Vec::new();
        let mut url = format!("{}{path_and_query}", self.base);
        loop {
            let answer = self.send(Method::GET, &url, None).await?;
            match answer.body {
                Value::Array(page) => items.extend(page),
                other => items.push(other),
            }
            match answer.next {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
    }

    /// `GET` of one JSON object; `None` if Okta answers `E0000007` (not found).
    pub async fn get(&self, path: &str) -> Result<Option<Value>, OktaError> {
        match self
            .send(Method::GET, &format!("{}{path}", self.base), None)
            .await
        {
            Ok(a) => Ok(Some(a.body)),
            Err(e) if e.code() == Some("E0000007") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET` of a text resource (the SAML metadata XML).
    pub async fn get_text(&self, path: &str) -> Result<String, OktaError> {
        Ok(self
            .send(Method::GET, &format!("{}{path}", self.base), None)
            .await?
            .text)
    }

    /// A write with a JSON body (`POST`, `PUT`); the answer's body.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, OktaError> {
        Ok(self
            .send(method, &format!("{}{path}", self.base), body)
            .await?
            .body)
    }

    /// `DELETE`; a resource already gone counts as deleted.
    pub async fn delete(&self, path: &str) -> Result<(), OktaError> {
        match self
            .send(Method::DELETE, &format!("{}{path}", self.base), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("E0000007") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, OktaError> {
        let path = url
            .strip_prefix(&self.base)
            .map(|p| p.split('?').next().unwrap_or_default().to_string())
            .ok_or_else(|| OktaError::Transport {
                method: method.to_string(),
                path: "-".into(),
                // NB: a `Link` to another host would receive the token; never follow one.
                problem: "refused to follow a link outside the Okta org".into(),
            })?;
        let mut delay = self.retries.base_delay;
        let mut attempt = 1;
        // Whether this request has already had its credentials read afresh after a refusal.
        let mut renewed = false;
        loop {
            let (authorization, generation) = match self.authorization().await {
                Ok(a) => a,
                // The token endpoint refused the service app's key: it may have been rotated.
                Err(e) if refused(&e) && !renewed && self.forget(None).await => {
                    renewed = true;
                    warn!(method = %method, path = %path, error = %e, "okta refused the credentials; reading them again");
                    continue;
                }
                Err(e) => return Err(e),
            };
            crate::calls::record("okta", &format!("{method} {}", operation_path(&path)));
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("authorization", authorization)
                .header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let transport = |e: reqwest::Error| OktaError::Transport {
                method: method.to_string(),
                path: path.clone(),
                problem: e.without_url().to_string(),
            };
            // NB: a POST that may have reached Okta is not sent again: a second create makes
            // a second app (labels are not unique). The message goes back to the queue, and the
            // next delivery observes what exists before it plans.
            let lost = |e: reqwest::Error| {
                let maybe_done = method == Method::POST && !e.is_connect();
                (transport(e), maybe_done)
            };
            let answered = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.text()
                        .await
                        .map(|text| (status, headers, text))
                        .map_err(lost)
                }
                Err(e) => Err(lost(e)),
            };
            let (err, rate_limit_wait) = match answered {
                Ok((status, headers, text)) => {
                    if status.is_success() {
                        let body = if text.trim().is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).unwrap_or(Value::Null)
                        };
                        return Ok(Answer {
                            body,
                            next: next_link(&headers),
                            text,
                        });
                    }
                    let err = api_error(&method, &path, status, &text);
                    // NB: a refused token is read again once: the secret may have been rotated
                    // since it was read (Okta answers 401 `E0000011`, and nothing was done).
                    if refused(&err) && !renewed && self.forget(Some(generation)).await {
                        renewed = true;
                        warn!(method = %method, path = %path, error = %err, "okta refused the credentials; reading them again");
                        continue;
                    }
                    (err, wait_for(status, &headers))
                }
                Err((err, true)) => return Err(err),
                Err((err, false)) => (err, None),
            };
            if !err.is_retryable() || attempt >= self.retries.attempts {
                return Err(err);
            }
            let wait = match rate_limit_wait {
                Some(w) if w > self.retries.max_rate_limit_wait => return Err(err),
                Some(w) => w,
                None => {
                    let d = delay;
                    delay = delay.saturating_mul(2);
                    d
                }
            };
            warn!(method = %method, path = %path, attempt, wait_ms = wait.as_millis() as u64, error = %err, "okta call failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// The HTTP client for `org_url`: an attempt's timeout, HTTPS only for an `https` org, no
/// redirects.
fn http_client(
    org_url: &str,
    retries: &Retries,
    roots: &TrustRoots,
) -> Result<reqwest::Client, OktaError> {
    roots
        .reqwest()
        .timeout(retries.attempt_timeout)
        .connect_timeout(retries.attempt_timeout.min(Duration::from_secs(5)))
        .https_only(org_url.starts_with("https://"))
        // NB: a redirect would carry the Authorization header to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OktaError::Transport {
            method: "-".into(),
            path: "-".into(),
            problem: e.to_string(),
        })
}

/// A secret's string value, kept secret.
async fn secret_string(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Secret, OktaError> {
    let out = secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let e = crate::Error::aws("secretsmanager", "GetSecretValue", e);
            OktaError::Token {
                secret_id: secret_id.to_string(),
                problem: e.to_string(),
                retryable: e.is_retryable(),
            }
        })?;
    out.secret_string
        .map(Secret::new)
        .ok_or_else(|| OktaError::Token {
            secret_id: secret_id.to_string(),
            problem: "the secret has no string value".into(),
            retryable: false,
        })
}

/// The signed JWT a service app authenticates with: issuer and subject its client id, audience
/// the token endpoint, valid for five minutes, with a unique `jti`.
fn client_assertion(app: &ServiceApp, token_url: &str) -> Result<Secret, String> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let claims = json!({
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": token_url,
        "iat": now.as_secs(),
        "exp": now.as_secs() + 300,
        "jti": format!("{}-{}", now.as_nanos(), std::process::id()),
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = app.key_id.clone();
    // NB: the key's own error text never includes the key; it is still kept out of messages.
    let key = EncodingKey::from_rsa_pem(app.private_key.expose().as_bytes())
        .map_err(|_| "the service app's private key is not an RSA key in PEM".to_string())?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Secret::new)
        .map_err(|_| "could not sign the client assertion".to_string())
}

impl Source {
    /// The credentials: as given, or read from Secrets Manager now.
    async fn read(&self) -> Result<Arc<Credentials>, OktaError> {
        let (client, kind) = match self {
            Source::Given(credentials) => return Ok(credentials.clone()),
            Source::Secrets { client, kind } => (client, kind),
        };
        let started = Instant::now();
        let (credentials, secret_id) = match kind {
            Kept::ApiToken { secret_id } => (
                Credentials::ApiToken(Client::token_from_secret(client, secret_id).await?),
                secret_id,
            ),
            Kept::ServiceApp(app) => (
                Credentials::ServiceApp(ServiceApp {
                    client_id: app.client_id.clone(),
                    key_id: app.key_id.clone(),
                    private_key: secret_string(client, &app.private_key_secret).await?,
                    scopes: app
                        .scopes
                        .clone()
                        .unwrap_or_else(|| SCOPES.iter().map(|s| s.to_string()).collect()),
                }),
                &app.private_key_secret,
            ),
        };
        info!(
            secret_id = %secret_id,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "read the okta credentials"
        );
        Ok(Arc::new(credentials))
    }
}

/// Whether Okta refused the credentials themselves (`401`): a token revoked or rotated, an
/// access token that lapsed, a service app's key no longer registered.
fn refused(err: &OktaError) -> bool {
    matches!(err, OktaError::Api { status: 401, .. })
}

/// A path with its ids replaced by `{id}`, so that call counts group by operation.
pub fn operation_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let id_like = seg.len() >= 15 && seg.bytes().all(|b| b.is_ascii_alphanumeric());
            if id_like { "{id}" } else { seg }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// For a `429`: how long until `X-Rate-Limit-Reset` (epoch seconds), plus a little.
fn wait_for(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let reset: u64 = headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)) + Duration::from_millis(250))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.split_once(';')?;
            params
                .split(';')
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
                .then(|| {
                    target
                        .trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                })
        })
}

fn api_error(method: &Method, path: &str, status: StatusCode, text: &str) -> OktaError {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    let causes: Vec<&str> = body["errorCauses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["errorSummary"].as_str())
        .collect();
    OktaError::Api {
        method: method.to_string(),
        path: path.to_string(),
        status: status.as_u16(),
        code: body["errorCode"].as_str().unwrap_or("none").to_string(),
        summary: body["errorSummary"]
            .as_str()
            .unwrap_or("no error summary")
            .to_string(),
        causes: if causes.is_empty() {
            String::new()
        } else {
            format!(" ({})", causes.join("; "))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            "link",
            "<https://acme.okta.com/api/v1/groups?limit=2>; rel=\"self\""
                .parse()
                .unwrap(),
        );
        h.append(
            "link",
            "<https://acme.okta.com/api/v1/groups?after=00g2&limit=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://acme.okta.com/api/v1/groups?after=00g2&limit=2")
        );
        let mut one = HeaderMap::new();
        one.append(
            "link",
            "<https://a/x>; rel=\"self\", <https://a/y>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&one).as_deref(), Some("https://a/y"));
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("00abcSECRETtoken");
        assert!(!format!("{s:?}").contains("SECRET"));
        let c = Client::new(
            "https://acme.okta.com",
            s,
            Retries::default(),
            &TrustRoots::mozilla(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn okta_errors_carry_code_summary_and_causes() {
        let e = api_error(
            &Method::POST,
            "/api/v1/groups/rules",
            StatusCode::BAD_REQUEST,
            r#"{"errorCode":"E0000001","errorSummary":"Api validation failed: name","errorCauses":[{"errorSummary":"name: too long"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "okta POST /api/v1/groups/rules: HTTP 400 E0000001: Api validation failed: name (name: too long)"
        );
        assert!(!e.is_retryable());
    }
}
