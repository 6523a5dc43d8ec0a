//! The cluster onboarder end to end: EKS events through the real handler, the real EKS SDK
//! client talking HTTP to the EKS fake (through the recording proxy), the Kubernetes client
//! talking HTTPS to the API server fake with a presigned-STS token, and the resulting state
//! read back from the fakes.

use std::collections::BTreeMap;

use autofed::{
    context::Needs,
    events::ClusterRef,
    ids::AccountId,
    onboard::{self, Outcome},
    report::{Mode, Report, Status},
};
use autofed_tests::{
    bed::{Bed, SSO_ROLE},
    eks::Eks,
    fixtures::{self, cluster_event},
};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const NS_ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";

fn creator(id: &str) -> String {
    format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole")
}

async fn run(bed: &Bed, config: &str, id: &str, name: &str, mode: Mode) -> Report {
    let ctx = bed.context(config);
    let cluster = ClusterRef {
        account_id: AccountId::parse(id).unwrap(),
        region: REGION.into(),
        name: name.into(),
    };
    match autofed::cluster::onboard::onboard(&ctx, &cluster, mode)
        .await
        .unwrap()
    {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    }
}

/// Delivers the next batch to the cluster onboarder once a message is visible (a re-queued
/// one comes back after its delay); `None` if none comes within 10 s.
async fn deliver_when_visible(
    bed: &Bed,
    ctx: &autofed::Context,
) -> Option<aws_lambda_events::event::sqs::SqsBatchResponse> {
    bed.work
        .deliver_when_visible(|e| autofed::batch::handle_clusters(ctx, e, None))
        .await
}

/// The reasons of the messages in the dead-letter queue (taken from it).
async fn dead_letters(bed: &Bed) -> Vec<String> {
    bed.dlq
        .take_dead_letters()
        .await
        .into_iter()
        .map(|(_, reason)| reason)
        .collect()
}

/// The AWS writes autofed made since the last clear, queue housekeeping aside.
fn aws_writes(bed: &Bed) -> Vec<String> {
    bed.writes()
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "SendMessage" | "ChangeMessageVisibility"))
        .collect()
}

/// The writes autofed made to EKS and to the API server since the last clear.
fn writes(bed: &Bed, eks: &Eks) -> Vec<String> {
    let mut out = aws_writes(bed);
    out.extend(
        eks.kube_requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET ")),
    );
    out
}

/// principal -> (policy -> scope), groups, for every entry.
fn entries(
    eks: &Eks,
    id: &str,
    name: &str,
) -> BTreeMap<String, (BTreeMap<String, Value>, Vec<String>)> {
    eks.cluster(id, REGION, name)
        .entries
        .into_iter()
        .map(|(p, e)| {
            (
                p,
                (
                    e.policies.into_iter().map(|(k, v)| (k, v.0)).collect(),
                    e.groups,
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_creating_cluster_is_requeued_until_active_then_onboarded() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(true).await;
    let eks = bed.eks().await;
    eks.add_cluster(&id, REGION, "payments-prod", "API", 3, &creator(&id));
    // The sandbox gives up after 3 deliveries; a cluster takes longer.
    let ctx =
        bed.context(&bed.config_text(|c| c.replace("max_deliveries = 3", "max_deliveries = 6")));
    ctx.warm(Needs::CLUSTER_ONBOARDER);

    bed.work
        .send(&cluster_event(
            "eks-create-cluster.json",
            &id,
            "payments-prod",
        ))
        .await;
    let mut deliveries = Vec::new();
    while let Some(resp) = deliver_when_visible(&bed, &ctx).await {
        deliveries.push(resp.batch_item_failures.len());
        if resp.batch_item_failures.is_empty() {
            break;
        }
        assert!(deliveries.len() < 6, "never became ready: {deliveries:?}");
    }
    assert_eq!(
        deliveries,
        [1, 1, 1, 0],
        "three CREATING polls re-queued, then onboarded"
    );
    assert_eq!(
        eks.operations()
            .iter()
            .filter(|o| *o == "DescribeCluster")
            .count(),
        4
    );
    assert_eq!(bed.dlq.depth().await, 0);
    let got = entries(&eks, &id, "payments-prod");
    assert!(got.contains_key(&format!("arn:aws:iam::{id}:role/federated/Administrator")));
    eks.check_contract();
    // The cluster flow never called Identity Center or Secrets Manager, so nothing built their
    // clients (which is why the cluster onboarder's `Needs` leave them out of its init); the
    // re-queues built SQS's.
    assert!(!ctx.sso_admin.is_built());
    assert!(!ctx.identity_store.is_built());
    assert!(!ctx.secrets.is_built());
    assert!(ctx.sqs.is_built());
}

#[tokio::test]
async fn an_api_mode_cluster_gets_exactly_the_configured_entries_and_policies() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(true).await;
    let eks = bed.eks().await;
    eks.add_cluster(
        &id,
        REGION,
        "payments-prod",
        "API_AND_CONFIG_MAP",
        0,
        &creator(&id),
    );
    let node = format!("arn:aws:iam::{id}:role/eks-node-role");
    eks.add_foreign_entry(&id, REGION, "payments-prod", &node, &["ops"]);
    let config = bed.config_text(|c| c);
    bed.proxy.clear_calls();

    let report = run(&bed, &config, &id, "payments-prod", Mode::Apply).await;
    assert_eq!(report.failed(), 0, "{report:#?}");
    let cluster_scope = json!({"type": "cluster"});
    let want: BTreeMap<String, (BTreeMap<String, Value>, Vec<String>)> = [
        (
            creator(&id),
            (
                [(ADMIN_POLICY.to_string(), cluster_scope.clone())].into(),
                vec![],
            ),
        ),
        (node.clone(), (BTreeMap::new(), vec!["ops".to_string()])),
        (
            format!("arn:aws:iam::{id}:role/aws-reserved/sso.amazonaws.com/eu-west-1/{SSO_ROLE}"),
            (
                [(ADMIN_POLICY.to_string(), cluster_scope.clone())].into(),
                vec![],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/federated/Administrator"),
            (
                [(ADMIN_POLICY.to_string(), cluster_scope.clone())].into(),
                vec![],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/federated/PowerUsers"),
            (
                [(
                    NS_ADMIN_POLICY.to_string(),
                    json!({"type": "namespace", "namespaces": ["production"]}),
                )]
                .into(),
                vec!["payments-deployers".to_string()],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/federated/readonly/ReadOnly"),
            (
                [(VIEW_POLICY.to_string(), cluster_scope.clone())].into(),
                vec![],
            ),
        ),
    ]
    .into();
    assert_eq!(entries(&eks, &id, "payments-prod"), want);
    let cluster = eks.cluster(&id, REGION, "payments-prod");
    for (p, e) in &cluster.entries {
        let ours = e.tags.get("autofed:managed-by").map(String::as_str) == Some("autofed");
        assert_eq!(ours, p != &creator(&id) && p != &node, "{p}");
    }
    // Seed 000's Role and its binding, and their namespace.
    let rb = &cluster.objects["/apis/rbac.authorization.k8s.io/v1/namespaces/production/rolebindings/production-admin"];
    assert_eq!(rb["roleRef"]["name"], "production-admin");
    assert_eq!(rb["subjects"][0]["name"], "payments-deployers");
    assert!(
        cluster
            .objects
            .contains_key("/api/v1/namespaces/production")
    );
    assert!(
        !cluster.objects.contains_key(AWS_AUTH),
        "API modes use access entries"
    );
    let first_writes = writes(&bed, &eks);
    assert_eq!(
        first_writes
            .iter()
            .filter(|w| *w == "CreateAccessEntry")
            .count(),
        4
    );
    assert_eq!(
        first_writes
            .iter()
            .filter(|w| *w == "AssociateAccessPolicy")
            .count(),
        4
    );

    // A rerun with nothing changed writes nothing.
    bed.proxy.clear_calls();
    eks.clear_calls();
    let again = run(&bed, &config, &id, "payments-prod", Mode::Apply).await;
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    assert_eq!(writes(&bed, &eks), Vec::<String>::new());
    assert_eq!(again.calls.writes, 0);

    // Scope drift on autofed's own entry is put back; the node role's entry stays untouched.
    let power = format!("arn:aws:iam::{id}:role/federated/PowerUsers");
    eks.edit_cluster(&id, REGION, "payments-prod", |c| {
        let e = c.entries.get_mut(&power).unwrap();
        e.policies.get_mut(NS_ADMIN_POLICY).unwrap().0 = json!({"type": "cluster"});
    });
    bed.proxy.clear_calls();
    eks.clear_calls();
    let drift = run(&bed, &config, &id, "payments-prod", Mode::Apply).await;
    let summaries: Vec<&str> = drift.actions.iter().map(|a| a.summary.as_str()).collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert!(summaries[0].contains("scope drift"), "{summaries:?}");
    assert_eq!(writes(&bed, &eks), ["AssociateAccessPolicy"]);
    assert_eq!(entries(&eks, &id, "payments-prod"), want);
    bed.assert_actions_listed("cluster-onboarder");
    eks.check_contract();
}

/// An onboarded account (with Identity Center's role) holding `payments-legacy`, a
/// `CONFIG_MAP` cluster whose aws-auth is [`fixtures::foreign_aws_auth`]: the account id, the fakes, and
/// that aws-auth as it was put there.
async fn legacy_cluster(bed: &mut Bed) -> (String, Eks, Value) {
    let id = bed.onboarded_account(true).await;
    let eks = bed.eks().await;
    eks.add_cluster(
        &id,
        REGION,
        "payments-legacy",
        "CONFIG_MAP",
        0,
        &creator(&id),
    );
    let before = fixtures::foreign_aws_auth(&id);
    eks.edit_cluster(&id, REGION, "payments-legacy", |c| {
        c.objects.insert(AWS_AUTH.into(), before.clone());
    });
    (id, eks, before)
}

#[tokio::test]
async fn a_config_map_cluster_keeps_every_foreign_row_and_key_byte_for_byte() {
    let mut bed = Bed::new().await;
    let (id, eks, before) = legacy_cluster(&mut bed).await;
    let config = bed.config_text(|c| c);

    let report = run(&bed, &config, &id, "payments-legacy", Mode::Apply).await;
    assert_eq!(report.failed(), 0, "{report:#?}");
    let cluster = eks.cluster(&id, REGION, "payments-legacy");
    let after = &cluster.objects[AWS_AUTH];
    for key in ["mapUsers", "mapAccounts", "x-unknown-key"] {
        assert_eq!(after["data"][key], before["data"][key], "{key}");
    }
    assert_eq!(
        after["metadata"]["annotations"]["terraform.io/owner"],
        "platform"
    );
    let text = after["data"]["mapRoles"].as_str().unwrap();
    let foreign = fixtures::foreign_map_roles(&id);
    assert!(text.starts_with(&foreign), "foreign rows changed:\n{text}");
    let rows: Vec<Value> = serde_yaml_ng::from_str(text).unwrap();
    let ours: BTreeMap<String, (String, Vec<String>)> = rows[2..]
        .iter()
        .map(|r| {
            (
                r["rolearn"].as_str().unwrap().to_string(),
                (
                    r["username"].as_str().unwrap().to_string(),
                    serde_json::from_value(r["groups"].clone()).unwrap(),
                ),
            )
        })
        .collect();
    let want: BTreeMap<String, (String, Vec<String>)> = [
        (
            format!("arn:aws:iam::{id}:role/Administrator"),
            (
                "autofed:Administrator:{{SessionName}}".into(),
                vec!["system:masters".into()],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/{SSO_ROLE}"),
            (
                format!("autofed:{SSO_ROLE}:{{{{SessionName}}}}"),
                vec!["system:masters".into()],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/PowerUsers"),
            (
                "autofed:PowerUsers:{{SessionName}}".into(),
                vec![
                    "autofed:admin:production".into(),
                    "payments-deployers".into(),
                ],
            ),
        ),
        (
            format!("arn:aws:iam::{id}:role/ReadOnly"),
            (
                "autofed:ReadOnly:{{SessionName}}".into(),
                vec!["autofed:view".into()],
            ),
        ),
    ]
    .into();
    assert_eq!(ours, want, "path-less ARNs, one row per principal");
    let owned: Vec<String> = serde_json::from_str(
        after["metadata"]["annotations"]["autofed.dev/owned-map-roles"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(owned, want.keys().cloned().collect::<Vec<_>>());
    let crb =
        &cluster.objects["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/autofed:view"];
    assert_eq!(crb["roleRef"]["name"], "view");
    let rb = &cluster.objects["/apis/rbac.authorization.k8s.io/v1/namespaces/production/rolebindings/autofed:admin"];
    assert_eq!(rb["subjects"][0]["name"], "autofed:admin:production");
    assert_eq!(
        eks.kube_requests()
            .iter()
            .filter(|r| r.starts_with("PUT /api/v1/namespaces/kube-system/configmaps/aws-auth"))
            .count(),
        1,
        "one write for every row"
    );
    assert_eq!(
        eks.kube_requests()
            .iter()
            .filter(|r| r.starts_with("GET /api/v1/namespaces/kube-system/configmaps/aws-auth"))
            .count(),
        1,
        "the write goes over the plan's read, guarded by its resourceVersion"
    );

    // Rerun: zero writes.
    bed.proxy.clear_calls();
    eks.clear_calls();
    let again = run(&bed, &config, &id, "payments-legacy", Mode::Apply).await;
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    assert_eq!(writes(&bed, &eks), Vec::<String>::new());

    // A role autofed maps in aws-auth that no rule grants any more loses only its own row.
    let fewer = config.replace(
        "role = \"ReadOnly\"\naccess = \"view\"",
        "role = \"ReadOnly\"\naccess = \"view\"\nnamespaces = [\"audit\"]",
    );
    let changed = run(&bed, &fewer, &id, "payments-legacy", Mode::Apply).await;
    assert_eq!(changed.failed(), 0, "{changed:#?}");
    let text = eks.cluster(&id, REGION, "payments-legacy").objects[AWS_AUTH]["data"]["mapRoles"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with(&foreign));
    assert!(text.contains("autofed:view:audit") && !text.contains("- autofed:view\n"));
}

#[tokio::test]
async fn a_concurrent_aws_auth_writer_is_retried_and_both_changes_survive() {
    let mut bed = Bed::new().await;
    let (id, eks, _) = legacy_cluster(&mut bed).await;
    let cluster_id = eks.cluster(&id, REGION, "payments-legacy").id;
    let nodegroup = format!(
        "- rolearn: arn:aws:iam::{id}:role/nodegroup-2\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups:\n  - system:nodes\n"
    );
    let added = nodegroup.clone();
    eks.kube.interleave(
        &cluster_id,
        AWS_AUTH,
        Box::new(move |cm: &mut Value| {
            let text = format!("{}{added}", cm["data"]["mapRoles"].as_str().unwrap());
            cm["data"]["mapRoles"] = Value::from(text);
        }),
    );
    let config = bed.config_text(|c| c);
    let report = run(&bed, &config, &id, "payments-legacy", Mode::Apply).await;
    assert_eq!(report.failed(), 0, "{report:#?}");
    let puts: Vec<String> = eks
        .kube_requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT /api/v1/namespaces/kube-system/configmaps/aws-auth"))
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts[0].ends_with(" 409") && puts[1].ends_with(" 200"),
        "{puts:?}"
    );
    let gets = eks
        .kube_requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces/kube-system/configmaps/aws-auth"))
        .count();
    assert_eq!(gets, 2, "the plan's read, and one more after the 409");
    let text = eks.cluster(&id, REGION, "payments-legacy").objects[AWS_AUTH]["data"]["mapRoles"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains(&nodegroup),
        "the other writer's row was lost:\n{text}"
    );
    assert!(text.contains(&format!("rolearn: arn:aws:iam::{id}:role/Administrator")));
    assert!(text.starts_with(&fixtures::foreign_map_roles(&id)));
}

/// Twenty writers at once on one aws-auth: autofed and 19 others, each of which reads, adds its
/// own row, and writes with the `resourceVersion` it read, retrying on `409` as kubectl does.
/// No row and no key may be lost, and autofed converges (a delivery whose write lost every
/// race is retried, as the queue would).
#[tokio::test]
async fn twenty_concurrent_aws_auth_writers_lose_no_row_and_no_key() {
    let mut bed = Bed::new().await;
    let (id, eks, before) = legacy_cluster(&mut bed).await;
    let name = "payments-legacy";
    let endpoint = format!(
        "{}/clusters/{}",
        eks.kube.url,
        eks.cluster(&id, REGION, name).id
    );
    // The others act as the cluster's creator, through the same STS endpoint as autofed.
    let session = fixtures::member_config(&autofed_tests::sdk_config(&bed.proxy.url), &id).await;
    let writers = (0..19).map(|n| {
        let (session, endpoint, ca, id) =
            (session.clone(), endpoint.clone(), eks.kube.ca_b64.clone(), id.clone());
        async move {
            let token = autofed::kube::token::token(&session, REGION, name)
                .await
                .unwrap();
            let kube = autofed::kube::Kube::new(name, &endpoint, &ca, token, &Default::default()).unwrap();
            let row = format!(
                "- rolearn: arn:aws:iam::{id}:role/writer-{n}\n  username: writer-{n}\n  groups:\n  - writers\n"
            );
            for attempt in 1..=500u64 {
                let mut cm = kube.get(AWS_AUTH).await.unwrap().unwrap();
                let text = format!("{}{row}", cm["data"]["mapRoles"].as_str().unwrap());
                cm["data"]["mapRoles"] = Value::from(text);
                match kube.replace(AWS_AUTH, &cm).await {
                    Ok(_) => return row,
                    Err(e) if e.is_conflict() => {
                        tokio::time::sleep(std::time::Duration::from_millis((attempt * 7 + n) % 23))
                            .await;
                    }
                    Err(e) => panic!("writer {n}: {e}"),
                }
            }
            panic!("writer {n} never got its write through");
        }
    });
    let ctx = bed.context(&bed.config_text(|c| c));
    let cluster = ClusterRef {
        account_id: AccountId::parse(&id).unwrap(),
        region: REGION.into(),
        name: name.into(),
    };
    let autofed = async {
        for delivery in 1..=10 {
            match autofed::cluster::onboard::onboard(&ctx, &cluster, Mode::Apply).await {
                Ok(Outcome::Reconciled(r)) if r.failed() == 0 => return delivery,
                Ok(Outcome::Reconciled(r)) => assert!(
                    r.actions.iter().all(|a| matches!(
                        a.status,
                        Status::Applied
                            | Status::Failed {
                                retryable: true,
                                ..
                            }
                    )),
                    "{r:#?}"
                ),
                other => panic!("{other:?}"),
            }
        }
        panic!("autofed never got its rows through");
    };
    let (rows, deliveries) = tokio::join!(futures::future::join_all(writers), autofed);
    let after = &eks.cluster(&id, REGION, name).objects[AWS_AUTH];
    let text = after["data"]["mapRoles"].as_str().unwrap();
    assert!(
        text.starts_with(&fixtures::foreign_map_roles(&id)),
        "{text}"
    );
    for row in &rows {
        assert!(text.contains(row.as_str()), "lost {row:?}:\n{text}");
    }
    for role in ["Administrator", "PowerUsers", "ReadOnly", SSO_ROLE] {
        assert_eq!(
            text.matches(&format!("rolearn: arn:aws:iam::{id}:role/{role}\n"))
                .count(),
            1,
            "{role}:\n{text}"
        );
    }
    for key in ["mapUsers", "mapAccounts", "x-unknown-key"] {
        assert_eq!(after["data"][key], before["data"][key], "{key}");
    }
    assert_eq!(
        after["metadata"]["annotations"]["terraform.io/owner"],
        "platform"
    );
    let conflicts = eks
        .kube_requests()
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.ends_with(" 409"))
        .count();
    assert!(
        conflicts > 0,
        "the writers never collided: the test proves nothing"
    );
    println!("{conflicts} conflicts; autofed converged on delivery {deliveries}");
}

#[tokio::test]
async fn an_identity_center_role_is_waited_for_then_found_under_its_region_path() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(false).await;
    let eks = bed.eks().await;
    eks.add_cluster(&id, REGION, "payments-prod", "API", 0, &creator(&id));
    let ctx = bed.context(&bed.config_text(|c| c));

    bed.work
        .send(&cluster_event(
            "eks-create-cluster.json",
            &id,
            "payments-prod",
        ))
        .await;
    let first = deliver_when_visible(&bed, &ctx).await.unwrap();
    assert_eq!(
        first.batch_item_failures.len(),
        1,
        "re-queued while the role is missing"
    );
    let got = entries(&eks, &id, "payments-prod");
    assert_eq!(got.len(), 4, "the other grants are made meanwhile: {got:?}");

    bed.add_sso_role(&id).await;
    bed.proxy.clear_calls();
    let second = deliver_when_visible(&bed, &ctx).await.unwrap();
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(
        aws_writes(&bed),
        ["CreateAccessEntry", "AssociateAccessPolicy"],
        "only the new principal's entry"
    );
    assert!(entries(&eks, &id, "payments-prod").contains_key(&format!(
        "arn:aws:iam::{id}:role/aws-reserved/sso.amazonaws.com/eu-west-1/{SSO_ROLE}"
    )));
    assert_eq!(bed.dlq.depth().await, 0);
}

#[tokio::test]
async fn a_config_map_cluster_can_be_moved_to_access_entries() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(true).await;
    let eks = bed.eks().await;
    eks.add_cluster(
        &id,
        REGION,
        "payments-legacy",
        "CONFIG_MAP",
        0,
        &creator(&id),
    );
    let config =
        bed.config_text(|c| c.replace("[clusters]\n", "[clusters]\nupgrade_config_map = true\n"));
    let first = run(&bed, &config, &id, "payments-legacy", Mode::Apply).await;
    assert_eq!(first.actions[0].status, Status::Applied);
    assert!(matches!(
        first.actions[1].status,
        Status::Failed {
            not_ready: true,
            ..
        }
    ));
    assert_eq!(
        onboard::Outcome::Reconciled(Box::new(first))
            .error()
            .map(|e| e.is_retryable()),
        Some(true)
    );
    // The update completes (UPDATING for one describe, as the fake models it).
    let waiting = autofed::cluster::onboard::onboard(
        &bed.context(&config),
        &ClusterRef {
            account_id: AccountId::parse(&id).unwrap(),
            region: REGION.into(),
            name: "payments-legacy".into(),
        },
        Mode::Apply,
    )
    .await;
    assert!(matches!(waiting, Err(autofed::Error::NotReady { .. })));
    let second = run(&bed, &config, &id, "payments-legacy", Mode::Apply).await;
    assert_eq!(second.failed(), 0, "{second:#?}");
    assert_eq!(
        eks.cluster(&id, REGION, "payments-legacy").mode,
        "API_AND_CONFIG_MAP"
    );
    // No creator entry: EKS bootstraps one only when the cluster is created in an API mode.
    assert_eq!(entries(&eks, &id, "payments-legacy").len(), 4);
    eks.check_contract();
}

#[tokio::test]
async fn the_api_server_accepts_only_a_token_signed_for_its_own_cluster() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(false).await;
    let eks = bed.eks().await;
    eks.add_cluster(&id, REGION, "payments-prod", "API", 0, &creator(&id));
    eks.add_cluster(&id, REGION, "payments-dev", "API", 0, &creator(&id));
    let member = bed.member(&id).await;
    let session = member.to_builder().endpoint_url(&bed.proxy.url).build();
    let token = autofed::kube::token::token(&session, REGION, "payments-dev")
        .await
        .unwrap();
    let ca = eks.kube.ca_b64.clone();
    let get = |cluster: &str| {
        let c = eks.cluster(&id, REGION, cluster);
        let kube = autofed::kube::Kube::new(
            cluster,
            &format!("{}/clusters/{}", eks.kube.url, c.id),
            &ca,
            token.clone(),
            &Default::default(),
        )
        .unwrap();
        async move { kube.get("/api/v1/namespaces/default").await }
    };
    assert!(get("payments-dev").await.unwrap().is_some());
    let refused = get("payments-prod").await.unwrap_err();
    assert_eq!(refused.code, 401, "{refused}");
    let forged = autofed::kube::Kube::new(
        "payments-dev",
        &format!(
            "{}/clusters/{}",
            eks.kube.url,
            eks.cluster(&id, REGION, "payments-dev").id
        ),
        &ca,
        token.replace("k8s-aws-v1.", "k8s-aws-v1.x"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        forged
            .get("/api/v1/namespaces/default")
            .await
            .unwrap_err()
            .code,
        401
    );
}

#[tokio::test]
async fn an_execution_role_the_cluster_does_not_admit_is_dead_lettered_with_the_fix() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(true).await;
    let eks = bed.eks().await;
    let someone = format!("arn:aws:iam::{id}:role/someone-else");
    eks.add_cluster(&id, REGION, "payments-legacy", "CONFIG_MAP", 0, &someone);
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.work
        .send(&cluster_event(
            "eks-create-cluster.json",
            &id,
            "payments-legacy",
        ))
        .await;
    let resp = bed
        .work
        .deliver(|e| autofed::batch::handle_clusters(&ctx, e, None))
        .await
        .unwrap();
    assert!(
        resp.batch_item_failures.is_empty(),
        "dead-lettered, not retried"
    );
    let dead = dead_letters(&bed).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].clone();
    assert!(
        reason.contains("403") && reason.contains("system:masters"),
        "{reason}"
    );
    assert!(
        !eks.cluster(&id, REGION, "payments-legacy")
            .objects
            .contains_key(AWS_AUTH),
        "nothing written"
    );
}

#[tokio::test]
async fn deleted_clusters_are_reported_and_bad_events_dead_lettered() {
    let mut bed = Bed::new().await;
    let id = bed.onboarded_account(false).await;
    let eks = bed.eks().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy.clear_calls();
    for body in [
        cluster_event("eks-delete-cluster.json", &id, "payments-prod"),
        cluster_event("eks-create-cluster.json", &id, "bad name!"),
        cluster_event("eks-create-cluster.json", "12345", "payments-prod"),
        "{not json".to_string(),
    ] {
        bed.work.send(&body).await;
        let resp = bed
            .work
            .deliver(|e| autofed::batch::handle_clusters(&ctx, e, None))
            .await
            .unwrap();
        assert!(resp.batch_item_failures.is_empty());
    }
    let reasons = dead_letters(&bed).await;
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for needle in [
        "detail.requestParameters.name",
        "detail.recipientAccountId",
        "malformed event",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "{needle}: {reasons:?}"
        );
    }
    assert!(eks.operations().is_empty());
    assert_eq!(aws_writes(&bed), Vec::<String>::new());
}

#[tokio::test]
async fn a_cluster_in_the_management_account_is_skipped_after_one_read() {
    let bed = Bed::new().await;
    let ctx = bed.context(&bed.config_text(|c| c));
    bed.proxy.clear_calls();
    let cluster = ClusterRef {
        account_id: AccountId::parse(autofed_tests::MANAGEMENT_ACCOUNT).unwrap(),
        region: REGION.into(),
        name: "platform".into(),
    };
    let outcome = autofed::cluster::onboard::onboard(&ctx, &cluster, Mode::Apply)
        .await
        .unwrap();
    match outcome {
        Outcome::Skipped { reason, .. } => {
            assert!(reason.contains("management account"), "{reason}")
        }
        other => panic!("not skipped: {other:?}"),
    }
    // The account's ARN names the management account: nothing else is read or assumed.
    assert_eq!(bed.proxy.calls(), ["DescribeAccount"]);
}
