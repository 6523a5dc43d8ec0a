//! A proxy in front of moto that records every AWS call passing through it and answers chosen
//! calls with injected faults. autofed reaches it through an ordinary endpoint setting, as it
//! would reach AWS.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    faults::{self, Faults, Kind, Service, Site},
    ic_limits::{self, Admission},
};

/// An injected fault: the next `times` calls of `operation` get this answer instead of moto's.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The operation (`AssumeRole`).
    pub operation: String,
    /// How many calls to answer.
    pub times: usize,
    /// The HTTP status.
    pub status: u16,
    /// The response body.
    pub body: String,
    /// Its content type.
    pub content_type: &'static str,
    /// Only calls whose request body contains this text (an account id, say); any call when
    /// `None`.
    pub matching: Option<String>,
    /// Forward the call to moto first, then answer with the fault: the write happened but its
    /// answer was lost, as after a timeout or a crash.
    pub after_forwarding: bool,
}

/// A rewrite of moto's answer: in the next `times` responses to `operation`, `from` becomes
/// `to`. Used where moto is simpler than the service (Identity Center answers `IN_PROGRESS`
/// before `SUCCEEDED`; moto answers `SUCCEEDED` at once).
#[derive(Debug, Clone)]
pub struct Rewrite {
    /// The operation.
    pub operation: String,
    /// How many responses to rewrite.
    pub times: usize,
    /// Text to find in the response body.
    pub from: String,
    /// Its replacement.
    pub to: String,
}

impl Fault {
    /// STS's answer while a new account's role cannot be assumed yet.
    pub fn sts_access_denied(times: usize) -> Self {
        Fault {
            operation: "AssumeRole".into(),
            times,
            status: 403,
            body: "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                   <Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/autofed-onboarder/session \
                   is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/OrganizationAccountAccessRole\
                   </Message></Error><RequestId>4f9b7c1e-0000-4000-8000-000000000001</RequestId></ErrorResponse>"
                .into(),
            content_type: "text/xml",
            matching: None,
            after_forwarding: false,
        }
    }

    /// An IAM (query protocol) error answer.
    pub fn iam_error(operation: &str, status: u16, code: &str, message: &str) -> Self {
        Fault {
            operation: operation.into(),
            times: 1,
            status,
            body: format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                 <Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>4f9b7c1e-0000-4000-8000-000000000002</RequestId></ErrorResponse>"
            ),
            content_type: "text/xml",
            matching: None,
            after_forwarding: false,
        }
    }

    /// The same, after forwarding the call to moto (its effect happens, its answer is lost).
    pub fn after_forwarding(mut self) -> Self {
        self.after_forwarding = true;
        self
    }

    /// The same, only for calls whose request body contains `text`.
    pub fn matching(mut self, text: &str) -> Self {
        self.matching = Some(text.to_string());
        self
    }
}

#[derive(Default)]
struct Shared {
    faults: Vec<Fault>,
    rewrites: Vec<Rewrite>,
    calls: Vec<String>,
    actions: BTreeSet<(bool, String)>,
    bodies: Vec<(String, String)>,
    delays: HashMap<String, Duration>,
    in_flight: HashMap<String, usize>,
    peak: HashMap<String, usize>,
}

struct ProxyState {
    upstream: String,
    /// Services answered by the project's own fakes (`eks`), by SigV4 signing name.
    routes: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
    shared: Mutex<Shared>,
    faults: Arc<Faults>,
    identity_center: ic_limits::Enforcer,
}

/// A running proxy; stopped when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The test's fault plan, which the other fakes share (see [`crate::bed::Bed`]).
    pub faults: Arc<Faults>,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> Proxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            routes: Mutex::new(HashMap::new()),
            http: reqwest::Client::new(),
            shared: Mutex::new(Shared::default()),
            faults: Faults::new(),
            identity_center: ic_limits::Enforcer::default(),
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("proxy serves");
        });
        Proxy {
            url,
            faults: state.faults.clone(),
            state,
            task,
        }
    }

    /// Sends requests signed for `service` (its SigV4 signing name, `eks`) to `url` instead
    /// of moto: one endpoint for every service, as autofed's `AWS_ENDPOINT_URL` setting sees.
    pub fn route(&self, service: &str, url: &str) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(service.into(), url.trim_end_matches('/').into());
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.state.shared.lock().unwrap().faults.push(fault);
    }

    /// Adds a response rewrite.
    pub fn rewrite(&self, rewrite: Rewrite) {
        self.state.shared.lock().unwrap().rewrites.push(rewrite);
    }

    /// Holds every `operation` call for `delay` before forwarding it (a slow service).
    pub fn delay(&self, operation: &str, delay: Duration) {
        self.state
            .shared
            .lock()
            .unwrap()
            .delays
            .insert(operation.into(), delay);
    }

    /// The most `operation` calls that were in flight at once.
    pub fn peak_in_flight(&self, operation: &str) -> usize {
        self.state
            .shared
            .lock()
            .unwrap()
            .peak
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Enforces Identity Center's limits on its admin API from now on (`None`: no more), with
    /// fresh figures.
    pub fn limit_identity_center(&self, limits: Option<ic_limits::Limits>) {
        self.state.identity_center.set(limits);
    }

    /// What Identity Center's limits did since they were set.
    pub fn identity_center_stats(&self) -> ic_limits::Stats {
        self.state.identity_center.stats()
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state.shared.lock().unwrap().faults.clear();
    }

    /// Every operation seen, in order (faulted ones included).
    pub fn calls(&self) -> Vec<String> {
        self.state.shared.lock().unwrap().calls.clone()
    }

    /// How many times `operation` was called.
    pub fn count(&self, operation: &str) -> usize {
        self.calls().iter().filter(|c| *c == operation).count()
    }

    /// Every call seen with its request body, in order.
    pub fn calls_with_bodies(&self) -> Vec<(String, String)> {
        self.state.shared.lock().unwrap().bodies.clone()
    }

    /// The IAM actions of the calls seen (`iam:CreateRole`), made with the function's own
    /// credentials (`false`) or an assumed member-account session (`true`).
    pub fn actions(&self) -> BTreeSet<(bool, String)> {
        self.state.shared.lock().unwrap().actions.clone()
    }

    /// Forgets the calls seen so far.
    pub fn clear_calls(&self) {
        let mut shared = self.state.shared.lock().unwrap();
        shared.calls.clear();
        shared.actions.clear();
        shared.bodies.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The operation of an AWS request: `X-Amz-Target` for JSON protocols, `Action=` for query.
pub fn operation(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_string()
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let service = signing_service(&parts.headers);
    let routed = state.routes.lock().unwrap().get(&service).cloned();
    let op = match &routed {
        // restJson1: the operation is in the method and path.
        Some(_) if service == "eks" => {
            crate::eks::operation(&parts.method, parts.uri.path()).into()
        }
        _ => operation(&parts.headers, &body),
    };
    let (fault, delay, rewrite) = {
        let mut shared = state.shared.lock().unwrap();
        shared.calls.push(op.clone());
        // Moto's assumed-role keys, like STS's, start with ASIA: a member-account session.
        let member = access_key(&parts.headers).starts_with("ASIA");
        shared.actions.insert((member, iam_action(&service, &op)));
        let now = {
            let n = shared.in_flight.entry(op.clone()).or_default();
            *n += 1;
            *n
        };
        let peak = shared.peak.entry(op.clone()).or_default();
        *peak = (*peak).max(now);
        let delay = shared.delays.get(&op).copied();
        let text = String::from_utf8_lossy(&body).into_owned();
        shared.bodies.push((op.clone(), text.clone()));
        let hit = shared.faults.iter_mut().find(|f| {
            f.operation == op
                && f.times > 0
                && f.matching
                    .as_ref()
                    .is_none_or(|m| text.contains(m.as_str()))
        });
        let fault = hit.map(|f| {
            f.times -= 1;
            f.clone()
        });
        let rewrite = shared
            .rewrites
            .iter_mut()
            .find(|r| r.operation == op && r.times > 0)
            .map(|r| {
                r.times -= 1;
                r.clone()
            });
        (fault, delay, rewrite)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let protocol = if routed.is_some() {
        Protocol::RestJson
    } else if parts.headers.contains_key("x-amz-target") {
        Protocol::Json
    } else {
        Protocol::Query
    };
    let write = faults::aws_is_write(&op);
    let site = Site {
        service: Service::Aws,
        call: op.clone(),
    };
    let verdict = state.faults.before(site.clone(), write);
    let response = match verdict.act(state.faults.timeout).await {
        Some(kind) => injected(kind, protocol),
        None => {
            let upstream = routed.unwrap_or_else(|| state.upstream.clone());
            let admission = if service == "sso" {
                state.identity_center.admit(&op)
            } else {
                Admission::Forward
            };
            let response = match admission {
                Admission::Refuse(code, message) => aws_error(400, code, message, protocol),
                Admission::Forward if service == "sso" => {
                    let request = body.clone();
                    let response = answer(&state, &upstream, parts, body, fault, rewrite).await;
                    limited(&state.identity_center, &op, &request, response).await
                }
                Admission::Forward => answer(&state, &upstream, parts, body, fault, rewrite).await,
            };
            if write {
                let status = response.status().as_u16();
                state
                    .faults
                    .after_write(site, status)
                    .act(Duration::ZERO)
                    .await;
            }
            response
        }
    };
    *state
        .shared
        .lock()
        .unwrap()
        .in_flight
        .entry(op)
        .or_default() -= 1;
    response
}

/// Moto's answer to an Identity Center call, as the limits make it (see
/// [`ic_limits::Enforcer::answered`]).
async fn limited(
    limits: &ic_limits::Enforcer,
    operation: &str,
    request: &[u8],
    response: Response,
) -> Response {
    if response.status() != StatusCode::OK {
        limits.failed(operation);
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        limits.failed(operation);
        return Response::from_parts(parts, Body::from(bytes));
    };
    limits.answered(operation, request, &mut answer);
    parts.headers.remove("content-length");
    Response::from_parts(parts, Body::from(answer.to_string()))
}

/// The service a SigV4 request is signed for (`Credential=AKID/date/region/SERVICE/...`).
/// The IAM action that authorizes `operation` of the service signed as `service`.
fn iam_action(service: &str, operation: &str) -> String {
    match (service, operation) {
        ("sqs", "SendMessageBatch") => "sqs:SendMessage".into(),
        ("sqs", "DeleteMessageBatch") => "sqs:DeleteMessage".into(),
        ("sqs", "ChangeMessageVisibilityBatch") => "sqs:ChangeMessageVisibility".into(),
        _ => format!("{service}:{operation}"),
    }
}

/// The access key id a SigV4 request is signed with.
fn access_key(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or_default()
        .to_string()
}

fn signing_service(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or_default()
        .to_string()
}

async fn answer(
    state: &ProxyState,
    upstream_url: &str,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
    fault: Option<Fault>,
    rewrite: Option<Rewrite>,
) -> Response {
    let fault_now = fault.as_ref().filter(|f| !f.after_forwarding);
    if let Some(f) = fault_now {
        return fault_response(f);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = state
        .http
        .request(parts.method.clone(), format!("{upstream_url}{path}"));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let sent = upstream.body(body).send().await;
    if let Some(f) = fault {
        // The write reached moto; its answer is lost.
        drop(sent);
        return fault_response(&f);
    }
    match sent {
        Ok(resp) => {
            let mut out = Response::builder().status(resp.status().as_u16());
            for (name, value) in resp.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out = out.header(
                        name,
                        HeaderValue::from_bytes(value.as_bytes()).expect("header"),
                    );
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            let bytes = match rewrite {
                Some(r) => String::from_utf8_lossy(&bytes)
                    .replace(&r.from, &r.to)
                    .into_bytes()
                    .into(),
                None => bytes,
            };
            out.body(Body::from(bytes)).expect("proxied response")
        }
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(e.to_string()))
            .expect("error response"),
    }
}

fn fault_response(f: &Fault) -> Response {
    Response::builder()
        .status(f.status)
        .header("content-type", f.content_type)
        .header("x-amzn-requestid", "4f9b7c1e-0000-4000-8000-000000000001")
        .body(Body::from(f.body.clone()))
        .expect("fault response")
}

/// How a service encodes its errors.
#[derive(Clone, Copy)]
enum Protocol {
    /// Query (IAM, STS): an XML `ErrorResponse`.
    Query,
    /// AWS JSON 1.0/1.1 (Identity Center, Organizations, SQS, ...): `__type` and the
    /// `x-amzn-errortype` header.
    Json,
    /// REST-JSON (EKS): the `x-amzn-errortype` header and a JSON body.
    RestJson,
}

/// An injected throttling or server error, as the service would encode it.
fn injected(kind: Kind, protocol: Protocol) -> Response {
    match (kind, protocol) {
        (Kind::Throttle, Protocol::Query) => {
            aws_error(400, "Throttling", "Rate exceeded", protocol)
        }
        (Kind::Throttle, _) => aws_error(400, "ThrottlingException", "Rate exceeded", protocol),
        _ => aws_error(
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
            protocol,
        ),
    }
}

/// An AWS error answer in `protocol`'s format.
fn aws_error(status: u16, code: &str, message: &str, protocol: Protocol) -> Response {
    let (content_type, body) = match protocol {
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>4f9b7c1e-0000-4000-8000-000000000003</RequestId></ErrorResponse>",
                if status == 500 { "Receiver" } else { "Sender" }
            ),
        ),
        Protocol::Json | Protocol::RestJson => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": code, "message": message}).to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", "4f9b7c1e-0000-4000-8000-000000000003")
        .body(Body::from(body))
        .expect("injected response")
}
