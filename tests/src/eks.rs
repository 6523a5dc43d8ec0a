//! A stateful fake of EKS's cluster and access-entry API (restJson1, as the real SDK client
//! speaks it), with the shapes and error codes of AWS's published EKS service model (checked
//! by `tests/testbed/eks_contract.py` against botocore's copy of that model).
//!
//! Each cluster also has a Kubernetes API server ([`crate::kubernetes`]); the two share the
//! cluster's state, as in EKS, where access entries decide who the API server lets in.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, Method},
    response::Response,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::kubernetes::{self, KubeServer};

/// An access entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's ARN.
    pub arn: String,
    /// `STANDARD`, `EC2_LINUX`, ...
    pub kind: String,
    /// Its username.
    pub username: String,
    /// Its Kubernetes groups.
    pub groups: Vec<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Associated policies: ARN -> (access scope, associated at, modified at).
    pub policies: BTreeMap<String, (Value, f64, f64)>,
    created_at: f64,
    modified_at: f64,
}

/// One cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Its account.
    pub account: String,
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
    /// Its id (the Kubernetes endpoint's path).
    pub id: String,
    /// `CREATING`, `ACTIVE`, `UPDATING`, ...
    pub status: String,
    /// Describes left that answer `CREATING` (or `UPDATING`) before the cluster is ACTIVE.
    pub polls_left: u32,
    /// The authentication mode.
    pub mode: String,
    mode_after_update: Option<String>,
    /// The role that created the cluster (admin by EKS's bootstrap).
    pub creator: String,
    /// Access entries by principal ARN.
    pub entries: BTreeMap<String, Entry>,
    /// Kubernetes objects by path.
    pub objects: BTreeMap<String, Value>,
    /// The last resourceVersion handed out.
    pub resource_version: u64,
    created_at: f64,
}

/// One request and its answer, for the contract check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exchange {
    /// The operation.
    pub operation: String,
    /// The HTTP status.
    pub status: u16,
    /// The request body (JSON, or null).
    pub request: Value,
    /// The response body.
    pub response: Value,
    /// The error type, for errors.
    pub error: Option<String>,
}

#[derive(Default)]
pub(crate) struct World {
    /// The test's fault plan, consulted by the API servers (EKS itself is behind the proxy,
    /// which consults the same plan).
    pub(crate) faults: Arc<crate::faults::Faults>,
    pub(crate) clusters: Vec<Cluster>,
    exchanges: Vec<Exchange>,
    accounts: HashMap<String, String>,
    pub(crate) kube_requests: Vec<String>,
    pub(crate) interleaved: Vec<(String, String, kubernetes::Edit)>,
}

impl World {
    pub(crate) fn cluster_by_id(&mut self, id: &str) -> Option<&mut Cluster> {
        self.clusters.iter_mut().find(|c| c.id == id)
    }
}

/// The running fakes: EKS on HTTP, the clusters' API servers on HTTPS.
pub struct Eks {
    /// EKS's endpoint.
    pub url: String,
    /// The API servers.
    pub kube: KubeServer,
    world: Arc<Mutex<World>>,
    task: JoinHandle<()>,
}

impl Drop for Eks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct FakeState {
    world: Arc<Mutex<World>>,
    moto: String,
    http: reqwest::Client,
    kube_base: String,
    ca_b64: String,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        .floor()
}

/// The access policies EKS offers (a subset of `ListAccessPolicies`).
pub const ACCESS_POLICIES: &[&str] = &[
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
    "AmazonEKSAdminViewPolicy",
];

impl Eks {
    /// Starts EKS and the API servers. `moto` answers "who is this access key" and verifies
    /// EKS tokens; `sts_endpoint` is the STS endpoint tokens must be signed for.
    pub async fn start(moto: &str, sts_endpoint: &str) -> Eks {
        let world = Arc::new(Mutex::new(World::default()));
        let kube = KubeServer::start(world.clone(), moto, sts_endpoint).await;
        let state = Arc::new(FakeState {
            world: world.clone(),
            moto: moto.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            kube_base: kube.url.clone(),
            ca_b64: kube.ca_b64.clone(),
        });
        let app = Router::new().fallback(handle).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind eks");
        let url = format!("http://{}", listener.local_addr().expect("eks address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("eks serves");
        });
        Eks {
            url,
            kube,
            world,
            task,
        }
    }

    /// Adds a cluster that answers `CREATING` to its first `creating_polls` describes, in
    /// authentication `mode`, created by `creator` (a role ARN). In API modes the creator gets
    /// its admin access entry, as EKS's `bootstrapClusterCreatorAdminPermissions` does.
    pub fn add_cluster(
        &self,
        account: &str,
        region: &str,
        name: &str,
        mode: &str,
        creating_polls: u32,
        creator: &str,
    ) {
        let id = format!("{:032X}", fnv(&format!("{account}/{region}/{name}")));
        let created_at = now();
        let mut cluster = Cluster {
            account: account.into(),
            region: region.into(),
            name: name.into(),
            id,
            status: if creating_polls == 0 {
                "ACTIVE".into()
            } else {
                "CREATING".into()
            },
            polls_left: creating_polls,
            mode: mode.into(),
            mode_after_update: None,
            creator: creator.into(),
            entries: BTreeMap::new(),
            objects: BTreeMap::new(),
            resource_version: 100,
            created_at,
        };
        kubernetes::bootstrap(&mut cluster);
        if mode != "CONFIG_MAP" {
            let arn = entry_arn(&cluster, creator);
            let mut entry = new_entry(&cluster, creator, arn, None, Vec::new(), BTreeMap::new());
            entry.policies.insert(
                "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy".into(),
                (json!({"type": "cluster"}), created_at, created_at),
            );
            cluster.entries.insert(creator.into(), entry);
        }
        self.world.lock().unwrap().clusters.push(cluster);
    }

    /// A copy of a cluster's state.
    pub fn cluster(&self, account: &str, region: &str, name: &str) -> Cluster {
        self.world
            .lock()
            .unwrap()
            .clusters
            .iter()
            .find(|c| c.account == account && c.region == region && c.name == name)
            .cloned()
            .expect("cluster exists")
    }

    /// Changes a cluster's state directly (as another tool would).
    pub fn edit_cluster(
        &self,
        account: &str,
        region: &str,
        name: &str,
        edit: impl FnOnce(&mut Cluster),
    ) {
        let mut world = self.world.lock().unwrap();
        let c = world
            .clusters
            .iter_mut()
            .find(|c| c.account == account && c.region == region && c.name == name)
            .expect("cluster exists");
        edit(c);
    }

    /// Adds an access entry directly (someone else's).
    pub fn add_foreign_entry(
        &self,
        account: &str,
        region: &str,
        name: &str,
        principal: &str,
        groups: &[&str],
    ) {
        self.edit_cluster(account, region, name, |c| {
            let arn = entry_arn(c, principal);
            let e = new_entry(
                c,
                principal,
                arn,
                None,
                groups.iter().map(|g| g.to_string()).collect(),
                BTreeMap::new(),
            );
            c.entries.insert(principal.into(), e);
        });
    }

    /// Has the API servers consult `faults` (the test's plan) about every request.
    pub fn share_faults(&self, faults: Arc<crate::faults::Faults>) {
        self.world.lock().unwrap().faults = faults;
    }

    /// Every request and answer so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.world.lock().unwrap().exchanges.clone()
    }

    /// The operations called, in order.
    pub fn operations(&self) -> Vec<String> {
        self.exchanges().into_iter().map(|e| e.operation).collect()
    }

    /// Forgets the exchanges and Kubernetes requests seen so far.
    pub fn clear_calls(&self) {
        let mut w = self.world.lock().unwrap();
        w.exchanges.clear();
        w.kube_requests.clear();
    }

    /// The Kubernetes requests (`PUT /api/v1/...` with their status), in order.
    pub fn kube_requests(&self) -> Vec<String> {
        self.world.lock().unwrap().kube_requests.clone()
    }

    /// Checks every exchange against AWS's EKS service model; returns the script's report.
    pub fn check_contract(&self) -> String {
        let path = crate::function::target_dir()
            .join(format!("eks-exchanges-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_vec(&self.exchanges()).unwrap())
            .expect("write exchanges");
        let python = std::env::var_os("AUTOFED_TESTBED_PYTHON")
            .map(Into::into)
            .unwrap_or_else(|| crate::root().join(".testbed/venv/bin/python"));
        let out = std::process::Command::new(python)
            .arg(crate::root().join("tests/testbed/eks_contract.py"))
            .arg(&path)
            .output()
            .expect("run eks_contract.py");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "EKS contract check failed:\n{text}");
        text
    }
}

/// The EKS operation of a request, by method and path (restJson1 routes).
pub fn operation(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("POST", ["clusters", _, "update-config"]) => "UpdateClusterConfig",
        ("GET", ["clusters", _, "access-entries"]) => "ListAccessEntries",
        ("POST", ["clusters", _, "access-entries"]) => "CreateAccessEntry",
        ("GET", ["clusters", _, "access-entries", _]) => "DescribeAccessEntry",
        ("POST", ["clusters", _, "access-entries", _]) => "UpdateAccessEntry",
        ("DELETE", ["clusters", _, "access-entries", _]) => "DeleteAccessEntry",
        ("GET", ["clusters", _, "access-entries", _, "access-policies"]) => {
            "ListAssociatedAccessPolicies"
        }
        ("POST", ["clusters", _, "access-entries", _, "access-policies"]) => {
            "AssociateAccessPolicy"
        }
        ("DELETE", ["clusters", _, "access-entries", _, "access-policies", _]) => {
            "DisassociateAccessPolicy"
        }
        ("POST", ["tags", _]) => "TagResource",
        _ => "unknown",
    }
}

fn fnv(s: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

fn entry_arn(c: &Cluster, principal: &str) -> String {
    let tail = principal.split(":role/").nth(1).unwrap_or("principal");
    let name = tail.rsplit('/').next().unwrap_or(tail);
    format!(
        "arn:aws:eks:{}:{}:access-entry/{}/role/{}/{}/{:08x}",
        c.region,
        c.account,
        c.name,
        c.account,
        name,
        fnv(principal) as u32
    )
}

fn new_entry(
    c: &Cluster,
    principal: &str,
    arn: String,
    username: Option<String>,
    groups: Vec<String>,
    tags: BTreeMap<String, String>,
) -> Entry {
    let name = principal.rsplit('/').next().unwrap_or_default();
    let t = now().max(c.created_at);
    Entry {
        arn,
        kind: "STANDARD".into(),
        username: username.unwrap_or_else(|| {
            format!(
                "arn:aws:sts::{}:assumed-role/{name}/{{{{SessionName}}}}",
                c.account
            )
        }),
        groups,
        tags,
        policies: BTreeMap::new(),
        created_at: t,
        modified_at: t,
    }
}

struct Failure(u16, &'static str, String);

fn error(status: u16, kind: &'static str, message: impl Into<String>) -> Failure {
    Failure(status, kind, message.into())
}

fn not_found(what: &str) -> Failure {
    error(
        404,
        "ResourceNotFoundException",
        format!("No {what} found."),
    )
}

async fn handle(State(state): State<Arc<FakeState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = parts.uri.path().to_string();
    let op = operation(&parts.method, &path);
    let (region, access_key) = scope(&parts.headers);
    let account = account_of(&state, &parts.headers, &access_key).await;
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let result = {
        let mut world = state.world.lock().unwrap();
        if op == "ListClusters" {
            list_clusters(
                &world,
                &account,
                &region,
                parts.uri.query().unwrap_or_default(),
            )
        } else {
            answer(
                &state, &mut world, op, &account, &region, &segments, &request,
            )
        }
    };
    let (status, response, error_type) = match result {
        Ok(v) => (200, v, None),
        Err(Failure(status, kind, message)) => (status, json!({"message": message}), Some(kind)),
    };
    state.world.lock().unwrap().exchanges.push(Exchange {
        operation: op.into(),
        status,
        request,
        response: response.clone(),
        error: error_type.map(str::to_string),
    });
    let mut out = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "0c5f4a7e-0000-4000-8000-00000000e1c5");
    if let Some(kind) = error_type {
        out = out.header("x-amzn-errortype", kind);
    }
    out.body(Body::from(response.to_string()))
        .expect("response")
}

/// The region and access key of a SigV4 request.
fn scope(headers: &HeaderMap) -> (String, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let credential = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .unwrap_or_default();
    let parts: Vec<&str> = credential.split('/').collect();
    (
        parts.get(2).copied().unwrap_or("us-east-1").to_string(),
        parts.first().copied().unwrap_or_default().to_string(),
    )
}

/// The account an access key belongs to, as STS (moto) tells it.
async fn account_of(state: &FakeState, headers: &HeaderMap, access_key: &str) -> String {
    if let Some(a) = state.world.lock().unwrap().accounts.get(access_key) {
        return a.clone();
    }
    let mut req = state
        .http
        .post(format!("{}/", state.moto))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetCallerIdentity&Version=2011-06-15");
    if let Some(auth) = headers.get("authorization") {
        req = req.header(
            "authorization",
            auth.to_str()
                .unwrap_or_default()
                .replace("/eks/aws4_request", "/sts/aws4_request"),
        );
    }
    let text = match req.send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let account = text
        .split("<Account>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .to_string();
    state
        .world
        .lock()
        .unwrap()
        .accounts
        .insert(access_key.into(), account.clone());
    account
}

/// `ListClusters`: the account's cluster names in the region, in pages of `maxResults`
/// (1-100, default 100) continued by `nextToken`, as EKS pages them.
fn list_clusters(
    world: &World,
    account: &str,
    region: &str,
    query: &str,
) -> Result<Value, Failure> {
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    let max: usize = match param("maxResults") {
        None => 100,
        Some(m) => match m.parse() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(error(
                    400,
                    "InvalidParameterException",
                    "maxResults must be between 1 and 100",
                ));
            }
        },
    };
    let mut names: Vec<&str> = world
        .clusters
        .iter()
        .filter(|c| c.account == account && c.region == region)
        .map(|c| c.name.as_str())
        .collect();
    names.sort();
    let start = match param("nextToken") {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| error(400, "InvalidParameterException", "The nextToken is invalid"))?,
    };
    let page: Vec<&str> = names.iter().skip(start).take(max).copied().collect();
    let mut out = json!({ "clusters": page });
    if start + max < names.len() {
        out["nextToken"] = Value::from((start + max).to_string());
    }
    Ok(out)
}

fn answer(
    state: &FakeState,
    world: &mut World,
    op: &str,
    account: &str,
    region: &str,
    seg: &[String],
    req: &Value,
) -> Result<Value, Failure> {
    if op == "TagResource" {
        let arn = &seg[1];
        for c in &mut world.clusters {
            for e in c.entries.values_mut() {
                if &e.arn == arn {
                    for (k, v) in req["tags"].as_object().into_iter().flatten() {
                        e.tags
                            .insert(k.clone(), v.as_str().unwrap_or_default().into());
                    }
                    return Ok(json!({}));
                }
            }
        }
        return Err(not_found("resource"));
    }
    if op == "unknown" {
        return Err(error(400, "InvalidRequestException", "Unknown operation"));
    }
    let name = &seg[1];
    let c = world
        .clusters
        .iter_mut()
        .find(|c| c.account == account && c.region == region && &c.name == name)
        .ok_or_else(|| not_found(&format!("cluster found for name: {name}")))?;
    if op == "DescribeCluster" {
        if c.polls_left > 0 {
            c.polls_left -= 1;
        } else if c.status != "ACTIVE" {
            c.status = "ACTIVE".into();
            if let Some(m) = c.mode_after_update.take() {
                c.mode = m;
            }
        }
        return Ok(json!({ "cluster": describe(state, c) }));
    }
    if op == "UpdateClusterConfig" {
        let Some(want) = req["accessConfig"]["authenticationMode"].as_str() else {
            return Err(error(
                400,
                "InvalidParameterException",
                "No changes needed for the logging config provided",
            ));
        };
        if c.status != "ACTIVE" {
            return Err(error(
                409,
                "ResourceInUseException",
                format!("Cluster {} is in {} state", c.name, c.status),
            ));
        }
        let allowed = matches!(
            (c.mode.as_str(), want),
            ("CONFIG_MAP", "API_AND_CONFIG_MAP" | "API") | ("API_AND_CONFIG_MAP", "API")
        );
        if !allowed {
            return Err(error(
                400,
                "InvalidParameterException",
                format!(
                    "Unsupported authentication mode update from {} to {want}",
                    c.mode
                ),
            ));
        }
        c.status = "UPDATING".into();
        c.polls_left = 1;
        c.mode_after_update = Some(want.into());
        return Ok(json!({"update": {
            "id": format!("{:08x}-0000-4000-8000-{:012x}", fnv(want) as u32, fnv(&c.name) as u64 & 0xffff_ffff_ffff),
            "status": "InProgress",
            "type": "AccessConfigUpdate",
            "params": [{"type": "AuthenticationMode", "value": want}],
            "createdAt": now(),
            "errors": [],
        }}));
    }
    if c.mode == "CONFIG_MAP" {
        return Err(error(
            400,
            "InvalidRequestException",
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
        ));
    }
    if c.status != "ACTIVE" && op == "CreateAccessEntry" {
        return Err(error(
            400,
            "InvalidRequestException",
            format!("Cluster {} is in {} state", c.name, c.status),
        ));
    }
    let cluster_name = c.name.clone();
    match op {
        "ListAccessEntries" => Ok(json!({ "accessEntries": c.entries.keys().collect::<Vec<_>>() })),
        "CreateAccessEntry" => {
            let principal = req["principalArn"].as_str().unwrap_or_default().to_string();
            if !is_principal_arn(&principal) {
                return Err(error(
                    400,
                    "InvalidParameterException",
                    format!("The specified principalArn is invalid: {principal}"),
                ));
            }
            if c.entries.contains_key(&principal) {
                return Err(error(
                    409,
                    "ResourceInUseException",
                    "The specified access entry resource is already in use on this cluster.",
                ));
            }
            let groups = strings(&req["kubernetesGroups"]);
            check_groups(&groups)?;
            let tags = req["tags"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let arn = entry_arn(c, &principal);
            let entry = new_entry(
                c,
                &principal,
                arn,
                req["username"].as_str().map(str::to_string),
                groups,
                tags,
            );
            c.entries.insert(principal.clone(), entry.clone());
            Ok(json!({ "accessEntry": entry_json(&cluster_name, &principal, &entry) }))
        }
        _ => {
            let principal = seg.get(3).cloned().unwrap_or_default();
            let entry = c.entries.get_mut(&principal).ok_or_else(|| {
                not_found(&format!("access entry found for principal {principal}"))
            })?;
            match op {
                "DescribeAccessEntry" => {
                    Ok(json!({ "accessEntry": entry_json(&cluster_name, &principal, entry) }))
                }
                "UpdateAccessEntry" => {
                    if !req["kubernetesGroups"].is_null() {
                        let groups = strings(&req["kubernetesGroups"]);
                        check_groups(&groups)?;
                        entry.groups = groups;
                    }
                    if let Some(u) = req["username"].as_str() {
                        entry.username = u.into();
                    }
                    entry.modified_at = now();
                    Ok(json!({ "accessEntry": entry_json(&cluster_name, &principal, entry) }))
                }
                "DeleteAccessEntry" => {
                    c.entries.remove(&principal);
                    Ok(json!({}))
                }
                "ListAssociatedAccessPolicies" => Ok(json!({
                    "clusterName": cluster_name,
                    "principalArn": principal,
                    "associatedAccessPolicies": entry.policies.iter().map(|(arn, p)| policy_json(arn, p)).collect::<Vec<_>>(),
                })),
                "AssociateAccessPolicy" => {
                    let policy = req["policyArn"].as_str().unwrap_or_default().to_string();
                    let known = policy
                        .strip_prefix("arn:aws:eks::aws:cluster-access-policy/")
                        .is_some_and(|n| ACCESS_POLICIES.contains(&n));
                    if !known {
                        return Err(error(
                            400,
                            "InvalidParameterException",
                            format!("The policyArn {policy} is not a valid access policy"),
                        ));
                    }
                    let scope = &req["accessScope"];
                    let kind = scope["type"].as_str().unwrap_or_default();
                    let namespaces = strings(&scope["namespaces"]);
                    let valid = match kind {
                        "cluster" => namespaces.is_empty(),
                        "namespace" => !namespaces.is_empty(),
                        _ => false,
                    };
                    if !valid {
                        return Err(error(
                            400,
                            "InvalidParameterException",
                            "The accessScope is invalid: a namespace scope needs namespaces, a cluster scope takes none",
                        ));
                    }
                    let t = now();
                    let associated = entry.policies.get(&policy).map_or(t, |p| p.1);
                    let value = (scope.clone(), associated, t);
                    entry.policies.insert(policy.clone(), value.clone());
                    Ok(json!({
                        "clusterName": cluster_name,
                        "principalArn": principal,
                        "associatedAccessPolicy": policy_json(&policy, &value),
                    }))
                }
                "DisassociateAccessPolicy" => {
                    let policy = seg.get(5).cloned().unwrap_or_default();
                    entry.policies.remove(&policy).ok_or_else(|| {
                        not_found(&format!(
                            "access policy {policy} associated with {principal}"
                        ))
                    })?;
                    Ok(json!({}))
                }
                _ => Err(error(400, "InvalidRequestException", "Unknown operation")),
            }
        }
    }
}

fn describe(state: &FakeState, c: &Cluster) -> Value {
    let mut v = json!({
        "name": c.name,
        "arn": format!("arn:aws:eks:{}:{}:cluster/{}", c.region, c.account, c.name),
        "createdAt": c.created_at,
        "version": "1.33",
        "roleArn": format!("arn:aws:iam::{}:role/eks-cluster-role", c.account),
        "status": c.status,
        "platformVersion": "eks.1",
        "tags": {},
        "accessConfig": {
            "bootstrapClusterCreatorAdminPermissions": true,
            "authenticationMode": c.mode,
        },
        "certificateAuthority": {},
    });
    if c.status != "CREATING" {
        v["endpoint"] = json!(format!("{}/clusters/{}", state.kube_base, c.id));
        v["certificateAuthority"] = json!({ "data": state.ca_b64 });
    }
    v
}

fn entry_json(cluster: &str, principal: &str, e: &Entry) -> Value {
    json!({
        "clusterName": cluster,
        "principalArn": principal,
        "kubernetesGroups": e.groups,
        "accessEntryArn": e.arn,
        "createdAt": e.created_at,
        "modifiedAt": e.modified_at,
        "tags": e.tags,
        "username": e.username,
        "type": e.kind,
    })
}

fn policy_json(arn: &str, p: &(Value, f64, f64)) -> Value {
    json!({ "policyArn": arn, "accessScope": p.0, "associatedAt": p.1, "modifiedAt": p.2 })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn check_groups(groups: &[String]) -> Result<(), Failure> {
    match groups.iter().find(|g| g.starts_with("system:")) {
        Some(g) => Err(error(
            400,
            "InvalidParameterException",
            format!("The kubernetes group name {g} is invalid, it cannot start with system:"),
        )),
        None => Ok(()),
    }
}

fn is_principal_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && (parts[5].starts_with("role/") || parts[5].starts_with("user/"))
}
