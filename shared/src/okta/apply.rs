//! The Okta writes of a plan. Each is idempotent: a group found "already exists" after a lost
//! answer is re-read and counted as done if it carries autofed's marker; assignments are
//! `PUT`s; a rule left inactive by an interrupted run is activated by the next plan.

use std::{collections::BTreeMap, sync::Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use tracing::warn;

use super::{
    Client, OktaError,
    desired::{AWS_APP_NAME, MARKER},
    observe::{self, group_named},
    plan::{GroupRef, OktaOp, rule_expression},
};

/// What one apply learnt by creating: group ids by name (a rule or assignment planned against
/// a group the same apply creates finds it here), and the app it created and kept.
#[derive(Debug, Default)]
pub struct Created {
    groups: Mutex<BTreeMap<String, String>>,
    app: Mutex<Option<Value>>,
}

impl Created {
    fn insert(&self, name: &str, id: &str) {
        self.groups
            .lock()
            .expect("created groups poisoned")
            .insert(name.to_string(), id.to_string());
    }

    fn get(&self, name: &str) -> Option<String> {
        self.groups
            .lock()
            .expect("created groups poisoned")
            .get(name)
            .cloned()
    }

    /// The app this apply created and kept, as Okta answered its creation (`None` when it
    /// created none, or deleted its own for an older twin).
    pub fn app(&self) -> Option<Value> {
        self.app.lock().expect("created app poisoned").clone()
    }
}

async fn resolve(
    client: &Client,
    created: &Created,
    group: &GroupRef,
) -> Result<String, OktaError> {
    match group {
        GroupRef::Id(id) => Ok(id.clone()),
        GroupRef::Name(name) => {
            if let Some(id) = created.get(name) {
                return Ok(id);
            }
            match group_named(client, name).await? {
                Some(g) => Ok(g.id),
                None => Err(OktaError::Setup {
                    key: "okta.group_name",
                    problem: format!(
                        "group {name:?} was to be created earlier in this run and is not there"
                    ),
                }),
            }
        }
    }
}

async fn resolve_all(
    client: &Client,
    created: &Created,
    groups: &[GroupRef],
) -> Result<Vec<String>, OktaError> {
    let mut ids = Vec::with_capacity(groups.len());
    for g in groups {
        ids.push(resolve(client, created, g).await?);
    }
    Ok(ids)
}

fn rule_body(name: &str, management_group_id: &str, group_ids: Vec<String>) -> Value {
    json!({
        "type": "group_rule",
        "name": name,
        "conditions": {
            "expression": {
                "value": rule_expression(management_group_id),
                "type": "urn:okta:expression:1.0"
            }
        },
        "actions": { "assignUserToGroups": { "groupIds": group_ids } }
    })
}

async fn lifecycle(client: &Client, path: &str) -> Result<(), OktaError> {
    client.write(Method::POST, path, None).await.map(drop)
}

/// Makes the writes of one Okta operation.
pub async fn apply(client: &Client, op: &OktaOp, created: &Created) -> Result<(), OktaError> {
    match op {
        OktaOp::CreateApp {
            label,
            settings,
            note,
        } => {
            let body = json!({
                "name": AWS_APP_NAME,
                "label": label,
                "signOnMode": "SAML_2_0",
                "settings": { "app": settings, "notes": { "admin": note } }
            });
            let app = client
                .write(Method::POST, "/api/v1/apps?activate=true", Some(&body))
                .await?;
            let id = app["id"].as_str().unwrap_or_default();
            // NB: a message delivered twice at once (SQS and EventBridge deliver at least once)
            // creates two apps, as labels are not unique. Every instance then keeps the oldest
            // of the apps with this label and marker, and the one that made a newer one deletes
            // it: its own, made a moment ago.
            let twins = observe::apps_marked(client, label, note).await?;
            if let Some(keep) = twins.first()
                && keep.id != id
                && twins.iter().any(|a| a.id == id)
            {
                warn!(app_id = id, kept = %keep.id, label = %label, "another delivery created the same app first; deleting ours");
                lifecycle(client, &format!("/api/v1/apps/{id}/lifecycle/deactivate")).await?;
                client.delete(&format!("/api/v1/apps/{id}")).await?;
            } else {
                *created.app.lock().expect("created app poisoned") = Some(app);
            }
        }
        OktaOp::UpdateApp {
            id,
            label,
            settings,
        } => {
            let path = format!("/api/v1/apps/{id}");
            // NB: PUT replaces the whole app; what is not sent is reset, so send it all back.
            let Some(mut app) = client.get(&path).await? else {
                return Err(OktaError::Setup {
                    key: "okta.group_mapping.app_id",
                    problem: format!("app {id} disappeared during the run"),
                });
            };
            // The read-only properties go: Okta's contract refuses them in a request.
            if let Some(obj) = app.as_object_mut() {
                for key in [
                    "_links",
                    "_embedded",
                    "created",
                    "lastUpdated",
                    "id",
                    "features",
                    "status",
                ] {
                    obj.remove(key);
                }
            }
            app["label"] = json!(label);
            for (k, v) in settings.as_object().into_iter().flatten() {
                app["settings"]["app"][k] = v.clone();
            }
            client.write(Method::PUT, &path, Some(&app)).await?;
        }
        OktaOp::CreateGroup { name, description } => {
            let body = json!({ "profile": { "name": name, "description": description } });
            match client
                .write(Method::POST, "/api/v1/groups", Some(&body))
                .await
            {
                Ok(group) => created.insert(name, group["id"].as_str().unwrap_or_default()),
                Err(e) if e.code() == Some("E0000001") => {
                    // Already there: ours if it carries the marker (a lost answer), else not.
                    match group_named(client, name).await? {
                        Some(g) if g.description.starts_with(MARKER) => created.insert(name, &g.id),
                        _ => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        OktaOp::UpdateGroup {
            id,
            name,
            description,
        } => {
            let body = json!({ "profile": { "name": name, "description": description } });
            client
                .write(Method::PUT, &format!("/api/v1/groups/{id}"), Some(&body))
                .await?;
        }
        OktaOp::AssignGroup {
            app_id,
            group,
            profile,
        } => {
            let group_id = resolve(client, created, group).await?;
            let body = json!({ "profile": profile });
            client
                .write(
                    Method::PUT,
                    &format!("/api/v1/apps/{app_id}/groups/{group_id}"),
                    Some(&body),
                )
                .await?;
        }
        OktaOp::UnassignGroup { app_id, group_id } => {
            client
                .delete(&format!("/api/v1/apps/{app_id}/groups/{group_id}"))
                .await?;
        }
        OktaOp::CreateRule {
            name,
            management_group_id,
            groups,
        } => {
            let ids = resolve_all(client, created, groups).await?;
            let rule = client
                .write(
                    Method::POST,
                    "/api/v1/groups/rules",
                    Some(&rule_body(name, management_group_id, ids)),
                )
                .await?;
            let id = rule["id"].as_str().unwrap_or_default();
            // NB: Okta creates rules INACTIVE.
            lifecycle(
                client,
                &format!("/api/v1/groups/rules/{id}/lifecycle/activate"),
            )
            .await?;
        }
        OktaOp::UpdateRule {
            id,
            name,
            management_group_id,
            groups,
        } => {
            let ids = resolve_all(client, created, groups).await?;
            // NB: Okta changes only inactive rules.
            lifecycle(
                client,
                &format!("/api/v1/groups/rules/{id}/lifecycle/deactivate"),
            )
            .await?;
            client
                .write(
                    Method::PUT,
                    &format!("/api/v1/groups/rules/{id}"),
                    Some(&rule_body(name, management_group_id, ids)),
                )
                .await?;
            lifecycle(
                client,
                &format!("/api/v1/groups/rules/{id}/lifecycle/activate"),
            )
            .await?;
        }
        OktaOp::ActivateRule { id } => {
            lifecycle(
                client,
                &format!("/api/v1/groups/rules/{id}/lifecycle/activate"),
            )
            .await?;
        }
        OktaOp::DeleteRule { id, active } => {
            if *active {
                lifecycle(
                    client,
                    &format!("/api/v1/groups/rules/{id}/lifecycle/deactivate"),
                )
                .await?;
            }
            client.delete(&format!("/api/v1/groups/rules/{id}")).await?;
        }
        OktaOp::DeleteGroup { id } => {
            client.delete(&format!("/api/v1/groups/{id}")).await?;
        }
        OktaOp::DeleteApp { id, active } => {
            if *active {
                lifecycle(client, &format!("/api/v1/apps/{id}/lifecycle/deactivate")).await?;
            }
            client.delete(&format!("/api/v1/apps/{id}")).await?;
        }
        OktaOp::CreatePushMapping {
            app_id,
            group_id,
            name,
        } => {
            let body =
                json!({ "sourceGroupId": group_id, "targetGroupName": name, "status": "ACTIVE" });
            client
                .write(
                    Method::POST,
                    &format!("/api/v1/apps/{app_id}/group-push/mappings"),
                    Some(&body),
                )
                .await?;
        }
    }
    Ok(())
}
