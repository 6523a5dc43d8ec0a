//! A stateful fake of the Okta Management API endpoints autofed uses, with Okta's semantics:
//! generated ids, `search` and `q` filters, `Link` header pagination, full-replace `PUT` on
//! apps, group rules created `INACTIVE`, the 50-character rule name limit, `E0000001` /
//! `E0000007` / `E0000011` errors, `429 E0000047` with rate-limit headers when asked to, and
//! the `SSWS` token check. Every exchange is recorded so a contract test can check it against
//! `../shared/okta-openapi/management-minimal.yaml`.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    faults::{self, Faults, Kind, Service, Site},
    okta_filter::Filter,
};

/// One request and its answer, as the contract test reads them.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// HTTP method, lowercase.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// Request body, if any.
    pub request: Option<Value>,
    /// Response status.
    pub status: u16,
    /// Response content type.
    pub content_type: String,
    /// Response body (JSON, or a string for XML).
    pub response: Value,
}

#[derive(Default)]
struct Data {
    /// The API token the org accepts.
    token: String,
    groups: BTreeMap<String, Value>,
    rules: BTreeMap<String, Value>,
    apps: BTreeMap<String, Value>,
    app_groups: BTreeMap<(String, String), Value>,
    /// Group push mappings: (app id, mapping id) to the mapping.
    pushes: BTreeMap<(String, String), Value>,
    /// The target group name each mapping pushes under.
    push_names: BTreeMap<String, String>,
    next: u64,
    service_apps: BTreeMap<String, String>,
    access_tokens: BTreeMap<String, String>,
    throttle: usize,
    server_errors: usize,
    exchanges: Vec<Exchange>,
    rate: Option<RateLimit>,
    /// The next app creation is raced by another delivery's: its twin is made first.
    twin_next_app: bool,
}

/// Okta's rate limit as the fake enforces it: `per_minute` requests per endpoint (its path,
/// ids generalized, whatever the method) in fixed one-minute windows, past which it answers
/// `429 E0000047` with `X-Rate-Limit-Reset` at the window's end.
struct RateLimit {
    per_minute: usize,
    /// Per endpoint: the window's end (epoch seconds) and the requests in it.
    windows: BTreeMap<String, (u64, usize)>,
    refused: usize,
    peak: BTreeMap<String, usize>,
}

impl RateLimit {
    /// Counts a request to `endpoint`; the window's end if it is over the limit.
    fn over(&mut self, endpoint: &str) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let window = self
            .windows
            .entry(endpoint.to_string())
            .or_insert((now + 60, 0));
        if window.0 <= now {
            *window = (now + 60, 0);
        }
        if window.1 >= self.per_minute {
            self.refused += 1;
            return Some(window.0);
        }
        window.1 += 1;
        let peak = self.peak.entry(endpoint.to_string()).or_default();
        *peak = (*peak).max(window.1);
        None
    }
}

struct OktaState {
    faults: Mutex<Arc<Faults>>,
    base: Mutex<String>,
    page_size: usize,
    metadata: String,
    data: Mutex<Data>,
}

/// A running fake Okta org; stopped when dropped.
pub struct OktaFake {
    /// `http://127.0.0.1:<port>`, the org URL.
    pub url: String,
    state: Arc<OktaState>,
    task: JoinHandle<()>,
}

impl OktaFake {
    /// Starts a fake org that accepts `token` and answers lists in pages of `page_size`.
    pub async fn start(token: &str, page_size: usize) -> OktaFake {
        let metadata =
            std::fs::read_to_string(crate::root().join("tests/sandbox/okta-metadata.xml"))
                .expect("metadata");
        let state = Arc::new(OktaState {
            faults: Mutex::new(Faults::new()),
            base: Mutex::new(String::new()),
            page_size,
            metadata,
            data: Mutex::new(Data {
                token: token.to_string(),
                ..Data::default()
            }),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind okta fake");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        *state.base.lock().unwrap() = url.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("okta fake serves");
        });
        OktaFake { url, state, task }
    }

    /// Registers an OAuth 2.0 service app: its client id and its public key (PEM).
    pub fn register_service_app(&self, client_id: &str, public_key_pem: &str) {
        self.state
            .data
            .lock()
            .unwrap()
            .service_apps
            .insert(client_id.into(), public_key_pem.into());
    }

    /// Replaces the API token the org accepts, as an administrator rotating it does: the old
    /// one is refused from now on.
    pub fn rotate_token(&self, token: &str) {
        self.state.data.lock().unwrap().token = token.to_string();
    }

    /// Revokes every access token issued so far, as removing an app's key does.
    pub fn revoke_access_tokens(&self) {
        self.state.data.lock().unwrap().access_tokens.clear();
    }

    /// How many access tokens the token endpoint has issued (and are not revoked).
    pub fn tokens_issued(&self) -> usize {
        self.state.data.lock().unwrap().access_tokens.len()
    }

    /// Consults `faults` (the test's plan) about every request from now on.
    pub fn share_faults(&self, faults: Arc<Faults>) {
        *self.state.faults.lock().unwrap() = faults;
    }

    /// Answers the next `n` requests with `429 E0000047`.
    pub fn throttle(&self, n: usize) {
        self.state.data.lock().unwrap().throttle = n;
    }

    /// Enforces Okta's rate limit from now on: `per_minute` requests per endpoint.
    pub fn rate_limit(&self, per_minute: usize) {
        self.state.data.lock().unwrap().rate = Some(RateLimit {
            per_minute,
            windows: BTreeMap::new(),
            refused: 0,
            peak: BTreeMap::new(),
        });
    }

    /// What the rate limit did: requests refused, and the most admitted in one window, per
    /// endpoint.
    pub fn rate_limit_stats(&self) -> (usize, BTreeMap<String, usize>) {
        let data = self.state.data.lock().unwrap();
        data.rate
            .as_ref()
            .map(|r| (r.refused, r.peak.clone()))
            .unwrap_or_default()
    }

    /// Answers the next `n` requests with `500`.
    pub fn fail(&self, n: usize) {
        self.state.data.lock().unwrap().server_errors = n;
    }

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.data.lock().unwrap().exchanges.clone()
    }

    /// Exchanges that changed state (every method but GET).
    pub fn writes(&self) -> Vec<String> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.method != "get")
            .map(|e| format!("{} {}", e.method.to_uppercase(), e.path))
            .collect()
    }

    /// The groups, by id.
    pub fn groups(&self) -> BTreeMap<String, Value> {
        self.state.data.lock().unwrap().groups.clone()
    }

    /// The group rules, by id.
    pub fn rules(&self) -> BTreeMap<String, Value> {
        self.state.data.lock().unwrap().rules.clone()
    }

    /// The apps, by id.
    pub fn apps(&self) -> BTreeMap<String, Value> {
        self.state.data.lock().unwrap().apps.clone()
    }

    /// The group assignments of `app`: group id to the assignment.
    pub fn app_groups(&self, app: &str) -> BTreeMap<String, Value> {
        self.state
            .data
            .lock()
            .unwrap()
            .app_groups
            .iter()
            .filter(|((a, _), _)| a == app)
            .map(|((_, g), v)| (g.clone(), v.clone()))
            .collect()
    }

    /// The names under which active push mappings push their groups (what Okta's SCIM
    /// connection would create in the identity store).
    pub fn pushed_group_names(&self) -> Vec<String> {
        let data = self.state.data.lock().unwrap();
        data.pushes
            .values()
            .filter(|m| m["status"] == "ACTIVE")
            .filter_map(|m| {
                let id = m["id"].as_str()?;
                data.push_names.get(id).cloned().or_else(|| {
                    let g = m["sourceGroupId"].as_str()?;
                    data.groups.get(g)?["profile"]["name"]
                        .as_str()
                        .map(str::to_string)
                })
            })
            .collect()
    }

    /// Enables features on an app, as a person enabling its provisioning would.
    pub fn enable_provisioning(&self, app: &str) {
        if let Some(a) = self.state.data.lock().unwrap().apps.get_mut(app) {
            a["features"] = json!(["PUSH_NEW_USERS", "IMPORT_NEW_USERS"]);
        }
    }

    /// Makes the next `POST /api/v1/apps` race another delivery making the same app: an
    /// identical app (the twin) is created just before the requested one, so it is the older.
    pub fn twin_next_app(&self) {
        self.state.data.lock().unwrap().twin_next_app = true;
    }

    /// Changes an app's `settings.app` key directly (drift made by a person).
    pub fn set_app_setting(&self, app: &str, key: &str, value: Value) {
        if let Some(a) = self.state.data.lock().unwrap().apps.get_mut(app) {
            a["settings"]["app"][key] = value;
        }
    }

    /// Forgets the recorded exchanges.
    pub fn clear_exchanges(&self) {
        self.state.data.lock().unwrap().exchanges.clear();
    }

    /// Creates a group directly (setup), returning its id.
    pub fn seed_group(&self, name: &str, description: &str) -> String {
        let mut data = self.state.data.lock().unwrap();
        new_group(
            &mut data,
            &json!({ "name": name, "description": description }),
        )
    }
}

impl Drop for OktaFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Good enough for a fake: a fixed date with the seconds of the day.
    format!(
        "2026-11-23T{:02}:{:02}:{:02}.000Z",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn new_id(data: &mut Data, prefix: &str) -> String {
    data.next += 1;
    format!("{prefix}{:017}", data.next)
}

fn new_group(data: &mut Data, profile: &Value) -> String {
    let id = new_id(data, "00g");
    let group = json!({
        "id": id,
        "created": now(),
        "lastUpdated": now(),
        "lastMembershipUpdated": now(),
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": profile_of(profile),
        "_links": {}
    });
    data.groups.insert(id.clone(), group);
    id
}

fn error(
    status: StatusCode,
    code: &str,
    summary: &str,
    causes: Vec<String>,
) -> (StatusCode, Value) {
    (
        status,
        json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeFakeErrorId000000000",
            "errorCauses": causes.into_iter().map(|c| json!({ "errorSummary": c })).collect::<Vec<_>>(),
        }),
    )
}

/// A group profile as Okta keeps it: `description` only when one was given.
fn profile_of(given: &Value) -> Value {
    let mut profile = json!({ "name": given["name"] });
    if let Some(d) = given.get("description").filter(|d| d.is_string()) {
        profile["description"] = d.clone();
    }
    profile
}

/// Okta's answer to a second group with a taken name.
fn name_taken() -> (StatusCode, Value) {
    error(
        StatusCode::BAD_REQUEST,
        "E0000001",
        "Api validation failed: name",
        vec!["name: An object with this field already exists in the current organization".into()],
    )
}

/// An app as Okta keeps it: what was sent, with the ids, lifecycle and signing key Okta adds.
fn stored_app(id: &str, body: &Value, status: &str, created: &str) -> Value {
    let mut app = body.clone();
    app["id"] = json!(id);
    app["status"] = json!(status);
    app["created"] = json!(created);
    app["lastUpdated"] = json!(now());
    app["features"] = json!([]);
    if app["settings"].get("app").is_none() {
        app["settings"]["app"] = json!({});
    }
    app["credentials"]["signing"]["kid"] = json!(format!("kid-{id}"));
    app["_links"] = json!({});
    app
}

fn not_found(what: &str, id: &str) -> (StatusCode, Value) {
    error(
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!("Not found: Resource not found: {id} ({what})"),
        vec![],
    )
}

/// `400 E0000031`: a `search` or `filter` Okta cannot parse.
fn bad_filter(problem: &str) -> (StatusCode, Value) {
    error(
        StatusCode::BAD_REQUEST,
        "E0000031",
        "Invalid search criteria.",
        vec![problem.to_string()],
    )
}

/// The parsed `key` parameter of `query`, `Ok(None)` when absent.
fn filter_of(
    query: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<Filter>, (StatusCode, Value)> {
    query
        .get(key)
        .map(|expr| Filter::parse(expr).map_err(|e| bad_filter(&format!("{key}: {e}"))))
        .transpose()
}

struct Page {
    items: Vec<Value>,
    next_after: Option<String>,
}

fn page(
    items: Vec<(String, Value)>,
    query: &BTreeMap<String, String>,
    default_size: usize,
) -> Page {
    let limit = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(default_size)
        .clamp(1, 200);
    let start = match query.get("after") {
        Some(after) => items
            .iter()
            .position(|(id, _)| id > after)
            .unwrap_or(items.len()),
        None => 0,
    };
    let slice: Vec<_> = items.into_iter().skip(start).collect();
    let more = slice.len() > limit;
    let items: Vec<(String, Value)> = slice.into_iter().take(limit).collect();
    Page {
        next_after: more
            .then(|| items.last().map(|(id, _)| id.clone()))
            .flatten(),
        items: items.into_iter().map(|(_, v)| v).collect(),
    }
}

async fn handle(State(state): State<Arc<OktaState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let request: Option<Value> = serde_json::from_slice(&bytes).ok();
    let path = parts.uri.path().to_string();
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| {
                    let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned();
                    (k.to_string(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    let base = state.base.lock().unwrap().clone();
    if parts.method == Method::POST && path == "/oauth2/v1/token" {
        let (status, body) = token(&state, &base, &bytes);
        return Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("token response");
    }
    let faults = state.faults.lock().unwrap().clone();
    let write = parts.method != Method::GET;
    let site = Site {
        service: Service::Okta,
        call: faults::okta_call(parts.method.as_str(), &path),
    };
    let fault = faults.before(site.clone(), write).act(faults.timeout).await;
    let (status, content_type, response, link) = answer(
        &state,
        &parts.method,
        &parts.headers,
        &path,
        &query,
        request.as_ref(),
        &base,
        fault,
    );
    if write && fault.is_none() {
        faults
            .after_write(site, status.as_u16())
            .act(Duration::ZERO)
            .await;
    }
    let mut data = state.data.lock().unwrap();
    data.exchanges.push(Exchange {
        method: parts.method.as_str().to_lowercase(),
        path: path.clone(),
        query: query.clone(),
        request: request.clone(),
        status: status.as_u16(),
        content_type: content_type.to_string(),
        response: response.clone(),
    });
    drop(data);
    let mut out = Response::builder()
        .status(status)
        .header("content-type", content_type);
    if status == StatusCode::TOO_MANY_REQUESTS {
        // The rate limit's window end rides in `link` (see `answer`); other 429s end in 1 s.
        let reset = link
            .iter()
            .find_map(|l| l.strip_prefix("reset:"))
            .map(str::to_string)
            .unwrap_or_else(|| {
                (SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_secs()
                    + 1)
                .to_string()
            });
        out = out
            .header("x-rate-limit-limit", "600")
            .header("x-rate-limit-remaining", "0")
            .header("x-rate-limit-reset", reset);
    }
    for l in link.iter().filter(|l| !l.starts_with("reset:")) {
        out = out.header("link", l);
    }
    let body = match &response {
        Value::Null => Body::empty(),
        Value::String(xml) if content_type != "application/json" => Body::from(xml.clone()),
        other => Body::from(other.to_string()),
    };
    out.body(body).expect("okta response")
}

type Answer = (StatusCode, &'static str, Value, Vec<String>);

fn json_answer((status, body): (StatusCode, Value)) -> Answer {
    (status, "application/json", body, vec![])
}

fn list_answer(page: Page, base: &str, path: &str, query: &BTreeMap<String, String>) -> Answer {
    let mut keep: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| *k != "after")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let encode = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut links = vec![format!("<{base}{path}?{}>; rel=\"self\"", encode(&keep))];
    if let Some(after) = page.next_after {
        keep.push(("after".into(), after));
        links.push(format!("<{base}{path}?{}>; rel=\"next\"", encode(&keep)));
    }
    (
        StatusCode::OK,
        "application/json",
        Value::Array(page.items),
        links,
    )
}

// NB: the request's parts, one argument each, as the handler has them.
#[allow(clippy::too_many_arguments)]
fn answer(
    state: &OktaState,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    query: &BTreeMap<String, String>,
    body: Option<&Value>,
    base: &str,
    fault: Option<Kind>,
) -> Answer {
    let mut data = state.data.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let bearer_ok = auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| data.access_tokens.contains_key(t));
    if auth != format!("SSWS {}", data.token) && !bearer_ok {
        return json_answer(error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            vec![],
        ));
    }
    let endpoint = autofed::okta::operation_path(path);
    if let Some(reset) = data.rate.as_mut().and_then(|r| r.over(&endpoint)) {
        let (status, body) = error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            vec![],
        );
        return (
            status,
            "application/json",
            body,
            vec![format!("reset:{reset}")],
        );
    }
    if fault == Some(Kind::Throttle) || data.throttle > 0 {
        data.throttle = data.throttle.saturating_sub(usize::from(fault.is_none()));
        return json_answer(error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            vec![],
        ));
    }
    if fault == Some(Kind::ServerError) || data.server_errors > 0 {
        data.server_errors = data
            .server_errors
            .saturating_sub(usize::from(fault.is_none()));
        return json_answer(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "E0000009",
            "Internal Server Error",
            vec![],
        ));
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let body = body.cloned().unwrap_or(Value::Null);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["groups"]) => {
            let search = match filter_of(query, "search") {
                Ok(f) => f,
                Err(answer) => return json_answer(answer),
            };
            let items: Vec<(String, Value)> = data
                .groups
                .iter()
                .filter(|(_, g)| search.as_ref().is_none_or(|f| f.matches(g)))
                .filter(|(_, g)| {
                    query.get("q").is_none_or(|q| {
                        g["profile"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_lowercase()
                            .starts_with(&q.to_lowercase())
                    })
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            list_answer(page(items, query, state.page_size), base, path, query)
        }
        ("POST", ["groups"]) => {
            let name = body["profile"]["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: profile",
                    vec!["name: The field cannot be left blank".into()],
                ));
            }
            if data.groups.values().any(|g| g["profile"]["name"] == name) {
                return json_answer(name_taken());
            }
            let id = new_group(&mut data, &body["profile"]);
            json_answer((StatusCode::OK, data.groups[&id].clone()))
        }
        ("GET", ["groups", id]) if *id != "rules" => match data.groups.get(*id) {
            Some(g) => json_answer((StatusCode::OK, g.clone())),
            None => json_answer(not_found("UserGroup", id)),
        },
        ("DELETE", ["groups", id]) if *id != "rules" => {
            if data.groups.remove(*id).is_none() {
                return json_answer(not_found("UserGroup", id));
            }
            data.app_groups.retain(|(_, g), _| g != id);
            (
                StatusCode::NO_CONTENT,
                "application/json",
                Value::Null,
                vec![],
            )
        }
        ("GET", ["groups", "rules"]) => {
            let items: Vec<(String, Value)> = data
                .rules
                .iter()
                .filter(|(_, r)| {
                    query
                        .get("search")
                        .is_none_or(|s| r["name"].as_str().unwrap_or_default().contains(s.as_str()))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            list_answer(page(items, query, state.page_size), base, path, query)
        }
        ("POST", ["groups", "rules"]) => {
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 50 {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: name",
                    vec!["name: Name must be between 1 and 50 characters.".into()],
                ));
            }
            let id = new_id(&mut data, "0pr");
            let mut rule = body.clone();
            rule["id"] = json!(id);
            rule["type"] = json!("group_rule");
            rule["status"] = json!("INACTIVE");
            rule["created"] = json!(now());
            rule["lastUpdated"] = json!(now());
            data.rules.insert(id.clone(), rule.clone());
            json_answer((StatusCode::OK, rule))
        }
        ("POST", ["groups", "rules", id, "lifecycle", "activate"]) => match data.rules.get_mut(*id)
        {
            Some(rule) => {
                rule["status"] = json!("ACTIVE");
                (
                    StatusCode::NO_CONTENT,
                    "application/json",
                    Value::Null,
                    vec![],
                )
            }
            None => json_answer(not_found("GroupRule", id)),
        },
        ("DELETE", ["groups", "rules", id]) => {
            match data.rules.get(*id).map(|r| r["status"] == "ACTIVE") {
                None => json_answer(not_found("GroupRule", id)),
                // NB: Okta refuses to delete an active rule; it must be deactivated first.
                Some(true) => json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: status",
                    vec!["status: Cannot delete an active rule.".into()],
                )),
                // NB: the contract answers a rule deletion with 202 Accepted.
                Some(false) => {
                    data.rules.remove(*id);
                    (
                        StatusCode::ACCEPTED,
                        "application/json",
                        Value::Null,
                        vec![],
                    )
                }
            }
        }
        ("POST", ["groups", "rules", id, "lifecycle", "deactivate"]) => {
            match data.rules.get_mut(*id) {
                Some(rule) => {
                    rule["status"] = json!("INACTIVE");
                    (
                        StatusCode::NO_CONTENT,
                        "application/json",
                        Value::Null,
                        vec![],
                    )
                }
                None => json_answer(not_found("GroupRule", id)),
            }
        }
        ("GET", ["apps", app]) => match data.apps.get(*app) {
            Some(a) => json_answer((StatusCode::OK, a.clone())),
            None => json_answer(not_found("AppInstance", app)),
        },
        ("GET", ["apps", app, "sso", "saml", "metadata"]) => {
            let Some(kid) = data
                .apps
                .get(*app)
                .map(|a| a["credentials"]["signing"]["kid"].clone())
            else {
                return json_answer(not_found("AppInstance", app));
            };
            // The signing key is named by `kid`, which the contract requires.
            if query.get("kid").map(String::as_str) != kid.as_str() {
                return json_answer(error(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    "Not found: Resource not found: kid (AppInstanceKey)",
                    vec![],
                ));
            }
            let xml = state.metadata.replace("exk1sandbox0AWSfed0x7", app);
            (
                StatusCode::OK,
                "application/xml",
                Value::String(xml),
                vec![],
            )
        }
        ("GET", ["apps", app, "groups"]) => {
            if !data.apps.contains_key(*app) {
                return json_answer(not_found("AppInstance", app));
            }
            let items: Vec<(String, Value)> = data
                .app_groups
                .iter()
                .filter(|((a, _), _)| a == app)
                .map(|((_, g), v)| (g.clone(), v.clone()))
                .collect();
            list_answer(page(items, query, state.page_size), base, path, query)
        }
        ("PUT", ["apps", app, "groups", group]) => {
            if !data.apps.contains_key(*app) {
                return json_answer(not_found("AppInstance", app));
            }
            if !data.groups.contains_key(*group) {
                return json_answer(not_found("UserGroup", group));
            }
            let assignment = json!({
                "id": group,
                "priority": body.get("priority").cloned().unwrap_or(json!(0)),
                "profile": body.get("profile").cloned().unwrap_or(json!({})),
                "_links": {}
            });
            data.app_groups
                .insert((app.to_string(), group.to_string()), assignment.clone());
            json_answer((StatusCode::OK, assignment))
        }
        ("GET", ["apps", app, "groups", group]) => {
            match data.app_groups.get(&(app.to_string(), group.to_string())) {
                Some(a) => json_answer((StatusCode::OK, a.clone())),
                None => json_answer(not_found("ApplicationGroupAssignment", group)),
            }
        }
        ("DELETE", ["apps", app, "groups", group]) => match data
            .app_groups
            .remove(&(app.to_string(), group.to_string()))
        {
            Some(_) => (
                StatusCode::NO_CONTENT,
                "application/json",
                Value::Null,
                vec![],
            ),
            None => json_answer(not_found("ApplicationGroupAssignment", group)),
        },
        ("PUT", ["groups", id]) if *id != "rules" => {
            let name = body["profile"]["name"].as_str().unwrap_or_default();
            if name.is_empty() {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: profile",
                    vec!["name: The field cannot be left blank".into()],
                ));
            }
            if let Some(other) = data
                .groups
                .iter()
                .find(|(k, g)| k.as_str() != *id && g["profile"]["name"] == name)
            {
                let _ = other;
                return json_answer(name_taken());
            }
            match data.groups.get_mut(*id) {
                Some(g) => {
                    g["profile"] = profile_of(&body["profile"]);
                    g["lastUpdated"] = json!(now());
                    json_answer((StatusCode::OK, g.clone()))
                }
                None => json_answer(not_found("UserGroup", id)),
            }
        }
        ("PUT", ["groups", "rules", id]) => {
            let Some(rule) = data.rules.get(*id).cloned() else {
                return json_answer(not_found("GroupRule", id));
            };
            // NB: Okta changes a rule only while it is inactive.
            if rule["status"] == "ACTIVE" {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: status",
                    vec!["status: Cannot update an active rule; deactivate it first.".into()],
                ));
            }
            let name = body["name"].as_str().unwrap_or_default();
            if name.is_empty() || name.chars().count() > 50 {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: name",
                    vec!["name: Name must be between 1 and 50 characters.".into()],
                ));
            }
            let mut updated = body.clone();
            updated["id"] = json!(id);
            updated["type"] = json!("group_rule");
            updated["status"] = json!("INACTIVE");
            updated["created"] = rule["created"].clone();
            updated["lastUpdated"] = json!(now());
            data.rules.insert(id.to_string(), updated.clone());
            json_answer((StatusCode::OK, updated))
        }
        ("GET", ["apps"]) => {
            let filter = match filter_of(query, "filter") {
                Ok(f) => f,
                Err(answer) => return json_answer(answer),
            };
            let items: Vec<(String, Value)> = data
                .apps
                .iter()
                .filter(|(_, a)| {
                    query.get("q").is_none_or(|q| {
                        let q = q.to_lowercase();
                        ["name", "label"].iter().any(|k| {
                            a[*k]
                                .as_str()
                                .unwrap_or_default()
                                .to_lowercase()
                                .starts_with(&q)
                        })
                    })
                })
                .filter(|(_, a)| filter.as_ref().is_none_or(|f| f.matches(a)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            list_answer(page(items, query, state.page_size), base, path, query)
        }
        ("POST", ["apps"]) => {
            let label = body["label"].as_str().unwrap_or_default();
            let mut causes = Vec::new();
            if label.is_empty() {
                causes.push("label: The field cannot be left blank".to_string());
            }
            if body["signOnMode"] != "SAML_2_0" {
                causes.push("signOnMode: The app supports SAML_2_0 only".to_string());
            }
            if !causes.is_empty() {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: app",
                    causes,
                ));
            }
            let active = query.get("activate").is_none_or(|a| a == "true");
            if std::mem::take(&mut data.twin_next_app) {
                let twin = new_id(&mut data, "0oa");
                let app = stored_app(&twin, &body, "ACTIVE", &now());
                data.apps.insert(twin, app);
            }
            let id = new_id(&mut data, "0oa");
            let app = stored_app(
                &id,
                &body,
                if active { "ACTIVE" } else { "INACTIVE" },
                &now(),
            );
            data.apps.insert(id, app.clone());
            json_answer((StatusCode::OK, app))
        }
        ("PUT", ["apps", app]) => {
            let Some(old) = data.apps.get(*app).cloned() else {
                return json_answer(not_found("AppInstance", app));
            };
            if body["label"].as_str().unwrap_or_default().is_empty()
                || body["signOnMode"] != old["signOnMode"]
            {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: app",
                    vec!["label, signOnMode: a full app object is required".into()],
                ));
            }
            // NB: a full replace: what the request leaves out is gone.
            let mut replaced = stored_app(
                app,
                &body,
                old["status"].as_str().unwrap_or("ACTIVE"),
                old["created"].as_str().unwrap_or_default(),
            );
            replaced["features"] = old["features"].clone();
            replaced["credentials"]["signing"]["kid"] =
                old["credentials"]["signing"]["kid"].clone();
            data.apps.insert(app.to_string(), replaced.clone());
            json_answer((StatusCode::OK, replaced))
        }
        ("POST", ["apps", app, "lifecycle", "deactivate"]) => match data.apps.get_mut(*app) {
            Some(a) => {
                a["status"] = json!("INACTIVE");
                (StatusCode::OK, "application/json", json!({}), vec![])
            }
            None => json_answer(not_found("AppInstance", app)),
        },
        ("DELETE", ["apps", app]) => match data.apps.get(*app).map(|a| a["status"] == "ACTIVE") {
            None => json_answer(not_found("AppInstance", app)),
            // NB: Okta deletes only a deactivated app.
            Some(true) => json_answer(error(
                StatusCode::FORBIDDEN,
                "E0000006",
                "You do not have permission to perform the requested action: the app is active; deactivate it first",
                vec![],
            )),
            Some(false) => {
                data.apps.remove(*app);
                data.app_groups.retain(|(a, _), _| a != app);
                (
                    StatusCode::NO_CONTENT,
                    "application/json",
                    Value::Null,
                    vec![],
                )
            }
        },
        ("GET", ["apps", app, "group-push", "mappings"]) => {
            if !data.apps.contains_key(*app) {
                return json_answer(not_found("AppInstance", app));
            }
            let items: Vec<(String, Value)> = data
                .pushes
                .iter()
                .filter(|((a, _), _)| a == app)
                .filter(|(_, m)| {
                    query
                        .get("sourceGroupId")
                        .is_none_or(|g| m["sourceGroupId"] == g.as_str())
                })
                .map(|((_, id), m)| (id.clone(), m.clone()))
                .collect();
            list_answer(page(items, query, state.page_size), base, path, query)
        }
        ("POST", ["apps", app, "group-push", "mappings"]) => {
            if !data.apps.contains_key(*app) {
                return json_answer(not_found("AppInstance", app));
            }
            let source = body["sourceGroupId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let by_id = body["targetGroupId"].as_str();
            let by_name = body["targetGroupName"].as_str();
            if !data.groups.contains_key(&source) || by_id.is_some() == by_name.is_some() {
                return json_answer(error(
                    StatusCode::BAD_REQUEST,
                    "E0000001",
                    "Api validation failed: groupPushMapping",
                    vec!["sourceGroupId must name a group, and exactly one of targetGroupId or targetGroupName is required".into()],
                ));
            }
            let id = new_id(&mut data, "gPm");
            let target = by_id
                .map(str::to_string)
                .unwrap_or_else(|| format!("target-{id}"));
            let mapping = json!({
                "id": id,
                "sourceGroupId": source,
                "targetGroupId": target,
                "status": body.get("status").cloned().unwrap_or(json!("ACTIVE")),
                "created": now(),
                "lastUpdated": now(),
                "_links": {
                    "app": { "href": format!("{base}/api/v1/apps/{app}") },
                    "sourceGroup": { "href": format!("{base}/api/v1/groups/{source}") },
                }
            });
            data.pushes
                .insert((app.to_string(), id.clone()), mapping.clone());
            if let Some(name) = by_name {
                data.push_names.insert(id, name.to_string());
            }
            (StatusCode::CREATED, "application/json", mapping, vec![])
        }
        _ => json_answer(error(
            StatusCode::NOT_FOUND,
            "E0000022",
            &format!("The endpoint does not support the provided HTTP method: {method} {path}"),
            vec![],
        )),
    }
}

impl OktaFake {
    /// Creates an app directly (setup): a SAML app named `name` with `label`, returning its id.
    pub fn seed_app(&self, name: &str, label: &str) -> String {
        self.seed_app_with(name, label, json!({}))
    }

    /// Creates an app directly (setup) with these `settings.app`, returning its id.
    pub fn seed_app_with(&self, name: &str, label: &str, settings: Value) -> String {
        let mut data = self.state.data.lock().unwrap();
        let id = new_id(&mut data, "0oa");
        let body = json!({
            "name": name,
            "label": label,
            "signOnMode": "SAML_2_0",
            "settings": { "app": settings },
        });
        data.apps
            .insert(id.clone(), stored_app(&id, &body, "ACTIVE", &now()));
        id
    }
}

/// `POST /oauth2/v1/token`, client credentials with `private_key_jwt`: the assertion must be
/// signed by the registered key, with the client id as issuer and subject and the token
/// endpoint as audience. Errors are OAuth's (`invalid_client`, `invalid_request`).
fn token(state: &OktaState, base: &str, body: &[u8]) -> (StatusCode, Value) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            (k.to_string(), v)
        })
        .collect();
    let oauth_error = |code: &str, description: &str| {
        (
            if code == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            },
            json!({ "error": code, "error_description": description }),
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth_error(
            "invalid_request",
            "client_credentials with a jwt-bearer client assertion is required",
        );
    }
    let Some(assertion) = form.get("client_assertion") else {
        return oauth_error("invalid_request", "client_assertion is required");
    };
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion.as_bytes());
    let Some(client_id) = unverified
        .ok()
        .and_then(|d| d.claims["sub"].as_str().map(str::to_string))
    else {
        return oauth_error("invalid_client", "The client_assertion is not a JWT.");
    };
    let mut data = state.data.lock().unwrap();
    let Some(public) = data.service_apps.get(&client_id).cloned() else {
        return oauth_error("invalid_client", "The client is not registered.");
    };
    let Ok(key) = DecodingKey::from_rsa_pem(public.as_bytes()) else {
        return oauth_error("invalid_client", "The registered key is not usable.");
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{base}/oauth2/v1/token")]);
    validation.set_issuer(&[client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    if decode::<Value>(assertion.as_bytes(), &key, &validation).is_err() {
        return oauth_error(
            "invalid_client",
            "The client_assertion signature is invalid.",
        );
    }
    data.next += 1;
    let access_token = format!("fake-access-{:012}", data.next);
    let scope = form.get("scope").cloned().unwrap_or_default();
    data.access_tokens
        .insert(access_token.clone(), scope.clone());
    (
        StatusCode::OK,
        json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": access_token, "scope": scope }),
    )
}

/// Runs the contract check over `exchanges`; its exit status and output.
pub fn check_contract(name: &str, exchanges: &[Exchange]) -> (bool, String) {
    let file = crate::function::testbed_path(&format!("okta-{name}"), "jsonl");
    let lines: Vec<String> = exchanges
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let spec = crate::root().join("../shared/okta-openapi/management-minimal.yaml");
    assert!(
        spec.exists(),
        "{} is missing: Okta's contract is read from the shared/ folder beside the checkout",
        spec.display()
    );
    let out = std::process::Command::new(crate::root().join(".testbed/venv/bin/python"))
        .arg(crate::root().join("tests/testbed/okta_contract.py"))
        .arg(&spec)
        .arg(&file)
        .output()
        .expect("run the contract check (tests/run.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
