//! The sandbox demo: a local organization in moto, a fake Okta org, a `CreateAccountResult`
//! event through the account-onboarder (its built binary, through the Lambda Runtime API and
//! a real SQS queue), and a readable account of what autofed did on both sides. Run 1 does
//! everything but the assignment of a group Okta has not pushed to Identity Center yet (the
//! message is handed back); Okta's push is then simulated and run 2 (the redelivery) makes the
//! assignment; run 3 (the event again) must plan nothing and write nothing. Exits non-zero if
//! a run is not as it should be.

use std::{process::ExitCode, time::Duration};

use autofed_tests::{
    OKTA_TOKEN,
    esm::Queue,
    fixtures::{self, event},
    function::{FunctionProcess, binary, target_dir},
    moto::Moto,
    root,
    runtime_api::RuntimeApi,
    sdk_config,
};
use serde_json::Value;

const NEW_ACCOUNT: &str = "payments-staging";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    println!(
        "autofed sandbox: moto and a fake Okta org on 127.0.0.1, the account-onboarder binary, one organization event\n"
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
    let work = Queue::create(&sqs, "autofed-account-events").await;
    let dlq = Queue::create(&sqs, "autofed-account-events-dlq").await;
    let api = RuntimeApi::start("autofed-account-onboarder").await;
    let function = FunctionProcess::start(
        &binary("account-onboarder"),
        "autofed-account-onboarder",
        &api.address,
        &[
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AUTOFED_CONFIG", config.display().to_string()),
            ("AUTOFED_QUEUE_URL", work.url.clone()),
            ("AUTOFED_DLQ_URL", dlq.url.clone()),
        ],
    );

    let body = event("create-account-result-succeeded.json", &new_id);
    let mut ok = true;
    for run in 1..=3 {
        match run {
            1 => println!(
                "\n== Run 1: CreateAccountResult (SUCCEEDED) for {NEW_ACCOUNT} ({new_id}) -> queue -> account-onboarder"
            ),
            2 => {
                let pushed = fixtures::push_okta_groups(&aws, &sandbox, &okta).await;
                println!(
                    "\n== Okta pushes the group to Identity Center (SCIM, simulated): {} group(s) created in the identity store",
                    pushed.len()
                );
                println!("== Run 2: the handed-back message, delivered again after its delay");
            }
            _ => println!("\n== Run 3: the same event again: nothing may change"),
        }
        if run != 2 {
            work.send(&body).await;
        }
        let api = &api;
        let mut response = None;
        for _ in 0..40 {
            response = work
                .deliver(|e| async move {
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
                .await;
            if response.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let Some(response) = response else {
            eprintln!("run {run}: no message to deliver");
            return ExitCode::FAILURE;
        };
        let reports = function.reports();
        let Some(report) = reports.last().filter(|_| reports.len() == run) else {
            eprintln!("run {run}: the function logged no report");
            return ExitCode::FAILURE;
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
                print_okta_state(&okta, &new_id);
                print_account_state(&aws, &sandbox, &new_id).await;
            }
            2 => {
                ok &= response.batch_item_failures.is_empty() && failed.is_empty();
                print_account_state(&aws, &sandbox, &new_id).await;
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
    ok &= dlq.depth().await == 0;
    println!(
        "\nfunction log: {} JSON lines; moto, the Runtime API and the function stop with this process.",
        function.log_lines().len()
    );
    if ok {
        println!("sandbox: OK");
        ExitCode::SUCCESS
    } else {
        println!("sandbox: NOT OK (see above)");
        ExitCode::FAILURE
    }
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
    println!(
        "   report ({}), account {}:",
        report["mode"].as_str().unwrap_or_default(),
        report["account_id"].as_str().unwrap_or_default()
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
