//! The sandbox demo: a local organization in moto, a fake Okta org, the template's EventBridge
//! rules in moto, and the three function binaries, each under the Lambda Runtime API and fed
//! from a real SQS queue. Every event goes event -> rule -> queue -> function.
//!
//! - Runs 1-3, an account: a `CreateAccountResult` does everything but the assignment of a
//!   group Okta has not pushed yet (handed back); Okta's push is simulated and the redelivery
//!   assigns it; the event again plans and writes nothing.
//! - Runs 4-5, two clusters in it (API mode while `CREATING`, and `CONFIG_MAP` with foreign
//!   aws-auth rows) through the central bus; the events again write nothing.
//! - Runs 6-8, the backfill: a plan of the organization (three accounts new, ours drifted, the
//!   clusters in sync, three account/region pairs without the forwarding StackSet's instance,
//!   the drift metric), an apply that enqueues and fills those pairs, and a plan that finds
//!   nothing.
//! - Runs 9-12, `stack` deploy mode for another new account: its provider and roles made as
//!   one stack; the event again makes no change set; a role removed from the configuration
//!   planned (a change set removing exactly it), then applied.
//!
//! Exits non-zero if a run is not as it should be.

use std::{path::Path, process::ExitCode, time::Duration};

use autofed_tests::{
    OKTA_TOKEN,
    eks::Eks,
    esm::Queue,
    fixtures::{self, cluster_event, event},
    function::{FunctionProcess, binary, target_dir},
    moto::Moto,
    root,
    routing::Routing,
    runtime_api::RuntimeApi,
    sdk_config,
};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use serde_json::{Value, json};

const NEW_ACCOUNT: &str = "payments-staging";
const REGION: &str = "eu-west-1";
/// A cluster in an API authentication mode: access entries.
const API_CLUSTER: &str = "payments-prod";
/// A cluster in CONFIG_MAP mode: aws-auth rows.
const LEGACY_CLUSTER: &str = "payments-legacy";
const AWS_AUTH: &str = "/api/v1/namespaces/kube-system/configmaps/aws-auth";
/// The forwarding StackSet, as the template names it in a stack called `autofed`.
const FORWARDING: &str = "autofed-cluster-event-forwarding";
/// The regions it covers.
const FORWARDING_REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
/// The account onboarded in `stack` deploy mode.
const STACK_ACCOUNT: &str = "payments-platform";
const STACK: &str = "autofed-federation";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    println!(
        "autofed sandbox: moto (with the template's EventBridge rules), a fake Okta org, EKS and Kubernetes fakes on 127.0.0.1; the account-onboarder, cluster-onboarder and backfill binaries under the Lambda Runtime API\n"
    );
    let moto = Moto::start();
    let aws = sdk_config(&moto.url);
    let mut sandbox = fixtures::organization(&aws).await;
    let new_id = sandbox
        .add_account(&aws, NEW_ACCOUNT, "Dev", &[("team", "payments")])
        .await;

    let out_dir = target_dir().join("sandbox");
    std::fs::create_dir_all(&out_dir).expect("create target/sandbox");
    let template =
        std::fs::read_to_string(root().join("tests/sandbox/autofed.toml")).expect("sandbox config");
    let okta = fixtures::okta_org(&aws, 200, OKTA_TOKEN).await;
    let config = out_dir.join("autofed.toml");
    let text = fixtures::okta_config(
        &sandbox.render(&template),
        &okta.fake.url,
        &okta.ic_app,
        "group-mapping",
        "",
    );
    std::fs::write(&config, text).expect("write config");

    print_organization(&aws, &sandbox).await;

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let env = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AUTOFED_CONFIG", config.display().to_string()),
        ];
        env.extend(extra.iter().cloned());
        env
    };
    let accounts = Lambda::start(
        &sqs,
        "account-onboarder",
        "autofed-account-events",
        &env(&[]),
    )
    .await;
    // EKS and the clusters' API servers: tokens are presigned for the STS endpoint the
    // function uses (moto, from AWS_ENDPOINT_URL); EKS is reached by its own endpoint variable.
    let eks = Eks::start(&moto.url, &moto.url).await;
    let clusters = Lambda::start(
        &sqs,
        "cluster-onboarder",
        "autofed-cluster-events",
        &env(&[("AWS_ENDPOINT_URL_EKS", eks.url.clone())]),
    )
    .await;
    // The template's rules, with their exact patterns, in moto's EventBridge.
    let routing = Routing::deploy(
        &aws,
        &[
            ("AccountEventsQueue", accounts.work.arn.clone()),
            ("ClusterEventsQueue", clusters.work.arn.clone()),
        ]
        .into(),
    )
    .await;
    println!(
        "\n== EventBridge (moto): the template's {} rules with their exact patterns, on the default bus and the central bus, targeting the two queues",
        routing.rules.len()
    );

    let mut ok = onboard_account(
        &aws, &sandbox, &okta, &routing, &accounts, &new_id, &out_dir,
    )
    .await;
    ok &= accounts.dlq.depth().await == 0;
    ok &= onboard_clusters(&aws, &eks, &routing, &clusters, &new_id, &out_dir).await;
    ok &= clusters.dlq.depth().await == 0;

    // The forwarding StackSet, deployed everywhere but three account/region pairs.
    let dev = sandbox.accounts["payments-dev"].clone();
    let without = [
        (new_id.clone(), "us-east-1"),
        (dev.clone(), "eu-west-1"),
        (dev.clone(), "us-east-1"),
    ];
    fixtures::forwarding_stack_set(&aws, &sandbox, FORWARDING, &FORWARDING_REGIONS, &without).await;
    println!(
        "\n== CloudFormation (moto): StackSet {FORWARDING} (service-managed) with an instance in every account in {}, except {}",
        FORWARDING_REGIONS.join(" and "),
        without
            .iter()
            .map(|(a, r)| format!("{a}/{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // The backfill: its own Runtime API, sending to the onboarders' queues.
    let api = RuntimeApi::start("autofed-backfill").await;
    let backfill = FunctionProcess::start(
        &binary("backfill"),
        "autofed-backfill",
        &api.address,
        &env(&[
            ("AWS_ENDPOINT_URL_EKS", eks.url.clone()),
            ("AUTOFED_ACCOUNT_QUEUE_URL", accounts.work.url.clone()),
            ("AUTOFED_CLUSTER_QUEUE_URL", clusters.work.url.clone()),
            ("AUTOFED_FORWARDING_STACK_SET", FORWARDING.to_string()),
            ("AUTOFED_FORWARDING_TARGETS", sandbox.root.clone()),
            ("AUTOFED_FORWARDING_REGIONS", FORWARDING_REGIONS.join(",")),
        ]),
    );
    ok &= run_backfill(&aws, &api, &backfill, &accounts, &new_id, &out_dir).await;
    ok &= accounts.dlq.depth().await == 0;
    ok &= onboard_in_stack_mode(&aws, &mut sandbox, &sqs, &moto.url, &template, &out_dir).await;

    println!(
        "\nfunction logs: {} + {} JSON lines; moto, the fakes, the Runtime APIs and the functions stop with this process.",
        accounts.process.log_lines().len(),
        clusters.process.log_lines().len()
    );
    drop(backfill);
    if ok {
        println!("sandbox: OK");
        ExitCode::SUCCESS
    } else {
        println!("sandbox: NOT OK (see above)");
        ExitCode::FAILURE
    }
}

/// A function binary under its own Runtime API emulator, fed from its queue as Lambda's SQS
/// event source mapping would, with its dead-letter queue.
struct Lambda {
    api: RuntimeApi,
    process: FunctionProcess,
    work: Queue,
    dlq: Queue,
}

impl Lambda {
    async fn start(
        sqs: &aws_sdk_sqs::Client,
        binary_name: &str,
        queue: &str,
        env: &[(&str, String)],
    ) -> Lambda {
        let work = Queue::create(sqs, queue).await;
        let dlq = Queue::create(sqs, &format!("{queue}-dlq")).await;
        let name = format!("autofed-{binary_name}");
        let api = RuntimeApi::start(&name).await;
        let mut env = env.to_vec();
        env.push(("AUTOFED_QUEUE_URL", work.url.clone()));
        env.push(("AUTOFED_DLQ_URL", dlq.url.clone()));
        let process = FunctionProcess::start(&binary(binary_name), &name, &api.address, &env);
        Lambda {
            api,
            process,
            work,
            dlq,
        }
    }

    /// Delivers the next batch once a message is visible (a handed-back one comes back after
    /// its delay); `None` if none comes within 10 s. Exits if the function fails.
    async fn deliver(&self) -> Option<SqsBatchResponse> {
        let api = &self.api;
        self.work
            .deliver_when_visible(|e| async move {
                let payload = serde_json::to_value(e).expect("event JSON");
                let answer = api
                    .invoke(payload, Duration::from_secs(120))
                    .await
                    .unwrap_or_else(|e| {
                        eprintln!("the function failed: {e}");
                        std::process::exit(1)
                    });
                serde_json::from_value(answer).expect("an SqsBatchResponse")
            })
            .await
    }
}

/// Runs 1-3: the account's onboarding, Okta's push, and a rerun that must change nothing.
async fn onboard_account(
    aws: &aws_config::SdkConfig,
    sandbox: &fixtures::Sandbox,
    okta: &fixtures::OktaOrg,
    routing: &Routing,
    lambda: &Lambda,
    new_id: &str,
    out_dir: &Path,
) -> bool {
    let body = event("create-account-result-succeeded.json", new_id);
    let mut ok = true;
    for run in 1..=3 {
        match run {
            1 => println!(
                "\n== Run 1: CreateAccountResult (SUCCEEDED) for {NEW_ACCOUNT} ({new_id}) -> default bus -> rule {} -> queue -> account-onboarder",
                routing
                    .rule_names(None, "AccountEventsQueue")
                    .iter()
                    .find(|r| r.starts_with("CreateAccountResult"))
                    .copied()
                    .unwrap_or("?")
            ),
            2 => {
                let pushed = fixtures::push_okta_groups(aws, sandbox, okta).await;
                println!(
                    "\n== Okta pushes the group to Identity Center (SCIM, simulated): {} group(s) created in the identity store",
                    pushed.len()
                );
                println!("== Run 2: the handed-back message, delivered again after its delay");
            }
            _ => println!("\n== Run 3: the same event again: nothing may change"),
        }
        if run != 2 {
            routing.put(None, &body).await;
        }
        let Some(response) = lambda.deliver().await else {
            eprintln!("run {run}: no message to deliver");
            return false;
        };
        let reports = lambda.process.reports();
        let Some(report) = reports.last().filter(|_| reports.len() == run) else {
            eprintln!("run {run}: the function logged no report");
            return false;
        };
        let path = out_dir.join(format!("report-run{run}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(report).unwrap()).expect("write report");
        print_report(report);
        println!(
            "   batch item failures: {}   JSON report: {}",
            response.batch_item_failures.len(),
            path.display()
        );
        let writes = report["calls"]["writes"].as_u64().unwrap_or(u64::MAX);
        let failed: Vec<&Value> = report["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"] == "failed")
            .collect();
        match run {
            1 => {
                // Only the pushed group's assignment waits, and the message is handed back.
                ok &= response.batch_item_failures.len() == 1
                    && failed.len() == 1
                    && failed[0]["not_ready"] == true;
                print_okta_state(okta, new_id);
                print_account_state(aws, sandbox, new_id).await;
            }
            2 => {
                ok &= response.batch_item_failures.is_empty() && failed.is_empty();
                print_account_state(aws, sandbox, new_id).await;
            }
            _ => {
                ok &= response.batch_item_failures.is_empty()
                    && failed.is_empty()
                    && writes == 0
                    && report["actions"].as_array().is_some_and(Vec::is_empty);
                println!(
                    "   third run: {} actions planned, {writes} write calls (AWS and Okta)",
                    report["actions"].as_array().map_or(0, Vec::len)
                );
            }
        }
    }
    ok
}

/// Runs 4-5: two new clusters in the account (one in an API mode that is still CREATING, one
/// in CONFIG_MAP mode whose aws-auth already has rows), their `CreateCluster` events through
/// the cluster onboarder, then the events again, which must change nothing.
async fn onboard_clusters(
    aws: &aws_config::SdkConfig,
    eks: &Eks,
    routing: &Routing,
    lambda: &Lambda,
    id: &str,
    out_dir: &Path,
) -> bool {
    let creator = format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole");
    let oncall = format!("arn:aws:iam::{id}:role/ops-oncall");
    eks.add_cluster(id, REGION, API_CLUSTER, "API_AND_CONFIG_MAP", 1, &creator);
    eks.add_foreign_entry(id, REGION, API_CLUSTER, &oncall, &["ops"]);
    eks.add_cluster(id, REGION, LEGACY_CLUSTER, "CONFIG_MAP", 0, &creator);
    let foreign_rows = fixtures::foreign_map_roles(id);
    eks.edit_cluster(id, REGION, LEGACY_CLUSTER, |c| {
        c.objects.insert(
            AWS_AUTH.into(),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": "7"},
                "data": {
                    "mapRoles": foreign_rows,
                    "mapUsers": "- userarn: arn:aws:iam::111122223333:user/ops\n  username: ops\n  groups:\n    - system:masters\n",
                }
            }),
        );
    });
    // Identity Center makes the permission set's role when the set is assigned in the account.
    let sso_role = "AWSReservedSSO_EKSClusterAdminAccess_4ffa4321e413c0b0";
    aws_sdk_iam::Client::new(&fixtures::member_config(aws, id).await)
        .create_role()
        .role_name(sso_role)
        .path(format!("/aws-reserved/sso.amazonaws.com/{REGION}/"))
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .expect("create the Identity Center role");
    println!(
        "\n== Two EKS clusters appear in {NEW_ACCOUNT} ({id}), {REGION} (EKS and API server fakes)"
    );
    table(
        &[
            "cluster",
            "authentication mode",
            "status",
            "already there (not autofed's)",
        ],
        &[
            vec![
                API_CLUSTER.into(),
                "API_AND_CONFIG_MAP".into(),
                "CREATING (1 describe)".into(),
                "access entries of the creator and ops-oncall".into(),
            ],
            vec![
                LEGACY_CLUSTER.into(),
                "CONFIG_MAP".into(),
                "ACTIVE".into(),
                "aws-auth: 2 mapRoles rows (one commented), mapUsers".into(),
            ],
        ],
    );
    println!(
        "   Identity Center has provisioned {sso_role} under /aws-reserved/sso.amazonaws.com/{REGION}/"
    );

    let mut ok = true;
    for run in [4, 5] {
        if run == 4 {
            println!(
                "\n== Run 4: CreateCluster (CloudTrail) for both -> the member account's forwarding rule (StackSet) -> central bus -> rule {} -> cluster queue -> cluster-onboarder",
                routing
                    .rule_names(Some("CentralEventBus"), "ClusterEventsQueue")
                    .join(",")
            );
        } else {
            println!("\n== Run 5: both events again: nothing may change");
        }
        let before = lambda.process.reports().len();
        for name in [API_CLUSTER, LEGACY_CLUSTER] {
            // The forwarding rule in the member account puts the event on the central bus.
            routing
                .put(
                    Some("CentralEventBus"),
                    &cluster_event("eks-create-cluster.json", id, name),
                )
                .await;
        }
        let mut delivery = 0;
        while lambda.process.reports().len() < before + 2 && delivery < 6 {
            let Some(response) = lambda.deliver().await else {
                break;
            };
            delivery += 1;
            let back = response.batch_item_failures.len();
            println!(
                "   delivery {delivery}: {back} message(s) handed back{}",
                if back > 0 {
                    " (a cluster not ACTIVE yet: it comes back after its delay)"
                } else {
                    ""
                }
            );
        }
        let reports = lambda.process.reports();
        if reports.len() != before + 2 {
            eprintln!(
                "run {run}: expected 2 cluster reports, got {}",
                reports.len() - before
            );
            return false;
        }
        for report in &reports[before..] {
            let name = report["cluster"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let path = out_dir.join(format!("report-run{run}-{name}.json"));
            std::fs::write(&path, serde_json::to_string_pretty(report).unwrap())
                .expect("write report");
            print_report(report);
            println!("   JSON report: {}", path.display());
            let actions = report["actions"].as_array().map_or(0, Vec::len);
            let failed = report["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["status"] != "applied")
                .count();
            let writes = report["calls"]["writes"].as_u64().unwrap_or(u64::MAX);
            ok &=
                failed == 0 && (run == 4 && actions > 0 || run == 5 && actions == 0 && writes == 0);
        }
        if run == 4 {
            ok &= print_entries(eks, id, &[creator.as_str(), oncall.as_str()]);
            ok &= print_aws_auth(eks, id, &foreign_rows);
        }
    }
    ok
}
fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("   {}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

async fn print_organization(aws: &aws_config::SdkConfig, sandbox: &fixtures::Sandbox) {
    let org = aws_sdk_organizations::Client::new(aws);
    let ou_name = |id: &str| {
        sandbox
            .ous
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| "Root".into())
    };
    let mut rows = Vec::new();
    for (name, id) in &sandbox.accounts {
        let parent = org
            .list_parents()
            .child_id(id)
            .send()
            .await
            .unwrap()
            .parents
            .unwrap()[0]
            .id
            .clone()
            .unwrap();
        let tags = org
            .list_tags_for_resource()
            .resource_id(id)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default();
        let tags: Vec<String> = tags
            .iter()
            .map(|t| format!("{}={}", t.key, t.value))
            .collect();
        let path = match ou_name(&parent).as_str() {
            "Prod" | "Dev" => format!("Root/Workloads/{}", ou_name(&parent)),
            other => format!("Root/{other}"),
        };
        rows.push(vec![
            name.clone(),
            id.clone(),
            format!("{path} ({parent})"),
            tags.join(","),
        ]);
    }
    println!("== The sandbox organization (moto)");
    table(&["account", "id", "OU", "tags"], &rows);
    println!(
        "   Identity Center: permission sets {}; groups {}; user {}",
        fixtures::PERMISSION_SETS.join(", "),
        fixtures::GROUPS.join(", "),
        fixtures::AUDITOR
    );
}

fn print_okta_state(okta: &fixtures::OktaOrg, id: &str) {
    println!("\n   What now exists in Okta, read back from the fake org:");
    let groups = okta.fake.groups();
    let name = |gid: &str| {
        groups
            .get(gid)
            .and_then(|g| g["profile"]["name"].as_str())
            .unwrap_or(gid)
            .to_string()
    };
    let mut rows = Vec::new();
    for (app_id, app) in okta.fake.apps() {
        let s = &app["settings"]["app"];
        let detail = if s["useGroupMapping"] == true {
            format!(
                "Use Group Mapping; filter {}; role value {}",
                s["groupFilter"], s["roleValuePattern"]
            )
        } else {
            "seeded (not autofed's)".into()
        };
        rows.push(vec![
            "app".into(),
            format!("{} ({app_id})", app["label"].as_str().unwrap_or_default()),
            detail,
        ]);
        for gid in okta.fake.app_groups(&app_id).keys() {
            rows.push(vec![
                "  assigned group".into(),
                name(gid),
                format!("to {}", app["label"].as_str().unwrap_or_default()),
            ]);
        }
    }
    for g in groups.values().filter(|g| {
        g["profile"]["description"]
            .as_str()
            .is_some_and(|d| d.contains(id))
    }) {
        rows.push(vec![
            "group".into(),
            g["profile"]["name"].as_str().unwrap_or_default().into(),
            g["profile"]["description"]
                .as_str()
                .unwrap_or_default()
                .into(),
        ]);
    }
    for r in okta.fake.rules().values() {
        let targets: Vec<String> = r["actions"]["assignUserToGroups"]["groupIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str())
            .map(name)
            .collect();
        rows.push(vec![
            "group rule".into(),
            r["name"].as_str().unwrap_or_default().into(),
            format!(
                "{}: {} -> {}",
                r["status"].as_str().unwrap_or_default(),
                r["conditions"]["expression"]["value"]
                    .as_str()
                    .unwrap_or_default(),
                targets.join(", ")
            ),
        ]);
    }
    for pushed in okta.fake.pushed_group_names() {
        rows.push(vec![
            "group push".into(),
            pushed,
            "to the AWS IAM Identity Center app".into(),
        ]);
    }
    table(&["object", "name", "detail"], &rows);
}

fn print_report(report: &Value) {
    let rows: Vec<Vec<String>> = report["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                a["kind"].as_str().unwrap_or_default().to_string(),
                a["resource"].as_str().unwrap_or_default().to_string(),
                a["status"].as_str().unwrap_or_default().to_string(),
                a["summary"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    let subject = match report["cluster"].as_str() {
        Some(cluster) => format!("cluster {cluster}"),
        None => format!(
            "account {}",
            report["account_id"].as_str().unwrap_or_default()
        ),
    };
    println!(
        "   report ({}), {subject}:",
        report["mode"].as_str().unwrap_or_default()
    );
    if rows.is_empty() {
        println!("   (no actions: everything is as configured)");
    } else {
        table(&["action", "resource", "status", "what"], &rows);
    }
    let okta_calls: u64 = report["calls"]["by_operation"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("okta:"))
        .map(|(_, v)| v.as_u64().unwrap_or_default())
        .sum();
    println!(
        "   calls: {} reads, {} writes (of all calls, {okta_calls} to Okta)",
        report["calls"]["reads"], report["calls"]["writes"]
    );
}

async fn print_account_state(aws: &aws_config::SdkConfig, sandbox: &fixtures::Sandbox, id: &str) {
    let member = fixtures::member_config(aws, id).await;
    let iam = aws_sdk_iam::Client::new(&member);
    println!("\n   What now exists in account {id}, read back from moto:");
    let alias = iam
        .list_account_aliases()
        .send()
        .await
        .unwrap()
        .account_aliases
        .join(",");
    let providers = iam.list_saml_providers().send().await.unwrap();
    let mut rows = vec![vec!["account alias".into(), alias, String::new()]];
    for p in providers.saml_provider_list() {
        rows.push(vec![
            "SAML provider".into(),
            p.arn().unwrap_or_default().into(),
            "tag autofed:managed-by=autofed".into(),
        ]);
    }
    let roles = iam.list_roles().send().await.unwrap();
    for r in roles
        .roles()
        .iter()
        .filter(|r| r.role_name() != "OrganizationAccountAccessRole")
    {
        let attached = iam
            .list_attached_role_policies()
            .role_name(r.role_name())
            .send()
            .await
            .unwrap();
        let policies: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .collect();
        let full = iam
            .get_role()
            .role_name(r.role_name())
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let trust = autofed::policy::decode(full.assume_role_policy_document().unwrap_or_default())
            .unwrap_or_default();
        let boundary = full
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(|b| format!(", boundary {}", b.rsplit('/').next().unwrap_or(b)))
            .unwrap_or_default();
        rows.push(vec![
            "role".into(),
            r.arn().to_string(),
            format!(
                "{}; max {}s{boundary}; trusts {} if SAML:aud={}",
                policies.join("+"),
                full.max_session_duration().unwrap_or_default(),
                trust["Statement"][0]["Principal"]["Federated"]
                    .as_str()
                    .unwrap_or("?")
                    .rsplit(':')
                    .next()
                    .unwrap_or_default(),
                trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"]
                    .as_str()
                    .unwrap_or("?"),
            ),
        ]);
    }
    let sso = aws_sdk_ssoadmin::Client::new(aws);
    for (ps_name, ps_arn) in &sandbox.permission_sets {
        let found = sso
            .list_account_assignments()
            .instance_arn(&sandbox.instance_arn)
            .account_id(id)
            .permission_set_arn(ps_arn)
            .send()
            .await
            .unwrap();
        for a in found.account_assignments() {
            let pid = a.principal_id().unwrap_or_default();
            let who = sandbox
                .groups
                .iter()
                .chain(&sandbox.users)
                .find(|(_, v)| v.as_str() == pid)
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| format!("{pid} (pushed from Okta)"));
            rows.push(vec![
                "Identity Center assignment".into(),
                format!("{who} -> {ps_name}"),
                a.principal_type()
                    .map(|t| t.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ]);
        }
    }
    table(&["resource", "name", "detail"], &rows);
}

/// The API-mode cluster's access entries and autofed's RBAC objects, read back from the fake;
/// whether the entries autofed did not make are still there, untouched.
fn print_entries(eks: &Eks, id: &str, foreign: &[&str]) -> bool {
    let cluster = eks.cluster(id, REGION, API_CLUSTER);
    println!(
        "\n   Access entries of {API_CLUSTER} ({}), read back from the EKS fake:",
        cluster.mode
    );
    let mut rows = Vec::new();
    let mut ok = true;
    for (principal, entry) in &cluster.entries {
        let ours = entry.tags.get("autofed:managed-by").map(String::as_str) == Some("autofed");
        ok &= ours != foreign.contains(&principal.as_str());
        let policies: Vec<String> = entry
            .policies
            .iter()
            .map(|(arn, (scope, _, _))| {
                let scope = match scope["namespaces"].as_array() {
                    Some(ns) if scope["type"] == "namespace" => format!(
                        "namespaces {}",
                        ns.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    _ => "cluster".into(),
                };
                format!("{} ({scope})", arn.rsplit('/').next().unwrap_or(arn))
            })
            .collect();
        rows.push(vec![
            principal.clone(),
            if ours { "autofed" } else { "not autofed's" }.into(),
            entry.groups.join(","),
            policies.join(", "),
        ]);
    }
    table(
        &["principal", "made by", "groups", "access policies"],
        &rows,
    );
    ok &= cluster.entries.len() == foreign.len() + 4;
    let managed: Vec<String> = cluster
        .objects
        .iter()
        .filter(|(_, o)| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "autofed")
        .map(|(path, o)| format!("{} {path}", o["kind"].as_str().unwrap_or_default()))
        .collect();
    println!("   Kubernetes objects labelled app.kubernetes.io/managed-by=autofed:");
    for object in &managed {
        println!("     {object}");
    }
    ok && !managed.is_empty()
}

/// The CONFIG_MAP cluster's aws-auth, read back from the API server fake; whether the rows
/// that were there before are still there, byte for byte.
fn print_aws_auth(eks: &Eks, id: &str, foreign_rows: &str) -> bool {
    let cluster = eks.cluster(id, REGION, LEGACY_CLUSTER);
    let aws_auth = &cluster.objects[AWS_AUTH];
    let map_roles = aws_auth["data"]["mapRoles"].as_str().unwrap_or_default();
    println!(
        "\n   kube-system/aws-auth of {LEGACY_CLUSTER} (CONFIG_MAP), read back from the API server fake:"
    );
    println!(
        "   annotation autofed.dev/owned-map-roles: {}",
        aws_auth["metadata"]["annotations"]["autofed.dev/owned-map-roles"]
    );
    println!("   mapRoles: |");
    for line in map_roles.lines() {
        println!("     {line}");
    }
    println!(
        "   mapUsers: kept ({} bytes)",
        aws_auth["data"]["mapUsers"].as_str().map_or(0, str::len)
    );
    map_roles.starts_with(foreign_rows) && map_roles.len() > foreign_rows.len()
}

/// Runs 6-8: a drift in the onboarded account, then the backfill function: a plan of the whole
/// organization (clusters too), an apply that enqueues, and a plan that finds nothing left.
async fn run_backfill(
    aws: &aws_config::SdkConfig,
    api: &RuntimeApi,
    process: &FunctionProcess,
    accounts: &Lambda,
    id: &str,
    out_dir: &Path,
) -> bool {
    aws_sdk_iam::Client::new(&fixtures::member_config(aws, id).await)
        .detach_role_policy()
        .role_name("ReadOnly")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("detach a policy");
    println!(
        "\n== Someone detaches ReadOnlyAccess from role ReadOnly in {NEW_ACCOUNT} ({id}): drift"
    );
    let plan_input =
        json!({"mode": "plan", "accounts": "all", "clusters": true, "regions": [REGION]});
    let invoke = |input: Value| async move {
        api.invoke(input, Duration::from_secs(300))
            .await
            .unwrap_or_else(|e| {
                eprintln!("the backfill failed: {e}");
                std::process::exit(1)
            })
    };
    let mut ok = true;
    for run in [6, 7, 8] {
        let result = match run {
            6 => {
                println!("\n== Run 6: backfill {plan_input} (as the drift schedule runs it)");
                invoke(plan_input.clone()).await
            }
            7 => {
                let input = json!({"mode": "apply", "accounts": "all"});
                println!("\n== Run 7: backfill {input}");
                invoke(input).await
            }
            _ => {
                println!(
                    "\n== Run 8: the plan again, once the account onboarder has taken the messages"
                );
                invoke(plan_input.clone()).await
            }
        };
        let path = out_dir.join(format!("backfill-run{run}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap()).expect("write");
        if run == 7 {
            let sent = result["accounts"].as_array().map_or(0, Vec::len);
            let skipped: Vec<String> = result["skipped"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    format!(
                        "{} ({})",
                        s["subject"].as_str().unwrap_or_default(),
                        s["reason"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            println!(
                "   enqueued {sent} account messages on the account onboarder's queue; skipped: {}",
                skipped.join("; ")
            );
            let mut batches = 0;
            while accounts.work.depth().await > 0 && batches < 20 {
                if let Some(r) = accounts.deliver().await {
                    batches += 1;
                    println!(
                        "   account-onboarder batch {batches}: {} handed back",
                        r.batch_item_failures.len()
                    );
                }
            }
            let operations: Vec<&Value> = result["coverage"]["operations"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            for o in &operations {
                println!(
                    "   StackSet operation {}: {} (failed instances: {})",
                    o["operation_id"].as_str().unwrap_or_default(),
                    o["status"].as_str().unwrap_or_default(),
                    o["failed"].as_array().map_or(0, Vec::len)
                );
            }
            ok &= sent == 4
                && accounts.work.depth().await == 0
                && !operations.is_empty()
                && operations.iter().all(|o| o["status"] == "SUCCEEDED");
        } else {
            ok &= print_backfill_plan(&result, process, run == 6);
        }
        println!("   JSON: {}", path.display());
    }
    ok
}

/// Prints a backfill plan and the drift metric it logged; whether it is as expected: the
/// first plan finds the sandbox's three never-onboarded accounts new and ours drifted (one
/// resource), both clusters in sync; the last finds nothing.
fn print_backfill_plan(result: &Value, process: &FunctionProcess, first: bool) -> bool {
    for (what, c) in [
        ("accounts", &result["accounts"]),
        ("clusters", &result["clusters"]),
    ] {
        println!(
            "   {what}: {} planned, {} in sync, {} new, {} drifted, {} failed",
            c["planned"], c["in_sync"], c["new"], c["drifted"], c["failed"]
        );
    }
    let rows: Vec<Vec<String>> = result["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let subject = match i["cluster"].as_str() {
                Some(c) => format!("cluster {c}"),
                None => format!("account {}", i["account_id"].as_str().unwrap_or_default()),
            };
            let what = match i["state"].as_str() {
                Some("drifted") => i["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["summary"].as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => format!("{} actions", i["actions"].as_array().map_or(0, Vec::len)),
            };
            vec![
                subject,
                i["state"].as_str().unwrap_or_default().into(),
                what,
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("   (nothing new, nothing drifted)");
    } else {
        table(&["subject", "state", "what a run would do"], &rows);
    }
    let coverage = &result["coverage"];
    let gaps: Vec<String> = coverage["gaps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{}/{} ({})",
                g["account_id"].as_str().unwrap_or_default(),
                g["region"].as_str().unwrap_or_default(),
                g["state"].as_str().unwrap_or_default()
            )
        })
        .collect();
    println!(
        "   forwarding StackSet {}: {} of {} account/region pairs current; without an instance: {}",
        coverage["stack_set"].as_str().unwrap_or_default(),
        coverage["current"],
        coverage["expected"],
        if gaps.is_empty() {
            "none".to_string()
        } else {
            gaps.join(", ")
        }
    );
    let metric: Value = process
        .log_lines()
        .iter()
        .rev()
        .find(|l| l.contains("\"_aws\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    println!(
        "   drift metric (CloudWatch embedded metric format, namespace {}): DriftedResources={} NewAccounts={} DriftedAccounts={}",
        metric["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        metric["DriftedResources"],
        metric["NewAccounts"],
        metric["DriftedAccounts"]
    );
    if first {
        result["accounts"]["new"] == 3
            && result["accounts"]["drifted"] == 1
            // The detached policy, and the three pairs without a forwarding instance.
            && result["drifted_resources"] == 4
            && gaps.len() == 3
            && result["clusters"]["in_sync"] == 2
            && metric["DriftedResources"] == 4
    } else {
        result["items"].as_array().is_some_and(Vec::is_empty)
            && gaps.is_empty()
            && result["accounts"]["in_sync"] == 4
            && metric["DriftedResources"] == 0
    }
}

/// Runs 9-12: another new account, in `stack` deploy mode (no Okta: the metadata file), through
/// its own account-onboarder process (each configuration is read at init): the stack made;
/// the event again, no change set; ReadOnly removed from the configuration, planned with
/// `dry_run` and then applied.
async fn onboard_in_stack_mode(
    aws: &aws_config::SdkConfig,
    sandbox: &mut fixtures::Sandbox,
    sqs: &aws_sdk_sqs::Client,
    moto_url: &str,
    template: &str,
    out_dir: &Path,
) -> bool {
    let id = sandbox
        .add_account(aws, STACK_ACCOUNT, "Dev", &[("team", "payments")])
        .await;
    let base = format!("{}\n[deploy]\nmode = \"stack\"\n", sandbox.render(template));
    let without_readonly = fixtures::without_role(&base, "ReadOnly");
    let configs = [
        ("stack", base.clone()),
        ("stack-plan", format!("dry_run = true\n{without_readonly}")),
        ("stack-apply", without_readonly),
    ];
    let body = event("create-account-result-succeeded.json", &id);
    let mut ok = true;
    let mut run = 9;
    for (name, text) in configs {
        let config = out_dir.join(format!("autofed-{name}.toml"));
        std::fs::write(&config, text).expect("write config");
        let lambda = Lambda::start(
            sqs,
            "account-onboarder",
            &format!("autofed-account-events-{name}"),
            &[
                ("AWS_ENDPOINT_URL", moto_url.to_string()),
                ("AUTOFED_CONFIG", config.display().to_string()),
            ],
        )
        .await;
        let times = if name == "stack" { 2 } else { 1 };
        for n in 0..times {
            match (name, n) {
                ("stack", 0) => println!(
                    "\n== Run {run}: [deploy] mode = \"stack\": CreateAccountResult for {STACK_ACCOUNT} ({id}) -> queue -> account-onboarder"
                ),
                ("stack", _) => {
                    println!("\n== Run {run}: the same event again: no change set may be made")
                }
                ("stack-plan", _) => println!(
                    "\n== Run {run}: role ReadOnly removed from the configuration, dry_run = true: the plan"
                ),
                _ => println!("\n== Run {run}: the same configuration applied"),
            }
            lambda.work.send(&body).await;
            let Some(response) = lambda.deliver().await else {
                eprintln!("run {run}: no message to deliver");
                return false;
            };
            let reports = lambda.process.reports();
            let Some(report) = reports.last() else {
                eprintln!("run {run}: the function logged no report");
                return false;
            };
            let path = out_dir.join(format!("report-run{run}.json"));
            std::fs::write(&path, serde_json::to_string_pretty(report).unwrap())
                .expect("write report");
            print_report(report);
            println!("   JSON report: {}", path.display());
            let stack_actions: Vec<&Value> = report["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| {
                    a["resource"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("stack/"))
                })
                .collect();
            let failed = report["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["status"] == "failed");
            ok &= response.batch_item_failures.is_empty() && !failed;
            let summary = |i: usize| stack_actions.get(i).and_then(|a| a["summary"].as_str());
            match (name, n) {
                ("stack", 0) => {
                    ok &= stack_actions.len() == 1
                        && summary(0).is_some_and(|s| s.starts_with("create stack"));
                    ok &= print_stack(aws, &id, 4).await;
                }
                ("stack", _) => {
                    let change_sets = report["calls"]["by_operation"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k.contains("ChangeSet"))
                        .count();
                    println!(
                        "   rerun: {} actions, {} write calls, {change_sets} change set calls",
                        report["actions"].as_array().map_or(0, Vec::len),
                        report["calls"]["writes"]
                    );
                    ok &= report["actions"].as_array().is_some_and(Vec::is_empty)
                        && report["calls"]["writes"] == 0
                        && change_sets == 0;
                }
                ("stack-plan", _) => {
                    ok &= report["mode"] == "plan"
                        && report["calls"]["writes"] == 0
                        && stack_actions.len() == 1
                        && summary(0)
                            == Some(
                                "update stack autofed-federation with a change set: Remove RoleReadOnly (AWS::IAM::Role)",
                            );
                }
                _ => {
                    ok &= stack_actions.len() == 1 && stack_actions[0]["status"] == "applied";
                    ok &= print_stack(aws, &id, 3).await;
                }
            }
            run += 1;
        }
        ok &= lambda.dlq.depth().await == 0;
    }
    ok
}

/// Prints the account's stack (status, termination protection, resources) read back from
/// moto; whether it holds `resources` resources, protected.
async fn print_stack(aws: &aws_config::SdkConfig, id: &str, resources: usize) -> bool {
    let cfn = aws_sdk_cloudformation::Client::new(&fixtures::member_config(aws, id).await);
    let Ok(described) = cfn.describe_stacks().stack_name(STACK).send().await else {
        println!("   stack {STACK}: missing");
        return false;
    };
    let stack = &described.stacks()[0];
    let listed = cfn
        .list_stack_resources()
        .stack_name(STACK)
        .send()
        .await
        .expect("list the stack's resources");
    let rows: Vec<Vec<String>> = listed
        .stack_resource_summaries()
        .iter()
        .map(|r| {
            vec![
                r.logical_resource_id().unwrap_or_default().to_string(),
                r.resource_type().unwrap_or_default().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    println!(
        "\n   Stack {STACK} in account {id}, read back from moto: {}, termination protection {}",
        stack.stack_status().map(|s| s.as_str()).unwrap_or_default(),
        if stack.enable_termination_protection() == Some(true) {
            "on"
        } else {
            "off"
        }
    );
    table(&["logical id", "type", "physical id"], &rows);
    rows.len() == resources && stack.enable_termination_protection() == Some(true)
}
