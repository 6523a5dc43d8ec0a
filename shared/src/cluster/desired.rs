//! What must exist in one cluster, from the configuration and the principals' ARNs: no I/O.
//!
//! The same access rules become access entries (API modes) or aws-auth rows plus RBAC
//! bindings (`CONFIG_MAP`): `cluster-admin` is `system:masters`; `admin`, `edit` and `view`
//! are Kubernetes' built-in ClusterRoles of those names, bound cluster-wide to the group
//! `autofed:<access>` or, per namespace, to `autofed:<access>:<namespace>`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{
    api::{
        core::v1::Namespace,
        rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::Serialize;
use serde_json::Value;

use super::aws_auth::MapRole;
use crate::{
    aws::eks::AuthMode,
    config::{
        Config,
        cluster::{Access, RbacRule, render_username},
    },
    target::Account,
};

/// The label that marks Kubernetes objects autofed created and may change.
pub const MANAGED_LABEL: &str = "app.kubernetes.io/managed-by";
/// Its value.
pub const MANAGED_LABEL_VALUE: &str = "autofed";

/// Where an access policy applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The whole cluster.
    Cluster,
    /// These namespaces.
    Namespaces(BTreeSet<String>),
}

impl Scope {
    fn merge(&mut self, other: &Scope) {
        match (&mut *self, other) {
            (Scope::Cluster, _) => {}
            (_, Scope::Cluster) => *self = Scope::Cluster,
            (Scope::Namespaces(a), Scope::Namespaces(b)) => a.extend(b.iter().cloned()),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Cluster => f.write_str("the cluster"),
            Scope::Namespaces(ns) => write!(
                f,
                "namespace{} {}",
                if ns.len() == 1 { "" } else { "s" },
                ns.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A principal an access rule names, before IAM says its ARN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalRef {
    /// A federated role of the role set.
    Role {
        /// Its name.
        name: String,
        /// Its configured path.
        path: String,
    },
    /// An Identity Center permission set: its `AWSReservedSSO_<name>_<suffix>` role.
    PermissionSet(String),
}

impl std::fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrincipalRef::Role { name, .. } => write!(f, "role {name}"),
            PrincipalRef::PermissionSet(name) => write!(f, "permission set {name}"),
        }
    }
}

/// What the rules give one principal in this cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who.
    pub principal: PrincipalRef,
    /// Access levels and their scopes.
    pub access: BTreeMap<Access, Scope>,
    /// Kubernetes groups named by the rules.
    pub groups: BTreeSet<String>,
    /// A username a rule sets.
    pub username: Option<String>,
}

/// The grants of every access rule that selects this cluster, one per principal. A federated
/// role counts only in accounts its own `accounts` selector gives it.
pub fn grants(config: &Config, account: &Account, region: &str, name: &str) -> Vec<Grant> {
    let mut by_principal: BTreeMap<PrincipalRef, Grant> = BTreeMap::new();
    for rule in &config.clusters.access {
        if !rule.clusters.accounts.matches(account) || !rule.clusters.matches_cluster(name, region)
        {
            continue;
        }
        let principal = match (&rule.role, &rule.permission_set) {
            (Some(role), _) => {
                let Some(r) = config.roles.iter().find(|r| &r.name == role) else {
                    continue;
                };
                if r.accounts.as_ref().is_some_and(|s| !s.matches(account)) {
                    continue;
                }
                PrincipalRef::Role {
                    name: r.name.clone(),
                    path: r.path.clone(),
                }
            }
            (None, Some(ps)) => PrincipalRef::PermissionSet(ps.clone()),
            (None, None) => continue,
        };
        let grant = by_principal
            .entry(principal.clone())
            .or_insert_with(|| Grant {
                principal,
                access: BTreeMap::new(),
                groups: BTreeSet::new(),
                username: None,
            });
        if let Some(access) = rule.access {
            let scope = if rule.namespaces.is_empty() {
                Scope::Cluster
            } else {
                Scope::Namespaces(rule.namespaces.iter().cloned().collect())
            };
            match grant.access.get_mut(&access) {
                Some(s) => s.merge(&scope),
                None => {
                    grant.access.insert(access, scope);
                }
            }
        }
        grant.groups.extend(rule.groups.iter().cloned());
        if grant.username.is_none() {
            grant.username.clone_from(&rule.username);
        }
    }
    by_principal.into_values().collect()
}

/// The RBAC rules that select this cluster.
pub fn rbac<'a>(
    config: &'a Config,
    account: &Account,
    region: &str,
    name: &str,
) -> Vec<&'a RbacRule> {
    config
        .clusters
        .rbac
        .iter()
        .filter(|r| {
            r.clusters.accounts.matches(account) && r.clusters.matches_cluster(name, region)
        })
        .collect()
}

/// One access entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredEntry {
    /// The principal's ARN, with its path.
    pub principal_arn: String,
    /// Who it is, for the report.
    pub principal: PrincipalRef,
    /// Its username (EKS derives one when `None`).
    pub username: Option<String>,
    /// Its Kubernetes groups.
    pub groups: BTreeSet<String>,
    /// Its access policies, by ARN.
    pub policies: BTreeMap<String, Scope>,
}

/// A Kubernetes object autofed keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeObject {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace (none for cluster-wide kinds).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// The whole object, as sent.
    pub body: Value,
}

/// The kinds autofed writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A namespace (created when missing, never changed).
    Namespace,
    /// `rbac.authorization.k8s.io/v1` Role.
    Role,
    /// `rbac.authorization.k8s.io/v1` RoleBinding.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1` ClusterRoleBinding.
    ClusterRoleBinding,
}

impl Kind {
    /// The resource's plural name in the API.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Role => "roles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Namespace => "/api/v1",
            _ => "/apis/rbac.authorization.k8s.io/v1",
        }
    }
}

impl KubeObject {
    /// The collection it is created in.
    pub fn collection(&self) -> String {
        match &self.namespace {
            Some(ns) => format!(
                "{}/namespaces/{ns}/{}",
                self.kind.prefix(),
                self.kind.plural()
            ),
            None => format!("{}/{}", self.kind.prefix(), self.kind.plural()),
        }
    }

    /// Its own path.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.name)
    }

    /// The report's resource key: `rolebinding/production/production-admin`.
    pub fn resource(&self) -> String {
        let kind = self.kind.plural().trim_end_matches('s');
        match &self.namespace {
            Some(ns) => format!("{kind}/{ns}/{}", self.name),
            None => format!("{kind}/{}", self.name),
        }
    }

    /// The fields autofed sets besides metadata (rules, roleRef, subjects); an object that has
    /// the same ones needs no update.
    pub fn spec(body: &Value) -> Value {
        let mut spec = serde_json::Map::new();
        for key in ["rules", "roleRef", "subjects"] {
            if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
                spec.insert(key.into(), v.clone());
            }
        }
        Value::Object(spec)
    }

    /// Whether an object (as read) carries autofed's label.
    pub fn is_managed(body: &Value) -> bool {
        body["metadata"]["labels"][MANAGED_LABEL].as_str() == Some(MANAGED_LABEL_VALUE)
    }
}

/// Everything autofed keeps in one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredCluster {
    /// Access entries (API modes).
    pub entries: Vec<DesiredEntry>,
    /// aws-auth rows (`CONFIG_MAP`).
    pub map_roles: Vec<MapRole>,
    /// Namespaces, Roles and bindings, in the order they must be created.
    pub objects: Vec<KubeObject>,
}

/// The ARN of an EKS access policy.
pub fn policy_arn(partition: &str, access: Access) -> String {
    format!(
        "arn:{partition}:eks::aws:cluster-access-policy/{}",
        access.policy_name()
    )
}

/// A role ARN without its path, as aws-auth wants it.
pub fn pathless(role_arn: &str) -> String {
    match (role_arn.split_once(":role/"), role_arn.rsplit_once('/')) {
        (Some((head, _)), Some((_, name))) => format!("{head}:role/{name}"),
        _ => role_arn.to_string(),
    }
}

/// What must exist in the cluster. `resolved` holds the ARN of each grant's principal; a grant
/// whose principal is missing there is left out (the caller reports it).
pub fn for_cluster(
    config: &Config,
    partition: &str,
    account_id: &str,
    mode: AuthMode,
    grants: &[Grant],
    rbac: &[&RbacRule],
    resolved: &BTreeMap<PrincipalRef, String>,
) -> DesiredCluster {
    let mut out = DesiredCluster::default();
    let mut objects: BTreeMap<(Kind, Option<String>, String), KubeObject> = BTreeMap::new();
    for grant in grants {
        let Some(arn) = resolved.get(&grant.principal) else {
            continue;
        };
        let role_name = arn.rsplit('/').next().unwrap_or_default();
        let username = grant.username.clone().unwrap_or_else(|| {
            render_username(&config.clusters.aws_auth_username, role_name, account_id)
        });
        if mode.has_access_entries() {
            out.entries.push(DesiredEntry {
                principal_arn: arn.clone(),
                principal: grant.principal.clone(),
                username: (grant.username.is_some() || config.clusters.access_entry_username)
                    .then_some(username),
                groups: grant.groups.clone(),
                policies: grant
                    .access
                    .iter()
                    .map(|(a, s)| (policy_arn(partition, *a), s.clone()))
                    .collect(),
            });
            continue;
        }
        let mut groups = grant.groups.clone();
        for (access, scope) in &grant.access {
            let Some(cluster_role) = access.cluster_role() else {
                groups.insert("system:masters".into());
                continue;
            };
            match scope {
                Scope::Cluster => {
                    let group = format!("autofed:{cluster_role}");
                    let binding = cluster_role_binding(&group, cluster_role);
                    objects.insert(key(&binding), binding);
                    groups.insert(group);
                }
                Scope::Namespaces(namespaces) => {
                    for ns in namespaces {
                        let group = format!("autofed:{cluster_role}:{ns}");
                        let n = namespace(ns);
                        objects.insert(key(&n), n);
                        let binding = role_binding(
                            ns,
                            &format!("autofed:{cluster_role}"),
                            RoleRef {
                                api_group: "rbac.authorization.k8s.io".into(),
                                kind: "ClusterRole".into(),
                                name: cluster_role.into(),
                            },
                            vec![subject("Group", &group)],
                        );
                        objects.insert(key(&binding), binding);
                        groups.insert(group);
                    }
                }
            }
        }
        out.map_roles.push(MapRole {
            rolearn: pathless(arn),
            username,
            groups: groups.into_iter().collect(),
        });
    }
    for rule in rbac {
        let n = namespace(&rule.namespace);
        objects.insert(key(&n), n);
        let role = role(rule);
        objects.insert(key(&role), role);
        let subjects = rule
            .users
            .iter()
            .map(|u| subject("User", u))
            .chain(rule.groups.iter().map(|g| subject("Group", g)))
            .collect();
        let binding = role_binding(
            &rule.namespace,
            &rule.role,
            RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: rule.role.clone(),
            },
            subjects,
        );
        objects.insert(key(&binding), binding);
    }
    out.map_roles.sort();
    // Namespaces first, then Roles, then bindings: the order they must be created in.
    out.objects = objects.into_values().collect();
    out
}

fn key(o: &KubeObject) -> (Kind, Option<String>, String) {
    (o.kind, o.namespace.clone(), o.name.clone())
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        labels: Some([(MANAGED_LABEL.to_string(), MANAGED_LABEL_VALUE.to_string())].into()),
        ..Default::default()
    }
}

fn object(kind: Kind, namespace: Option<&str>, name: &str, body: impl Serialize) -> KubeObject {
    KubeObject {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.into(),
        body: serde_json::to_value(body).unwrap_or_default(),
    }
}

fn namespace(name: &str) -> KubeObject {
    object(
        Kind::Namespace,
        None,
        name,
        Namespace {
            metadata: meta(name, None),
            ..Default::default()
        },
    )
}

fn role(rule: &RbacRule) -> KubeObject {
    object(
        Kind::Role,
        Some(&rule.namespace),
        &rule.role,
        Role {
            metadata: meta(&rule.role, Some(&rule.namespace)),
            rules: Some(
                rule.rules
                    .iter()
                    .map(|r| PolicyRule {
                        api_groups: Some(r.api_groups.clone()),
                        resources: Some(r.resources.clone()),
                        verbs: r.verbs.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        },
    )
}

fn role_binding(ns: &str, name: &str, role_ref: RoleRef, subjects: Vec<Subject>) -> KubeObject {
    object(
        Kind::RoleBinding,
        Some(ns),
        name,
        RoleBinding {
            metadata: meta(name, Some(ns)),
            role_ref,
            subjects: Some(subjects),
        },
    )
}

fn cluster_role_binding(group: &str, cluster_role: &str) -> KubeObject {
    object(
        Kind::ClusterRoleBinding,
        None,
        group,
        ClusterRoleBinding {
            metadata: meta(group, None),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: cluster_role.into(),
            },
            subjects: Some(vec![subject("Group", group)]),
        },
    )
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: kind.into(),
        name: name.into(),
        namespace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_removed_for_aws_auth() {
        assert_eq!(
            pathless(
                "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef"
            ),
            "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef"
        );
        assert_eq!(
            pathless("arn:aws:iam::111122223333:role/Admin"),
            "arn:aws:iam::111122223333:role/Admin"
        );
    }

    #[test]
    fn scopes_merge_to_the_wider() {
        let mut s = Scope::Namespaces(["a".to_string()].into());
        s.merge(&Scope::Namespaces(["b".to_string()].into()));
        assert_eq!(
            s,
            Scope::Namespaces(["a".to_string(), "b".to_string()].into())
        );
        s.merge(&Scope::Cluster);
        assert_eq!(s, Scope::Cluster);
    }

    #[test]
    fn objects_have_kubernetes_paths() {
        let rb = role_binding(
            "production",
            "production-admin",
            RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: "production-admin".into(),
            },
            vec![subject("User", "production-admin-user")],
        );
        assert_eq!(
            rb.path(),
            "/apis/rbac.authorization.k8s.io/v1/namespaces/production/rolebindings/production-admin"
        );
        assert_eq!(rb.body["kind"], "RoleBinding");
        assert_eq!(rb.body["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert!(KubeObject::is_managed(&rb.body));
        assert_eq!(
            namespace("production").path(),
            "/api/v1/namespaces/production"
        );
    }
}
