//! What exists in Okta for an account now. Reads only.

use std::collections::{BTreeMap, BTreeSet};

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
    /// The id of its active signing key (`credentials.signing.kid`), which names its metadata.
    pub kid: String,
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

/// An app as Okta's answers give it (a listing, a read, or the answer to its creation: all
/// carry the whole app).
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
        kid: text(&v["credentials"]["signing"]["kid"]),
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

/// The groups of one account's observation: its own (those with its marker), and those with a
/// name it looks for.
struct Found {
    /// The account's groups that carry the marker, by name.
    own: BTreeMap<String, Group>,
    /// The first group (in Okta's order) with each name looked for that has one.
    by_name: BTreeMap<String, Group>,
}

/// At most this many names in one search, with the marker's clause: Okta's search takes `or`,
/// so an account's groups are read in one call rather than one per name; a configuration
/// naming many groups takes a few.
const NAMES_PER_SEARCH: usize = 8;

/// At most this many bytes of names in one search (one name always fits: Okta's are at most
/// 255 characters), so that a search of long non-ASCII names, percent-encoded, stays a few KB
/// of URL.
const SEARCH_NAME_BYTES: usize = 1024;

/// `names` in the groups of one search each; one (empty) group when there are none, as the
/// marker is searched for anyway.
fn searches<'a>(names: &BTreeSet<&'a str>) -> Vec<Vec<&'a str>> {
    let mut out: Vec<Vec<&str>> = vec![Vec::new()];
    let mut bytes = 0;
    for &name in names {
        let last = out.last().expect("one search at least");
        if !last.is_empty()
            && (last.len() == NAMES_PER_SEARCH || bytes + name.len() > SEARCH_NAME_BYTES)
        {
            out.push(Vec::new());
            bytes = 0;
        }
        out.last_mut().expect("one search at least").push(name);
        bytes += name.len();
    }
    out
}

/// The account's own groups and the groups named `names`: a search for the marker or any of
/// the names (`profile.description sw "…" or profile.name eq "…" or …`).
async fn groups(
    client: &Client,
    account_id: &str,
    names: BTreeSet<&str>,
) -> Result<Found, OktaError> {
    let marker = desired::group_marker(account_id);
    let mut found = Found {
        own: BTreeMap::new(),
        by_name: BTreeMap::new(),
    };
    for (i, chunk) in searches(&names).into_iter().enumerate() {
        let mut clauses: Vec<String> = chunk
            .iter()
            .map(|n| format!("profile.name eq {}", quoted(n)))
            .collect();
        if i == 0 {
            clauses.insert(0, format!("profile.description sw {}", quoted(&marker)));
        }
        let search = clauses.join(" or ");
        for g in client
            .list(&with_query("/api/v1/groups", &[("search", &search)]))
            .await?
            .iter()
            .map(group_of)
        {
            if chunk.contains(&g.name.as_str()) && !found.by_name.contains_key(&g.name) {
                found.by_name.insert(g.name.clone(), g.clone());
            }
            if is_marked(&g, &marker) {
                found.own.insert(g.name.clone(), g);
            }
        }
    }
    Ok(found)
}

/// Whether `g` carries `marker`. NB: `sw` also matches account 2222222222220…; the marker ends
/// at `,` or the end.
fn is_marked(g: &Group, marker: &str) -> bool {
    g.description == marker
        || g.description
            .strip_prefix(marker)
            .is_some_and(|rest| rest.starts_with(','))
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

/// The app's IdP metadata: the SAML metadata of its active signing key, which the app as
/// listed or read names (no read of the app for it).
async fn metadata(client: &Client, app: &ObservedApp) -> Result<String, OktaError> {
    client
        .get_text(&with_query(
            &format!("/api/v1/apps/{}/sso/saml/metadata", app.id),
            &[("kid", &app.kid)],
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
            out.metadata = Some(metadata(client, app).await?);
        }
        out.app = app;
    }
    let named: BTreeSet<&str> = desired
        .rules
        .iter()
        .map(|r| r.management_group.as_str())
        .chain(desired.app_groups.iter().map(|g| g.group.as_str()))
        .chain(desired.pushes.iter().map(String::as_str))
        .collect();
    let role_names = desired.role_groups.iter().map(|g| g.name.as_str());
    let found = groups(
        client,
        &desired.account_id,
        named.iter().copied().chain(role_names).collect(),
    )
    .await?;
    out.own_groups = found.own;
    for g in &desired.role_groups {
        if !out.own_groups.contains_key(&g.name)
            && let Some(group) = found.by_name.get(&g.name)
        {
            out.foreign_groups.insert(g.name.clone(), group.clone());
        }
    }
    for name in named {
        let id = found.by_name.get(name).map(|g| g.id.clone());
        out.named.insert(name.to_string(), id);
    }
    if !desired.rules.is_empty() || desired.mode == OktaMode::GroupMapping {
        out.rules = rules(client, &desired.account_id).await?;
    }
    out.assignments = assignments(client, desired, &out).await?;
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

/// The app's group assignments autofed looks at: those of the account's own groups (group
/// mapping) or all of its app's (app per account).
async fn assignments(
    client: &Client,
    desired: &OktaDesired,
    out: &OktaObserved,
) -> Result<BTreeMap<String, Value>, OktaError> {
    let mut found = BTreeMap::new();
    let Some(app) = &out.app else {
        return Ok(found);
    };
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
                    found.insert(g.id.clone(), a["profile"].clone());
                }
            }
        }
        OktaMode::AppPerAccount => {
            for a in client
                .list(&format!("/api/v1/apps/{}/groups", app.id))
                .await?
            {
                found.insert(text(&a["id"]), a["profile"].clone());
            }
        }
        OktaMode::None => {}
    }
    Ok(found)
}

/// Brings `out` up to date after this run created the app and kept it: creating an app
/// changes the app alone (groups, rules and push mappings are as read), `created` is the app as
/// Okta answered its creation (which names its signing key), and a new app has no group
/// assignments, so only its metadata is read. When another delivery's twin was kept instead,
/// that delivery may have written more: Okta is read again in full ([`observe`]).
pub async fn app_created(
    client: &Client,
    created: &Value,
    out: &mut OktaObserved,
) -> Result<(), OktaError> {
    let app = app_of(created);
    out.metadata = Some(metadata(client, &app).await?);
    out.app = Some(app);
    out.assignments = BTreeMap::new();
    Ok(())
}

/// Reads what autofed made in Okta for an account that is closed or gone: its groups, its
/// rules and (app per account) its app, found by their markers alone.
pub async fn observe_removal(
    client: &Client,
    mode: OktaMode,
    account_id: &str,
) -> Result<OktaObserved, OktaError> {
    let mut out = OktaObserved {
        own_groups: groups(client, account_id, BTreeSet::new()).await?.own,
        rules: rules(client, account_id).await?,
        ..Default::default()
    };
    if mode == OktaMode::AppPerAccount {
        out.app = app_by_note(client, &desired::app_marker(account_id)).await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{NAMES_PER_SEARCH, SEARCH_NAME_BYTES, searches};

    #[test]
    fn names_are_searched_eight_at_a_time_and_within_a_byte_budget() {
        assert_eq!(searches(&BTreeSet::new()), vec![Vec::<&str>::new()]);
        let names: Vec<String> = (0..20).map(|i| format!("group {i:02}")).collect();
        let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let lens: Vec<usize> = searches(&set).iter().map(Vec::len).collect();
        assert_eq!(lens, [NAMES_PER_SEARCH, NAMES_PER_SEARCH, 4]);
        // 255 characters of three bytes each: one name a search, none dropped.
        let long: Vec<String> = ["管", "理", "者"].iter().map(|c| c.repeat(255)).collect();
        let set: BTreeSet<&str> = long.iter().map(String::as_str).collect();
        let split = searches(&set);
        assert_eq!(split.len(), 3);
        assert!(split.iter().all(|s| s.len() == 1));
        assert!(long[0].len() < SEARCH_NAME_BYTES);
    }
}
