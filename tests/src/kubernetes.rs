//! A stateful fake of each EKS cluster's Kubernetes API server, over HTTPS with a CA made at
//! start (served to clients as DescribeCluster's `certificateAuthority`).
//!
//! Like EKS's authenticator, it accepts only a bearer token that is a presigned STS
//! `GetCallerIdentity` URL for the test bed's STS endpoint, signed with `x-k8s-aws-id` set to
//! the cluster's name: it replays the URL to STS (moto, whose test-bed wrapper checks the
//! signature as STS does) with that header. The caller is then allowed in if it created the
//! cluster, is mapped to `system:masters` in aws-auth (`CONFIG_MAP` modes), or has
//! `AmazonEKSClusterAdminPolicy` through an access entry (API modes).
//!
//! Objects: namespaces, ConfigMaps, Roles, RoleBindings and ClusterRoleBindings, with
//! `resourceVersion`, `409 AlreadyExists` / `409 Conflict` on a stale update, and `404`.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, Method},
    response::Response,
};
use base64::Engine;
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

use crate::{
    eks::{Cluster, World},
    faults::{Kind, Service, Site},
};

/// An edit another writer makes to an object, just before autofed's next write of it lands.
pub type Edit = Box<dyn FnOnce(&mut Value) + Send>;

/// The API servers of every fake cluster, on one HTTPS listener: a cluster's endpoint is
/// `https://127.0.0.1:<port>/clusters/<id>`.
pub struct KubeServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The CA's PEM, base64 (DescribeCluster's `certificateAuthority.data`).
    pub ca_b64: String,
    world: Arc<Mutex<World>>,
    task: JoinHandle<()>,
}

impl Drop for KubeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ServerState {
    world: Arc<Mutex<World>>,
    moto: String,
    sts_endpoint: String,
    http: reqwest::Client,
}

/// Puts what a new cluster has into it: the `default` and `kube-system` namespaces.
pub(crate) fn bootstrap(c: &mut Cluster) {
    for ns in ["default", "kube-system"] {
        let path = format!("/api/v1/namespaces/{ns}");
        c.resource_version += 1;
        c.objects.insert(
            path,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "resourceVersion": c.resource_version.to_string()}}),
        );
    }
}

impl KubeServer {
    pub(crate) async fn start(world: Arc<Mutex<World>>, moto: &str, sts_endpoint: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kubernetes");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind kubernetes");
        let url = format!("https://{}", listener.local_addr().expect("address"));
        let state = Arc::new(ServerState {
            world: world.clone(),
            moto: moto.trim_end_matches('/').to_string(),
            sts_endpoint: sts_endpoint.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        });
        let app = Router::new().fallback(handle).with_state(state);
        let tls = TlsListener { listener, acceptor };
        let task = tokio::spawn(async move {
            axum::serve(tls, app).await.expect("kubernetes serves");
        });
        KubeServer {
            url,
            ca_b64: base64::engine::general_purpose::STANDARD.encode(ca_cert.pem()),
            world,
            task,
        }
    }

    /// Makes `edit` happen to the object at `path` of cluster `id` just before the next write
    /// of it is handled, as a concurrent writer would: that write then carries a stale
    /// resourceVersion.
    pub fn interleave(&self, cluster_id: &str, path: &str, edit: Edit) {
        self.world
            .lock()
            .unwrap()
            .interleaved
            .push((cluster_id.into(), path.into(), edit));
    }
}

/// A TCP listener that hands axum TLS connections (handshakes are done one at a time, which
/// is plenty on loopback).
struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A Kubernetes `Status` failure.
fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

async fn handle(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let full = parts.uri.path().to_string();
    let (id, path) = match full
        .strip_prefix("/clusters/")
        .and_then(|r| r.split_once('/'))
    {
        Some((id, rest)) => (id.to_string(), format!("/{rest}")),
        None => (String::new(), full.clone()),
    };
    let faults = state.world.lock().unwrap().faults.clone();
    let write = parts.method != Method::GET;
    let site = Site {
        service: Service::Kube,
        call: format!("{} {path}", parts.method),
    };
    let fault = faults.before(site.clone(), write).act(faults.timeout).await;
    let (code, value) = match fault {
        Some(Kind::Throttle) => status(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        Some(_) => status(
            500,
            "InternalError",
            "an error on the server (\"etcdserver: request timed out\") has prevented the request from succeeding",
        ),
        None => serve(&state, &parts.method, &parts.headers, &id, &path, &body).await,
    };
    if write && fault.is_none() {
        faults
            .after_write(site, code)
            .act(std::time::Duration::ZERO)
            .await;
    }
    state
        .world
        .lock()
        .unwrap()
        .kube_requests
        .push(format!("{} {path} {code}", parts.method));
    let mut out = Response::builder()
        .status(code)
        .header("content-type", "application/json");
    if code == 429 {
        out = out.header("retry-after", "1");
    }
    out.body(Body::from(value.to_string())).expect("response")
}

async fn serve(
    state: &ServerState,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let (name, creator) = {
        let mut world = state.world.lock().unwrap();
        match world.cluster_by_id(id) {
            Some(c) => (c.name.clone(), c.creator.clone()),
            None => {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
        }
    };
    let Some(caller) = authenticate(state, headers, &name).await else {
        return status(401, "Unauthorized", "Unauthorized");
    };
    let mut world = state.world.lock().unwrap();
    let interleaved = if *method == Method::PUT {
        let at = world
            .interleaved
            .iter()
            .position(|(cid, p, _)| cid == id && p == path);
        at.map(|i| world.interleaved.remove(i).2)
    } else {
        None
    };
    let Some(c) = world.cluster_by_id(id) else {
        return status(404, "NotFound", "no such cluster");
    };
    if !authorized(c, &caller, &creator) {
        return status(
            403,
            "Forbidden",
            &format!(
                "User \"{caller}\" cannot {} resource at {path}",
                method.as_str().to_lowercase()
            ),
        );
    }
    if let Some(edit) = interleaved
        && let Some(obj) = c.objects.get_mut(path)
    {
        edit(obj);
        c.resource_version += 1;
        obj["metadata"]["resourceVersion"] = json!(c.resource_version.to_string());
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind_name = path
        .rsplit('/')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('s')
        .to_string();
    match *method {
        Method::GET => match c.objects.get(path) {
            Some(o) => (200, o.clone()),
            None => status(
                404,
                "NotFound",
                &format!(
                    "{kind_name} \"{}\" not found",
                    path.rsplit('/').next().unwrap_or_default()
                ),
            ),
        },
        Method::POST => {
            let Some(obj_name) = request["metadata"]["name"].as_str().map(str::to_string) else {
                return status(422, "Invalid", "metadata.name: Required value");
            };
            let kind = path.rsplit('/').next().unwrap_or_default();
            if let Some((_, ns)) = path
                .split_once("/namespaces/")
                .filter(|_| kind != "namespaces")
            {
                let ns = ns.split('/').next().unwrap_or_default();
                if !c.objects.contains_key(&format!("/api/v1/namespaces/{ns}")) {
                    return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
                }
            }
            let at = format!("{path}/{obj_name}");
            if c.objects.contains_key(&at) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("{kind} \"{obj_name}\" already exists"),
                );
            }
            let mut obj = request;
            c.resource_version += 1;
            obj["metadata"]["resourceVersion"] = json!(c.resource_version.to_string());
            obj["metadata"]["uid"] = json!(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                c.resource_version, c.resource_version
            ));
            c.objects.insert(at, obj.clone());
            (201, obj)
        }
        Method::PUT => {
            let Some(live) = c.objects.get(path) else {
                return status(404, "NotFound", &format!("{kind_name} not found"));
            };
            let sent = request["metadata"]["resourceVersion"].as_str();
            let current = live["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if sent.is_some_and(|v| v != current) {
                let obj_name = path.rsplit('/').next().unwrap_or_default();
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Operation cannot be fulfilled on {}s \"{obj_name}\": the object has been modified; please apply your changes to the latest version and try again",
                        kind_name
                    ),
                );
            }
            let mut obj = request;
            c.resource_version += 1;
            obj["metadata"]["resourceVersion"] = json!(c.resource_version.to_string());
            c.objects.insert(path.to_string(), obj.clone());
            (200, obj)
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method",
        ),
    }
}

/// The caller's identity (an STS ARN), if the token is a valid EKS token for `cluster`.
async fn authenticate(state: &ServerState, headers: &HeaderMap, cluster: &str) -> Option<String> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer k8s-aws-v1.")?;
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?,
    )
    .ok()?;
    let query = url.strip_prefix(&format!("{}/?", state.sts_endpoint))?;
    let signed_headers = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("X-Amz-SignedHeaders="))?;
    if !query.split('&').any(|kv| kv == "Action=GetCallerIdentity")
        || !signed_headers.to_lowercase().contains("x-k8s-aws-id")
    {
        return None;
    }
    let host = state.sts_endpoint.split("://").nth(1)?;
    let resp = state
        .http
        .get(format!("{}/?{query}", state.moto))
        .header("x-k8s-aws-id", cluster)
        .header("x-forwarded-host", host)
        // moto picks the service by host: this is a call to STS.
        .header("host", "sts.amazonaws.com")
        .send()
        .await
        .ok()?;
    let ok = resp.status().is_success();
    let text = resp.text().await.ok()?;
    if !ok {
        return None;
    }
    text.split("<Arn>")
        .nth(1)?
        .split('<')
        .next()
        .map(str::to_string)
}

fn authorized(c: &Cluster, caller: &str, creator: &str) -> bool {
    // arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE
    let role = caller
        .split_once(":assumed-role/")
        .map(|(head, rest)| {
            format!(
                "{}:role/{}",
                head.replace(":sts:", ":iam:"),
                rest.split('/').next().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| caller.to_string());
    let pathless = |arn: &str| match (arn.split_once(":role/"), arn.rsplit_once('/')) {
        (Some((head, _)), Some((_, name))) => format!("{head}:role/{name}"),
        _ => arn.to_string(),
    };
    if pathless(creator) == role {
        return true;
    }
    if c.mode != "CONFIG_MAP" {
        let admin = c.entries.iter().any(|(p, e)| {
            pathless(p) == role
                && e.policies
                    .keys()
                    .any(|k| k.ends_with("/AmazonEKSClusterAdminPolicy"))
        });
        if admin {
            return true;
        }
    }
    if c.mode != "API" {
        let text = c
            .objects
            .get("/api/v1/namespaces/kube-system/configmaps/aws-auth")
            .and_then(|cm| cm["data"]["mapRoles"].as_str().map(str::to_string))
            .unwrap_or_default();
        let rows: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).unwrap_or_default();
        return rows.iter().any(|r| {
            r["rolearn"].as_str() == Some(role.as_str())
                && r["groups"]
                    .as_sequence()
                    .is_some_and(|g| g.iter().any(|g| g.as_str() == Some("system:masters")))
        });
    }
    false
}
