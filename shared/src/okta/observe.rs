//! What exists in Okta for an account now. Reads only.

use std::collections::BTreeMap;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::{
    Client, OktaError,
    desired::{self, AWS_APP_NAME, OktaDesired},
};
use crate::config::OktaMode;

/// The state of everything autofed keeps in Okta for one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OktaObserved {
    /// The app, if found.
    pub app: Option<ObservedApp>,
    /// The app's IdP metadata, if the app exists.
    pub metadata: Option<String>,
    /// The account's groups that carry autofed's marker, by name.
    pub own_groups: BTreeMap<String, Group>,
    /// Groups with a desired name that do not carry the marker, by name.
    pub foreign_groups: BTreeMap<String, Group>,
    /// The app's group assignments autofed looked at: group id to assignment profile.
    pub assignments: BTreeMap<String, Value>,
    /// The account's rules (named with autofed's prefix).
    pub rules: Vec<Rule>,
    /// Groups named by the configuration (management, app and pushed groups): name to id,
    /// `None` when no group has the name.
    pub named: BTreeMap<String, Option<String>>,
    /// Push mappings to the Identity Center app, by source group name.
    pub pushes: BTreeMap<String, Vec<PushMapping>>,
}

/// An AWS Account Federation app.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedApp {
    /// Id.
    pub id: String,
    /// Label.
    pub label: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// `settings.app`.
    pub settings: Value,
    /// `settings.notes.admin`.
    pub note: Option<String>,
    /// Enabled features (empty until a person enables provisioning).
    pub features: Vec<String>,
    /// When it was created (Okta's ISO 8601 timestamp).
    pub created: String,
}

impl ObservedApp {
    /// Whether autofed created the app.
    pub fn is_managed(&self) -> bool {
        self.note
            .as_deref()
            .is_some_and(|n| n.starts_with(desired::MARKER))
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A group rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `ACTIVE`, `INACTIVE` or `INVALID`.
    pub status: String,
    /// The condition expression.
    pub expression: String,
    /// The groups its members are added to.
    pub group_ids: Vec<String>,
}

/// A group push mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMapping {
    /// Id.
    pub id: String,
    /// `ACTIVE`, `INACTIVE` or `ERROR`.
    pub status: String,
    /// The last push's error, if any.
    pub error: Option<String>,
}

/// `path?k=v&…` with each value percent-encoded.
pub(crate) fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn app_of(v: &Value) -> ObservedApp {
    ObservedApp {
        id: text(&v["id"]),
        label: text(&v["label"]),
        status: text(&v["status"]),
        settings: v["settings"]["app"].clone(),
        note: v["settings"]["notes"]["admin"].as_str().map(str::to_string),
        features: v["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
        created: text(&v["created"]),
    }
}

fn group_of(v: &Value) -> Group {
    Group {
        id: text(&v["id"]),
        name: text(&v["profile"]["name"]),
        description: text(&v["profile"]["description"]),
    }
}

/// A group rule as autofed reads it.
pub(crate) fn rule_of(v: &Value) -> Rule {
    Rule {
        id: text(&v["id"]),
        name: text(&v["name"]),
        status: text(&v["status"]),
        expression: text(&v["conditions"]["expression"]["value"]),
        group_ids: v["actions"]["assignUserToGroups"]["groupIds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
    }
}

/// The group with exactly this name, if any.
pub(crate) async fn group_named(client: &Client, name: &str) -> Result<Option<Group>, OktaError> {
    let found = client
        .list(&with_query(
            "/api/v1/groups",
            &[("search", &format!("profile.name eq {}", quoted(name)))],
        ))
        .await?;
    Ok(found.iter().map(group_of).find(|g| g.name == name))
}

/// A string literal in Okta's filter language.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Apps of the AWS Account Federation kind whose label starts with `label`.
async fn apps_labelled(client: &Client, label: &str) -> Result<Vec<ObservedApp>, OktaError> {
    Ok(client
        .list(&with_query("/api/v1/apps", &[("q", label)]))
        .await?
        .iter()
        .filter(|a| a["name"] == AWS_APP_NAME)
        .map(app_of)
        .collect())
}

/// The apps labelled `label` exactly whose admin note is `note`, oldest first.
pub(crate) async fn apps_marked(
    client: &Client,
    label: &str,
    note: &str,
) -> Result<Vec<ObservedApp>, OktaError> {
    let mut apps: Vec<ObservedApp> = apps_labelled(client, label)
        .await?
        .into_iter()
        .filter(|a| a.label == label && a.note.as_deref() == Some(note))
        .collect();
    apps.sort_by(oldest_first);
    Ok(apps)
}

/// Apps in order of creation (ties, within Okta's timestamp precision, by id): every instance
/// agrees which of two twins is the older.
pub(crate) fn oldest_first(a: &ObservedApp, b: &ObservedApp) -> std::cmp::Ordering {
    (&a.created, &a.id).cmp(&(&b.created, &b.id))
}

/// Finds the app `desired` describes. The shared app must exist (or be creatable); an
/// account's app is found by label, or, when the account is `federated` (its SAML provider
/// exists), by its marker in case the account or the label template was renamed.
///
/// NB: the marker search reads every AWS Account Federation app (Okta cannot filter on the
/// note: at 1000 accounts, five pages of 200), so an account that is not federated yet is not
/// searched: its app, if any, was made by an onboarding that stopped before the provider was
/// created, and has the label it was made with.
async fn find_app(
    client: &Client,
    desired: &OktaDesired,
    federated: bool,
) -> Result<Option<ObservedApp>, OktaError> {
    let spec = &desired.app;
    if let Some(id) = &spec.id {
        return match client.get(&format!("/api/v1/apps/{id}")).await? {
            Some(app) => Ok(Some(app_of(&app))),
            None => Err(OktaError::Setup {
                key: "okta.group_mapping.app_id",
                problem: format!("Okta has no app with id {id:?}"),
            }),
        };
    }
    let labelled: Vec<ObservedApp> = apps_labelled(client, &spec.label)
        .await?
        .into_iter()
        .filter(|a| a.label == spec.label)
        .collect();
    if spec.shared {
        return match labelled.as_slice() {
            [] if spec.create => Ok(None),
            [] => Err(OktaError::Setup {
                key: "okta.group_mapping.create_app",
                problem: format!(
                    "no AWS Account Federation app is labelled {:?}; create it in Okta, set app_id, or set create_app = true",
                    spec.label
                ),
            }),
            [one] => Ok(Some(one.clone())),
            // Twins autofed made from two deliveries at once, not yet resolved: the oldest.
            many if many.iter().all(|a| a.note.as_deref() == Some(&spec.note)) => {
                Ok(many.iter().min_by(|a, b| oldest_first(a, b)).cloned())
            }
            many => Err(OktaError::Setup {
                key: "okta.group_mapping.app_id",
                problem: format!(
                    "{} AWS Account Federation apps are labelled {:?} ({}); set app_id to the one to use",
                    many.len(),
                    spec.label,
                    many.iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        };
    }
    // NB: labels are not unique in Okta; an account's app is the one with its marker.
    if let Some(ours) = labelled
        .iter()
        .filter(|a| a.note.as_deref() == Some(&spec.note))
        .min_by(|a, b| oldest_first(a, b))
    {
        return Ok(Some(ours.clone()));
    }
    if !federated {
        return Ok(None);
    }
    app_by_note(client, &spec.note).await
}

/// The AWS Account Federation app whose admin note is `note` (an account's own app, renamed or
/// whose account is gone), by a scan of every such app.
async fn app_by_note(client: &Client, note: &str) -> Result<Option<ObservedApp>, OktaError> {
    Ok(client
        .list(&with_query(
            "/api/v1/apps",
            &[("filter", &format!("name eq \"{AWS_APP_NAME}\""))],
        ))
        .await?
        .iter()
        .map(app_of)
        .find(|a| a.note.as_deref() == Some(note)))
}

/// The account's groups that carry the marker, by name.
async fn own_groups(
    client: &Client,
    account_id: &str,
) -> Result<BTreeMap<String, Group>, OktaError> {
    let marker = desired::group_marker(account_id);
    Ok(client
        .list(&with_query(
            "/api/v1/groups",
            &[(
                "search",
                &format!("profile.description sw {}", quoted(&marker)),
            )],
        ))
        .await?
        .iter()
        .map(group_of)
        // NB: `sw` also matches account 2222222222220…; the marker ends at `,` or the end.
        .filter(|g| g.description == marker || g.description.starts_with(&format!("{marker},")))
        .map(|g| (g.name.clone(), g))
        .collect())
}

/// The account's rules.
async fn rules(client: &Client, account_id: &str) -> Result<Vec<Rule>, OktaError> {
    let prefix = desired::rule_prefix(account_id);
    Ok(client
        .list(&with_query(
            "/api/v1/groups/rules",
            &[("search", prefix.trim_end())],
        ))
        .await?
        .iter()
        .map(rule_of)
        .filter(|r| r.name.starts_with(&prefix))
        .collect())
}

/// The app's IdP metadata: the SAML metadata of its active signing key.
pub(crate) async fn metadata(client: &Client, app_id: &str) -> Result<String, OktaError> {
    let app = client
        .get(&format!("/api/v1/apps/{app_id}"))
        .await?
        .unwrap_or_default();
    let kid = text(&app["credentials"]["signing"]["kid"]);
    client
        .get_text(&with_query(
            &format!("/api/v1/apps/{app_id}/sso/saml/metadata"),
            &[("kid", &kid)],
        ))
        .await
}

/// Reads everything `desired` names. `ic_app` is the Identity Center app that pushes groups;
/// `federated`: the account's SAML provider exists (see [`find_app`]).
pub async fn observe(
    client: &Client,
    desired: &OktaDesired,
    ic_app: Option<&str>,
    federated: bool,
) -> Result<OktaObserved, OktaError> {
    let mut out = OktaObserved::default();
    if desired.mode != OktaMode::None {
        let app = find_app(client, desired, federated).await?;
        if let Some(app) = &app {
            out.metadata = Some(metadata(client, &app.id).await?);
        }
        out.app = app;
    }
    out.own_groups = own_groups(client, &desired.account_id).await?;
    for g in &desired.role_groups {
        if !out.own_groups.contains_key(&g.name)
            && let Some(found) = group_named(client, &g.name).await?
        {
            out.foreign_groups.insert(g.name.clone(), found);
        }
    }
    if !desired.rules.is_empty() || desired.mode == OktaMode::GroupMapping {
        out.rules = rules(client, &desired.account_id).await?;
    }
    let named = desired
        .rules
        .iter()
        .map(|r| &r.management_group)
        .chain(desired.app_groups.iter().map(|g| &g.group))
        .chain(&desired.pushes);
    for name in named {
        if !out.named.contains_key(name) {
            let id = group_named(client, name).await?.map(|g| g.id);
            out.named.insert(name.clone(), id);
        }
    }
    if let Some(app) = &out.app {
        match desired.mode {
            OktaMode::GroupMapping => {
                for g in desired
                    .role_groups
                    .iter()
                    .filter_map(|g| out.own_groups.get(&g.name))
                {
                    if let Some(a) = client
                        .get(&format!("/api/v1/apps/{}/groups/{}", app.id, g.id))
                        .await?
                    {
                        out.assignments.insert(g.id.clone(), a["profile"].clone());
                    }
                }
            }
            OktaMode::AppPerAccount => {
                for a in client
                    .list(&format!("/api/v1/apps/{}/groups", app.id))
                    .await?
                {
                    out.assignments.insert(text(&a["id"]), a["profile"].clone());
                }
            }
            OktaMode::None => {}
        }
    }
    if let Some(ic_app) = ic_app {
        for name in &desired.pushes {
            let Some(Some(id)) = out.named.get(name) else {
                continue;
            };
            let mappings = client
                .list(&with_query(
                    &format!("/api/v1/apps/{ic_app}/group-push/mappings"),
                    &[("sourceGroupId", id)],
                ))
                .await?
                .iter()
                .map(|m| PushMapping {
                    id: text(&m["id"]),
                    status: text(&m["status"]),
                    error: m["errorSummary"].as_str().map(str::to_string),
                })
                .collect();
            out.pushes.insert(name.clone(), mappings);
        }
    }
    Ok(out)
}

/// Reads what autofed made in Okta for an account that is closed or gone: its groups, its
/// rules and (app per account) its app, found by their markers alone.
pub async fn observe_removal(
    client: &Client,
    mode: OktaMode,
    account_id: &str,
) -> Result<OktaObserved, OktaError> {
    let mut out = OktaObserved {
        own_groups: own_groups(client, account_id).await?,
        rules: rules(client, account_id).await?,
        ..Default::default()
    };
    if mode == OktaMode::AppPerAccount {
        out.app = app_by_note(client, &desired::app_marker(account_id)).await?;
    }
    Ok(out)
}
