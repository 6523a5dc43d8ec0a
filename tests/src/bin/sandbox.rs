//! The sandbox demo: a local organization in moto, a `CreateAccountResult` event through the
//! account-onboarder (its built binary, through the Lambda Runtime API and a real SQS queue),
//! and a readable account of what autofed did. The event is delivered twice: the second run
//! must plan nothing and write nothing. Exits non-zero if either run is not as it should be.

use std::{process::ExitCode, time::Duration};

use autofed_tests::{
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
        "autofed sandbox: moto on 127.0.0.1, the account-onboarder binary, one organization event\n"
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
    let config = out_dir.join("autofed.toml");
    std::fs::write(&config, sandbox.render(&template)).expect("write config");

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
    for run in 1..=2 {
        println!(
            "\n== Run {run}: CreateAccountResult (SUCCEEDED) for {NEW_ACCOUNT} ({new_id}) -> queue -> account-onboarder"
        );
        work.send(&body).await;
        let api = &api;
        let response = work
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
            .await
            .expect("the event was delivered");
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
        let failed = report["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["status"] == "failed");
        ok &= response.batch_item_failures.is_empty() && !failed;
        if run == 1 {
            print_account_state(&aws, &sandbox, &new_id).await;
        } else {
            ok &= writes == 0 && report["actions"].as_array().is_some_and(Vec::is_empty);
            println!(
                "   second run: {} actions planned, {writes} write calls",
                report["actions"].as_array().map_or(0, Vec::len)
            );
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
    println!(
        "   AWS calls: {} reads, {} writes",
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
    let roles = iam
        .list_roles()
        .path_prefix("/federated/")
        .send()
        .await
        .unwrap();
    for r in roles.roles() {
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
                .unwrap_or_else(|| pid.to_string());
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
