//! The organization events autofed acts on, as EventBridge delivers them (and as they arrive in
//! an SQS message body).
//!
//! AWS service events (`CreateAccountResult`, `CreateManagedAccount`) carry no `requestID` and
//! only a partial `userIdentity`, so they are read with autofed's own detail types rather than
//! a generic CloudTrail record.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use crate::ids::{AccountId, quote};

/// An event that autofed cannot act on. Retrying it cannot help.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or not an EventBridge event.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// A field is missing or has a bad value.
    #[error("event field `{field}`: {problem}")]
    Field {
        /// The dotted path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A well-formed event that autofed has no rule for.
    #[error(
        "unsupported event: source {source_name}, detail-type {detail_type}, eventName {event_name}"
    )]
    Unsupported {
        /// The event's `source`.
        source_name: String,
        /// The event's `detail-type`.
        detail_type: String,
        /// The CloudTrail `eventName`, if any.
        event_name: String,
    },
}

/// What an organization event asks autofed to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    /// A new account exists (Organizations `CreateAccountResult` or Control Tower
    /// `CreateManagedAccount`, SUCCEEDED): onboard it.
    Created {
        /// The new account.
        account_id: AccountId,
        /// Its name, as the event gives it.
        account_name: String,
    },
    /// An account creation failed: nothing to onboard.
    CreationFailed {
        /// The requested account name.
        account_name: String,
        /// AWS's failure reason.
        reason: String,
    },
    /// An account moved to another OU: re-evaluate it.
    Moved {
        /// The account.
        account_id: AccountId,
        /// The OU or root it left.
        from: String,
        /// The OU or root it joined.
        to: String,
    },
    /// An account's tags changed: re-evaluate it.
    TagsChanged {
        /// The account.
        account_id: AccountId,
    },
    /// An account was closed (`CloseAccount`) or left the organization
    /// (`RemoveAccountFromOrganization`): plan the removal of what autofed made for it.
    Departed {
        /// The account.
        account_id: AccountId,
        /// The CloudTrail event name.
        how: &'static str,
    },
    /// The backfill asked for the account to be onboarded (or re-evaluated).
    Requested {
        /// The account.
        account_id: AccountId,
    },
    /// Tags changed on an OU, root or policy: no account selector reads those.
    OtherResourceTagged {
        /// The tagged resource.
        resource_id: String,
    },
}

impl AccountEvent {
    /// The account to onboard or re-evaluate, if any.
    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            AccountEvent::Created { account_id, .. }
            | AccountEvent::Moved { account_id, .. }
            | AccountEvent::TagsChanged { account_id }
            | AccountEvent::Requested { account_id }
            | AccountEvent::Departed { account_id, .. } => Some(account_id),
            AccountEvent::CreationFailed { .. } | AccountEvent::OtherResourceTagged { .. } => None,
        }
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AccountEvent::Created { .. } => "account-created",
            AccountEvent::CreationFailed { .. } => "account-creation-failed",
            AccountEvent::Moved { .. } => "account-moved",
            AccountEvent::TagsChanged { .. } => "account-tags-changed",
            AccountEvent::Departed { how, .. } => how,
            AccountEvent::Requested { .. } => "backfill-requested",
            AccountEvent::OtherResourceTagged { .. } => "other-resource-tagged",
        }
    }
}

/// The CloudTrail-shaped `detail` of the events autofed reads; other fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrailDetail {
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    request_parameters: Option<Value>,
    #[serde(default)]
    service_event_details: Option<Value>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    recipient_account_id: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountStatus {
    state: String,
    #[serde(default)]
    account_name: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccountStatus {
    state: String,
    account: ManagedAccount,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccount {
    account_name: String,
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveAccount {
    account_id: String,
    source_parent_id: String,
    destination_parent_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TagChange {
    resource_id: String,
}

const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";
/// `requestParameters` of `CloseAccount` and `RemoveAccountFromOrganization`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountOnly {
    account_id: String,
}

const API_CALL: &str = "AWS API Call via CloudTrail";

/// The `source` of the messages the backfill puts on the work queues: the same queues, and so
/// the same rates and dead-letter handling, as the organization's own events.
pub const BACKFILL_SOURCE: &str = "autofed.backfill";
const BACKFILL_ACCOUNT: &str = "Backfill Account";
const BACKFILL_CLUSTER: &str = "Backfill Cluster";

/// The `detail` of a backfill message.
#[derive(Debug, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackfillDetail {
    account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

fn backfill_message(detail_type: &str, detail: BackfillDetail) -> String {
    serde_json::json!({
        "version": "0",
        "source": BACKFILL_SOURCE,
        "detail-type": detail_type,
        "detail": detail,
    })
    .to_string()
}

/// The message the backfill enqueues for an account; [`parse`] reads it as
/// [`AccountEvent::Requested`].
pub fn account_message(account_id: &AccountId) -> String {
    backfill_message(
        BACKFILL_ACCOUNT,
        BackfillDetail {
            account_id: account_id.to_string(),
            region: None,
            name: None,
        },
    )
}

/// The message the backfill enqueues for a cluster; [`parse_cluster`] reads it as
/// [`ClusterEvent::Created`].
pub fn cluster_message(cluster: &ClusterRef) -> String {
    backfill_message(
        BACKFILL_CLUSTER,
        BackfillDetail {
            account_id: cluster.account_id.to_string(),
            region: Some(cluster.region.clone()),
            name: Some(cluster.name.clone()),
        },
    )
}

/// What an EKS event, forwarded from a member account and region to the central bus, asks
/// autofed to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// `CreateCluster` succeeded: the cluster exists (usually still `CREATING`); onboard it.
    Created {
        /// The cluster.
        cluster: ClusterRef,
    },
    /// `DeleteCluster` succeeded: reported only (the access entries go with the cluster).
    Deleted {
        /// The cluster.
        cluster: ClusterRef,
    },
    /// The call failed (`errorCode` set): no cluster to work on.
    CallFailed {
        /// `CreateCluster` or `DeleteCluster`.
        event_name: &'static str,
        /// CloudTrail's error code.
        error_code: String,
    },
}

/// A cluster, as an event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// The account that holds it.
    pub account_id: AccountId,
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.account_id, self.region, self.name)
    }
}

impl ClusterEvent {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterEvent::Created { .. } => "cluster-created",
            ClusterEvent::Deleted { .. } => "cluster-deleted",
            ClusterEvent::CallFailed { .. } => "cluster-call-failed",
        }
    }
}

#[derive(Debug, Deserialize)]
struct ClusterName {
    name: String,
}

/// Parses an EKS event (an SQS message body of the cluster queue).
pub fn parse_cluster(body: &str) -> Result<ClusterEvent, EventError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_str(body).map_err(|e| EventError::Malformed(e.to_string()))?;
    if (event.source.as_str(), event.detail_type.as_str()) == (BACKFILL_SOURCE, BACKFILL_CLUSTER) {
        let d: BackfillDetail = field(event.detail, "detail")?;
        let region = d.region.unwrap_or_default();
        let name = d.name.unwrap_or_default();
        return Ok(ClusterEvent::Created {
            cluster: cluster_ref(
                &d.account_id,
                "detail.accountId",
                region,
                "detail.region",
                name,
                "detail.name",
            )?,
        });
    }
    let detail: TrailDetail = field(event.detail.clone(), "detail")?;
    let name = detail.event_name.clone().unwrap_or_default();
    let event_name = match (
        event.source.as_str(),
        event.detail_type.as_str(),
        name.as_str(),
    ) {
        ("aws.eks", API_CALL, "CreateCluster") => "CreateCluster",
        ("aws.eks", API_CALL, "DeleteCluster") => "DeleteCluster",
        (source, detail_type, _) => {
            return Err(EventError::Unsupported {
                source_name: quote(source),
                detail_type: quote(detail_type),
                event_name: quote(&name),
            });
        }
    };
    if let Some(error_code) = detail.error_code.clone() {
        return Ok(ClusterEvent::CallFailed {
            event_name,
            error_code,
        });
    }
    // NB: an event forwarded to another bus keeps its `account` and `region`; CloudTrail's
    // own fields say the same and are preferred.
    let account = detail
        .recipient_account_id
        .clone()
        .or(event.account)
        .unwrap_or_default();
    let account_field = "detail.recipientAccountId";
    let region = detail
        .aws_region
        .clone()
        .or(event.region)
        .unwrap_or_default();
    let p: ClusterName = field(request_parameters(&detail)?, "detail.requestParameters")?;
    let cluster = cluster_ref(
        &account,
        account_field,
        region,
        "detail.awsRegion",
        p.name,
        "detail.requestParameters.name",
    )?;
    Ok(if event_name == "CreateCluster" {
        ClusterEvent::Created { cluster }
    } else {
        ClusterEvent::Deleted { cluster }
    })
}

/// A cluster from an event's fields, each checked; errors name the field (`*_field`).
fn cluster_ref(
    account: &str,
    account_field: &str,
    region: String,
    region_field: &str,
    name: String,
    name_field: &str,
) -> Result<ClusterRef, EventError> {
    if !crate::config::cluster::is_region(&region) {
        return Err(EventError::Field {
            field: region_field.into(),
            problem: format!("not a region name: {}", quote(&region)),
        });
    }
    if !is_cluster_name(&name) {
        return Err(EventError::Field {
            field: name_field.into(),
            problem: format!(
                "not an EKS cluster name (1-100 of letters, digits, `-`, `_`, starting with a letter or digit): {}",
                quote(&name)
            ),
        });
    }
    Ok(ClusterRef {
        account_id: account_id(account, account_field)?,
        region,
        name,
    })
}

/// Whether `s` is a valid EKS cluster name.
pub fn is_cluster_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses an EventBridge event (an SQS message body) into what it asks autofed to do.
pub fn parse(body: &str) -> Result<AccountEvent, EventError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_str(body).map_err(|e| EventError::Malformed(e.to_string()))?;
    if (event.source.as_str(), event.detail_type.as_str()) == (BACKFILL_SOURCE, BACKFILL_ACCOUNT) {
        let d: BackfillDetail = field(event.detail, "detail")?;
        return Ok(AccountEvent::Requested {
            account_id: account_id(&d.account_id, "detail.accountId")?,
        });
    }
    let detail: TrailDetail = field(event.detail.clone(), "detail")?;
    let name = detail.event_name.clone().unwrap_or_default();
    match (
        event.source.as_str(),
        event.detail_type.as_str(),
        name.as_str(),
    ) {
        ("aws.organizations", SERVICE_EVENT, "CreateAccountResult") => {
            let status: CreateAccountStatus = field(
                service_details(&detail)?
                    .get("createAccountStatus")
                    .cloned()
                    .unwrap_or(Value::Null),
                "detail.serviceEventDetails.createAccountStatus",
            )?;
            let at = "detail.serviceEventDetails.createAccountStatus";
            created(
                &status.state,
                status.account_id,
                status.account_name,
                status.failure_reason,
                at,
            )
        }
        ("aws.controltower", SERVICE_EVENT, "CreateManagedAccount") => {
            let status: ManagedAccountStatus = field(
                service_details(&detail)?
                    .get("createManagedAccountStatus")
                    .cloned()
                    .unwrap_or(Value::Null),
                "detail.serviceEventDetails.createManagedAccountStatus",
            )?;
            let at = "detail.serviceEventDetails.createManagedAccountStatus";
            created(
                &status.state,
                status.account.account_id,
                Some(status.account.account_name),
                status.message,
                at,
            )
        }
        ("aws.organizations", API_CALL, "MoveAccount") => {
            let p: MoveAccount = field(request_parameters(&detail)?, "detail.requestParameters")?;
            Ok(AccountEvent::Moved {
                account_id: account_id(&p.account_id, "detail.requestParameters.accountId")?,
                from: p.source_parent_id,
                to: p.destination_parent_id,
            })
        }
        (
            "aws.organizations",
            API_CALL,
            how @ ("CloseAccount" | "RemoveAccountFromOrganization"),
        ) => {
            let p: AccountOnly = field(request_parameters(&detail)?, "detail.requestParameters")?;
            Ok(AccountEvent::Departed {
                account_id: account_id(&p.account_id, "detail.requestParameters.accountId")?,
                how: if how == "CloseAccount" {
                    "CloseAccount"
                } else {
                    "RemoveAccountFromOrganization"
                },
            })
        }
        ("aws.organizations", API_CALL, "TagResource" | "UntagResource") => {
            let p: TagChange = field(request_parameters(&detail)?, "detail.requestParameters")?;
            // NB: TagResource also tags OUs, roots and policies
            // (https://docs.aws.amazon.com/organizations/latest/APIReference/API_TagResource.html);
            // only an account's own tags feed selectors.
            if p.resource_id.bytes().all(|b| b.is_ascii_digit()) {
                Ok(AccountEvent::TagsChanged {
                    account_id: account_id(&p.resource_id, "detail.requestParameters.resourceId")?,
                })
            } else {
                Ok(AccountEvent::OtherResourceTagged {
                    resource_id: p.resource_id,
                })
            }
        }
        (source, detail_type, _) => Err(EventError::Unsupported {
            source_name: quote(source),
            detail_type: quote(detail_type),
            event_name: quote(&name),
        }),
    }
}

fn created(
    state: &str,
    id: Option<String>,
    name: Option<String>,
    reason: Option<String>,
    at: &str,
) -> Result<AccountEvent, EventError> {
    let account_name = name.unwrap_or_default();
    match state {
        "SUCCEEDED" => {
            let id = id.ok_or_else(|| EventError::Field {
                field: format!("{at}.accountId"),
                problem: "missing from a SUCCEEDED creation".into(),
            })?;
            Ok(AccountEvent::Created {
                account_id: account_id(&id, &format!("{at}.accountId"))?,
                account_name,
            })
        }
        "FAILED" => Ok(AccountEvent::CreationFailed {
            account_name,
            reason: reason.unwrap_or_else(|| "no reason given".into()),
        }),
        other => Err(EventError::Field {
            field: format!("{at}.state"),
            problem: format!("expected SUCCEEDED or FAILED, got {}", quote(other)),
        }),
    }
}

fn service_details(detail: &TrailDetail) -> Result<&Value, EventError> {
    detail
        .service_event_details
        .as_ref()
        .filter(|v| v.is_object())
        .ok_or_else(|| EventError::Field {
            field: "detail.serviceEventDetails".into(),
            problem: "missing".into(),
        })
}

fn request_parameters(detail: &TrailDetail) -> Result<Value, EventError> {
    detail
        .request_parameters
        .clone()
        .filter(Value::is_object)
        .ok_or_else(|| EventError::Field {
            field: "detail.requestParameters".into(),
            problem: "missing".into(),
        })
}

fn account_id(s: &str, at: &str) -> Result<AccountId, EventError> {
    AccountId::parse(s).map_err(|problem| EventError::Field {
        field: at.into(),
        problem,
    })
}

/// Deserializes `value` as `T`, naming the exact field that is wrong.
fn field<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        EventError::Field {
            field: if path == "." {
                at.into()
            } else {
                format!("{at}.{path}")
            },
            problem: e.inner().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn id() -> AccountId {
        AccountId::parse("222222222222").unwrap()
    }

    #[test]
    fn every_sample_parses_to_its_kind() {
        let cases = [
            (
                "create-account-result-succeeded.json",
                AccountEvent::Created {
                    account_id: id(),
                    account_name: "payments-dev".into(),
                },
            ),
            (
                "create-account-result-failed.json",
                AccountEvent::CreationFailed {
                    account_name: "payments-dev".into(),
                    reason: "EMAIL_ALREADY_EXISTS".into(),
                },
            ),
            (
                "control-tower-create-managed-account.json",
                AccountEvent::Created {
                    account_id: id(),
                    account_name: "payments-dev".into(),
                },
            ),
            (
                "move-account.json",
                AccountEvent::Moved {
                    account_id: id(),
                    from: "r-ab12".into(),
                    to: "ou-ab12-cd34ef56".into(),
                },
            ),
            (
                "tag-resource.json",
                AccountEvent::TagsChanged { account_id: id() },
            ),
            (
                "untag-resource.json",
                AccountEvent::TagsChanged { account_id: id() },
            ),
            (
                "close-account.json",
                AccountEvent::Departed {
                    account_id: id(),
                    how: "CloseAccount",
                },
            ),
            (
                "remove-account-from-organization.json",
                AccountEvent::Departed {
                    account_id: id(),
                    how: "RemoveAccountFromOrganization",
                },
            ),
        ];
        for (file, want) in cases {
            assert_eq!(parse(&sample(file)).unwrap(), want, "{file}");
        }
    }

    #[test]
    fn samples_round_trip_through_the_eventbridge_type() {
        for file in [
            "create-account-result-succeeded.json",
            "create-account-result-failed.json",
            "control-tower-create-managed-account.json",
            "move-account.json",
            "tag-resource.json",
            "untag-resource.json",
            "close-account.json",
            "remove-account-from-organization.json",
        ] {
            let text = sample(file);
            let parsed: EventBridgeEvent<Value> = serde_json::from_str(&text).unwrap();
            let again: Value = serde_json::to_value(&parsed).unwrap();
            let original: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(again, original, "{file}");
        }
    }

    #[test]
    fn the_sqs_sample_wraps_the_succeeded_event() {
        let sqs: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(&sample("sqs-create-account-result.json")).unwrap();
        let body = sqs.records[0].body.as_deref().unwrap();
        assert_eq!(
            parse(body).unwrap(),
            AccountEvent::Created {
                account_id: id(),
                account_name: "payments-dev".into()
            }
        );
    }

    #[test]
    fn malformed_events_name_the_problem() {
        let ok = sample("create-account-result-succeeded.json");
        let cases: Vec<(String, &str)> = vec![
            (ok[..ok.len() / 2].to_string(), "malformed"),
            ("[]".into(), "malformed"),
            (
                ok.replace("\"222222222222\"", "\"22222222222\""),
                "createAccountStatus.accountId",
            ),
            (
                ok.replace("\"222222222222\"", "222222222222"),
                "createAccountStatus.accountId",
            ),
            (
                ok.replace("\"SUCCEEDED\"", "\"IN_PROGRESS\""),
                "createAccountStatus.state",
            ),
            (
                ok.replace("\"accountId\": \"222222222222\",", ""),
                "createAccountStatus.accountId",
            ),
            (
                ok.replace("CreateAccountResult", "CreateAccount"),
                "unsupported",
            ),
            (ok.replace("aws.organizations", "aws.evil"), "unsupported"),
            (
                sample("move-account.json")
                    .replace("\"accountId\": \"222222222222\"", "\"accountId\": [1]"),
                "requestParameters.accountId",
            ),
        ];
        for (body, needle) in cases {
            let msg = parse(&body).unwrap_err().to_string();
            assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
        }
    }

    #[test]
    fn tags_on_an_ou_are_not_an_account_change() {
        let body = sample("tag-resource.json").replace("\"222222222222\"", "\"ou-ab12-cd34ef56\"");
        assert_eq!(
            parse(&body).unwrap(),
            AccountEvent::OtherResourceTagged {
                resource_id: "ou-ab12-cd34ef56".into()
            }
        );
    }

    #[test]
    fn the_backfill_messages_parse_back_to_their_work() {
        assert_eq!(
            parse(&account_message(&id())).unwrap(),
            AccountEvent::Requested { account_id: id() }
        );
        let cluster = ClusterRef {
            account_id: id(),
            region: "eu-west-1".into(),
            name: "payments-prod".into(),
        };
        assert_eq!(
            parse_cluster(&cluster_message(&cluster)).unwrap(),
            ClusterEvent::Created { cluster }
        );
        let bad = |body: &str| parse_cluster(body).unwrap_err().to_string();
        let envelope = |detail: &str| {
            format!(
                r#"{{"source": "autofed.backfill", "detail-type": "Backfill Cluster", "detail": {detail}}}"#
            )
        };
        assert_eq!(
            bad(&envelope(
                r#"{"accountId": "222222222222", "region": "eu-west-1", "name": "-x"}"#
            )),
            "event field `detail.name`: not an EKS cluster name (1-100 of letters, digits, `-`, `_`, starting with a letter or digit): \"-x\""
        );
        assert_eq!(
            bad(&envelope(
                r#"{"accountId": "2222", "region": "eu-west-1", "name": "x"}"#
            )),
            "event field `detail.accountId`: expected a 12-digit account id, got \"2222\""
        );
        assert!(
            bad(&envelope(
                r#"{"accountId": "222222222222", "region": "eu-west-1", "name": "x", "extra": 1}"#
            ))
            .starts_with("event field `detail.extra`: unknown field `extra`"),
        );
    }
}
