//! Call economy of an onboarding, counted at the emulators (not by autofed's own report): for a
//! new account (IAM, Identity Center, its Okta app) and a new cluster of each kind, the write
//! calls per resource change planned, the read calls per write, and the writes of a rerun.
//! The figures go to `target/bench/onboarding.json`; `BENCHMARKS.md` has the table.
//!
//! Counts, not timings: the write and rerun targets are asserted, as they are correctness
//! (at most one call per change; nothing written when nothing changed).

use autofed::{
    events::ClusterRef,
    ids::AccountId,
    onboard::Outcome,
    plan::ActionKind,
    report::{Mode, Report},
};
use autofed_tests::{
    esm::Queue,
    flows::{Flow, REGION, Subject, World},
    function::{FunctionProcess, binary_of},
    runtime_api::RuntimeApi,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// The changes a plan of `s` shows (manual steps are not changes), on a context of its own.
async fn changes(world: &World, s: &Subject) -> usize {
    let ctx = world.context();
    let account = AccountId::parse(&s.account).unwrap();
    let outcome = match world.flow {
        Flow::Account => autofed::onboard::onboard(&ctx, &account, Mode::Plan).await,
        _ => {
            let cluster = ClusterRef {
                account_id: account,
                region: REGION.into(),
                name: s.name.clone(),
            };
            autofed::cluster::onboard::onboard(&ctx, &cluster, Mode::Plan).await
        }
    };
    let planned: Report = match outcome.unwrap() {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    };
    planned
        .actions
        .iter()
        .filter(|a| a.kind != ActionKind::Manual)
        .count()
}

/// One onboarding's counts: the subject's first delivery and a rerun, on `ctx`.
async fn measure(world: &World, ctx: &autofed::Context, s: &Subject, changes: usize) -> Value {
    let faults = &world.bed.proxy.faults;
    let flow = world.flow;
    faults.clear_seen();
    let first = world.deliver(ctx, s, 1).await;
    assert!(first.batch_item_failures.is_empty(), "{flow:?}: {first:?}");
    let calls = faults.calls();
    let writes = faults.writes().len();
    let reads = calls.len() - writes;
    let mut by_call: BTreeMap<String, usize> = BTreeMap::new();
    for site in &calls {
        *by_call.entry(site.to_string()).or_default() += 1;
    }

    faults.clear_seen();
    let again = world.deliver(ctx, s, 2).await;
    assert!(again.batch_item_failures.is_empty());
    let rerun_writes = faults.writes().len();
    let rerun_reads = faults.calls().len() - rerun_writes;

    let per_change = writes as f64 / changes as f64;
    let reads_per_write = reads as f64 / writes as f64;
    // aws-auth rows are changes of one object, written in one PUT: fewer calls than changes
    // there.
    assert!(
        per_change <= 1.0,
        "{flow:?}: {writes} writes for {changes} changes"
    );
    assert!(
        reads <= 2 * writes,
        "{flow:?}: {reads} reads for {writes} writes: {by_call:#?}"
    );
    assert_eq!(rerun_writes, 0, "{flow:?}: a rerun wrote");
    json!({
        "changes_planned": changes,
        "write_calls": writes,
        "read_calls": reads,
        "writes_per_change": per_change,
        "reads_per_write": (reads_per_write * 100.0).round() / 100.0,
        "rerun_write_calls": rerun_writes,
        "rerun_read_calls": rerun_reads,
        "calls": by_call,
    })
}

/// Each flow twice: on a new function instance (its first invocation discovers Identity
/// Center), and on the same instance for a second subject, as a warm Lambda instance works
/// through a queue. Both are held to at most one write per change, at most two reads per
/// write, and no write on a rerun.
#[tokio::test]
async fn writes_per_change_reads_per_write_and_rerun_writes() {
    let mut rows = Vec::new();
    for flow in [Flow::Account, Flow::ApiCluster, Flow::ConfigMapCluster] {
        let mut world = World::new(flow).await;
        let s = world.subject().await;
        let changes = changes(&world, &s).await;
        let ctx = world.context();
        let cold = measure(&world, &ctx, &s, changes).await;
        let s = world.subject().await;
        let warm = measure(&world, &ctx, &s, changes).await;
        rows.push(
            json!({ "flow": format!("{flow:?}"), "new_instance": cold, "warm_instance": warm }),
        );
    }
    let dir = autofed_tests::function::target_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("onboarding.json"),
        serde_json::to_string_pretty(&json!({ "onboarding": rows })).unwrap() + "\n",
    )
    .unwrap();
}

/// The build profile of the binaries the process benchmarks run: `debug` (what `tests/run.sh`
/// builds), or `release` with `AUTOFED_BENCH_PROFILE=release` after a release build, which is
/// what BENCHMARKS.md reports.
fn profile() -> String {
    std::env::var("AUTOFED_BENCH_PROFILE").unwrap_or_else(|_| "debug".into())
}

/// Starts `binary` against a new Runtime API; the time from its start to its first
/// `invocation/next` (to the connection it sends it on), i.e. its init.
async fn start(
    binary: &std::path::Path,
    env: &[(&str, String)],
) -> (RuntimeApi, FunctionProcess, Duration) {
    let api = RuntimeApi::start("autofed-bench").await;
    let started = Instant::now();
    let process = FunctionProcess::start(binary, "autofed-bench", &api.address, env);
    let ready = api
        .first_poll(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("{} never polled", binary.display()));
    (api, process, ready - started)
}

/// The onboarder's "context ready" log line (its init's parts), once its reader has it.
async fn context_ready(process: &FunctionProcess) -> Value {
    for _ in 0..100 {
        if let Some(line) = process
            .log_json()
            .into_iter()
            .find(|l| l["message"] == "context ready")
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the onboarder never logged \"context ready\": {:?}",
        process.log_lines()
    );
}

/// The middle of `samples`, in milliseconds.
fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Init time, from the process's start to its first `invocation/next` through the Runtime API
/// emulator: the account onboarder (configuration, AWS and Okta clients; no network call) and
/// the cluster onboarder (configuration, Organizations and STS clients) against the smallest
/// `lambda_runtime` function, started in turn in one run so that all three see the same
/// machine. Then the account onboarder's peak RSS over its init and one onboarding of a
/// new account through the Runtime API, and what the Okta secret's read (made by that
/// onboarding's first Okta request) took. Figures to `target/bench/function-<profile>.json`.
#[tokio::test]
async fn init_time_against_an_empty_function_and_peak_rss() {
    const ROUNDS: usize = 31;
    let profile = profile();
    let mut world = World::new(Flow::Account).await;
    let config = autofed_tests::function::testbed_path("bench", "toml");
    std::fs::write(&config, &world.config).unwrap();
    let bed = &world.bed;
    let env = [
        ("AWS_ENDPOINT_URL", bed.proxy.url.clone()),
        ("AUTOFED_CONFIG", config.display().to_string()),
        ("AUTOFED_QUEUE_URL", bed.work.url.clone()),
        ("AUTOFED_DLQ_URL", bed.dlq.url.clone()),
    ];
    let onboarder = binary_of(&profile, "account-onboarder");
    let clusters = binary_of(&profile, "cluster-onboarder");
    let empty = binary_of(&profile, "empty-function");

    let (mut ours, mut floor, mut cluster_init) = (Vec::new(), Vec::new(), Vec::new());
    // Where the onboarder's init went, as its own "context ready" line says.
    let (mut clients, mut okta) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Each round starts with the next of the three, so that none always follows the same
        // one; each process is stopped before the next starts.
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => floor.push(start(&empty, &[]).await.2),
                1 => {
                    let (_api, process, init) = start(&onboarder, &env).await;
                    ours.push(init);
                    let ready = context_ready(&process).await;
                    clients.push(Duration::from_secs_f64(
                        ready["clients_ms"].as_f64().unwrap() / 1000.0,
                    ));
                    okta.push(Duration::from_secs_f64(
                        ready["okta_ms"].as_f64().unwrap() / 1000.0,
                    ));
                }
                _ => cluster_init.push(start(&clusters, &env).await.2),
            }
        }
    }
    let (ours_ms, floor_ms) = (median_ms(&mut ours), median_ms(&mut floor));
    let cluster_ms = median_ms(&mut cluster_init);

    let (api, process, _) = start(&onboarder, &env).await;
    let s = world.subject().await;
    let event = serde_json::to_value(Queue::delivery("bench", &s.body, 1)).unwrap();
    let response = api.invoke(event, Duration::from_secs(120)).await;
    assert_eq!(response, Ok(json!({ "batchItemFailures": [] })));
    let report = process.reports().pop().expect("the onboarding's report");
    assert_eq!(report["account_id"], json!(s.account));
    let peak_rss_kib = process.peak_rss_kib();
    // The Okta secret, read by the first Okta request rather than at init: what it added.
    let secret_read_ms = process
        .log_json()
        .into_iter()
        .find(|l| l["message"] == "read the okta credentials")
        .and_then(|l| l["elapsed_ms"].as_f64())
        .expect("the first onboarding read the okta credentials");
    let (empty_api, empty_process, _) = start(&empty, &[]).await;
    assert_eq!(
        empty_api.invoke(json!({}), Duration::from_secs(10)).await,
        Ok(json!({}))
    );
    let empty_rss_kib = empty_process.peak_rss_kib();

    let dir = autofed_tests::function::target_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let figures = json!({
        "profile": profile,
        "rounds": ROUNDS,
        "init_ms_median": {
            "account_onboarder": (ours_ms * 100.0).round() / 100.0,
            "cluster_onboarder": (cluster_ms * 100.0).round() / 100.0,
            "empty_function": (floor_ms * 100.0).round() / 100.0,
        },
        "init_ratio": ((ours_ms / floor_ms) * 100.0).round() / 100.0,
        "cluster_onboarder_init_ratio": ((cluster_ms / floor_ms) * 100.0).round() / 100.0,
        "account_onboarder_init_ms_median": {
            "configuration_and_clients": (median_ms(&mut clients) * 100.0).round() / 100.0,
            "okta_client": (median_ms(&mut okta) * 100.0).round() / 100.0,
        },
        "first_onboarding_okta_secret_read_ms": (secret_read_ms * 100.0).round() / 100.0,
        "peak_rss_kib": {
            "account_onboarder_after_onboarding": peak_rss_kib,
            "empty_function_after_one_invocation": empty_rss_kib,
        },
    });
    std::fs::write(
        dir.join(format!(
            "function-{}.json",
            figures["profile"].as_str().unwrap()
        )),
        serde_json::to_string_pretty(&figures).unwrap() + "\n",
    )
    .unwrap();
    println!("{figures}");
}

/// The account onboarder as `infra/template.yaml` deploys it: its `ReservedConcurrentExecutions`,
/// its SQS mapping's `BatchSize`, and its queue's `VisibilityTimeout`.
fn onboarder_deployment() -> (usize, i32, String) {
    let template = autofed_tests::routing::template();
    let visibility = template["Resources"]["AccountEventsQueue"]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .expect("the account queue's visibility timeout")
        .to_string();
    let function = &template["Resources"]["AccountOnboarderFunction"]["Properties"];
    let concurrency = function["ReservedConcurrentExecutions"]
        .as_u64()
        .expect("the onboarder's reserved concurrency");
    let batch = function["Events"]["AccountEvents"]["Properties"]["BatchSize"]
        .as_u64()
        .expect("the onboarder's batch size");
    (concurrency as usize, batch as i32, visibility)
}

/// A backfill of `AUTOFED_BENCH_ACCOUNTS` new accounts (30 unless set; BENCHMARKS.md reports
/// 1000) under Identity Center's documented limits (20 TPS, 10 creations in progress, each
/// taking `CREATION`) and an Okta rate limit of `OKTA_PER_MINUTE` requests per endpoint: the
/// backfill's apply enqueues every account, and the account onboarder, deployed as the
/// template deploys it, works the queue. Wall time against the lower bound those limits imply
/// for the work done, and failures. Figures to `target/bench/backfill-<n>.json`.
///
/// What is asserted is correctness under the limits: nothing dead-lettered, every account
/// onboarded exactly once (one app, three assignments each), and the limits never exceeded.
#[tokio::test]
async fn backfill_under_identity_center_and_okta_limits() {
    const CREATION: Duration = Duration::from_secs(1);
    const OKTA_PER_MINUTE: usize = 1200;
    let n: usize = std::env::var("AUTOFED_BENCH_ACCOUNTS")
        .ok()
        .map(|v| v.parse().expect("AUTOFED_BENCH_ACCOUNTS is a number"))
        .unwrap_or(30);
    let (concurrency, batch_size, visibility) = onboarder_deployment();
    let mut world = World::new(Flow::Account).await;
    // The deployed retry settings, not the tests' fast ones.
    world.config = world
        .config
        .replacen(autofed_tests::flows::FAST_RETRIES, "[retry]\n", 1);
    let before_apps = world.okta().unwrap().fake.apps().len();
    let mut subjects = Vec::with_capacity(n);
    for _ in 0..n {
        subjects.push(world.subject().await);
    }
    let bed = &world.bed;
    // A batch that outlasts the test bed's default 30 s would be delivered again meanwhile.
    bed.work
        .sqs
        .set_queue_attributes()
        .queue_url(&bed.work.url)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility)
        .send()
        .await
        .unwrap();
    let limits = autofed_tests::ic_limits::Limits::documented(CREATION);
    bed.proxy.limit_identity_center(Some(limits));
    world.okta().unwrap().fake.rate_limit(OKTA_PER_MINUTE);
    bed.proxy.faults.clear_seen();

    let started = Instant::now();
    let ctx = world.context();
    let outbox = autofed::backfill::Outbox {
        forwarding: None,
        accounts_url: bed.work.url.clone(),
        clusters_url: bed.work.url.clone(),
    };
    let request =
        autofed::backfill::Request::parse(json!({"mode": "apply", "accounts": "all"})).unwrap();
    let enqueued = autofed::backfill::run(&ctx, &outbox, &request)
        .await
        .unwrap();
    let drained = std::sync::atomic::AtomicBool::new(false);
    let batches = std::sync::atomic::AtomicUsize::new(0);
    let handed_back = std::sync::atomic::AtomicUsize::new(0);
    let handled = std::sync::atomic::AtomicUsize::new(0);
    let expected = enqueued["accounts"].as_array().unwrap().len();
    let worker = || async {
        // One function instance: its context is built once, as at init.
        let ctx = world.context();
        while !drained.load(std::sync::atomic::Ordering::SeqCst) {
            let records = std::sync::atomic::AtomicUsize::new(0);
            let delivered = world
                .bed
                .work
                .deliver_up_to(batch_size, |e| {
                    records.store(e.records.len(), std::sync::atomic::Ordering::SeqCst);
                    autofed::batch::handle(&ctx, e, None)
                })
                .await;
            match delivered {
                Some(response) => {
                    batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    handled.fetch_add(
                        records.into_inner() - response.batch_item_failures.len(),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                    handed_back.fetch_add(
                        response.batch_item_failures.len(),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    let watch = async {
        // A record handed back is delivered again only after the queue's visibility timeout
        // (an hour): the run stops there, and fails below. It also stops once every enqueued
        // record was handled: moto has left a deleted message in flight (BENCHMARKS.md).
        while world.bed.work.depth().await > 0
            && handed_back.load(std::sync::atomic::Ordering::SeqCst) == 0
            && handled.load(std::sync::atomic::Ordering::SeqCst) < expected
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        drained.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let workers = futures::future::join_all((0..concurrency).map(|_| worker()));
    tokio::join!(workers, watch);
    let wall = started.elapsed();

    let bed = &world.bed;
    let ic = bed.proxy.identity_center_stats();
    bed.proxy.limit_identity_center(None);
    let okta = &world.okta().unwrap().fake;
    let (okta_refused, okta_peaks) = okta.rate_limit_stats();
    let dead = bed.dlq.take_dead_letters().await;
    let apps = okta.apps().len() - before_apps;
    let calls = bed.proxy.faults.calls();
    let okta_calls: BTreeMap<String, usize> = calls
        .iter()
        .filter(|s| s.service == autofed_tests::faults::Service::Okta)
        .fold(BTreeMap::new(), |mut m, s| {
            let endpoint = s.call.split_once(' ').map_or(s.call.as_str(), |p| p.1);
            *m.entry(endpoint.to_string()).or_default() += 1;
            m
        });

    // The lower bound the limits imply for this work: creations through the in-progress limit,
    // Identity Center's calls through its rate, each Okta endpoint's calls through its rate.
    let in_progress_bound = ic.creations as f64 * CREATION.as_secs_f64() / 10.0;
    let creations_tps_bound = ic.creations as f64 / 20.0;
    let calls_tps_bound = ic.admitted as f64 / 20.0;
    let okta_bound =
        okta_calls.values().max().copied().unwrap_or(0) as f64 / OKTA_PER_MINUTE as f64 * 60.0;
    let bound = in_progress_bound.max(calls_tps_bound).max(okta_bound);
    let figures = json!({
        "accounts": n,
        "onboarder": {"concurrency": concurrency, "batch_size": batch_size},
        "limits": {"identity_center": limits, "okta_per_minute_per_endpoint": OKTA_PER_MINUTE},
        "enqueued": enqueued,
        "wall_seconds": (wall.as_secs_f64() * 10.0).round() / 10.0,
        "lower_bound_seconds": {
            "creations_in_progress": in_progress_bound,
            "creations_at_20_tps": creations_tps_bound,
            "identity_center_calls_at_20_tps": calls_tps_bound,
            "busiest_okta_endpoint": (okta_bound * 10.0).round() / 10.0,
            "bound": (bound * 10.0).round() / 10.0,
        },
        "wall_over_bound": ((wall.as_secs_f64() / bound) * 100.0).round() / 100.0,
        "failures": dead.len(),
        "batches": batches.into_inner(),
        "records_handed_back": handed_back.into_inner(),
        "records_handled": handled.into_inner(),
        "left_in_queue": bed.work.depth().await,
        "identity_center": ic,
        "okta": {"refused": okta_refused, "calls_by_endpoint": okta_calls, "peak_per_window": okta_peaks},
    });
    let dir = autofed_tests::function::target_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("backfill-{n}.json")),
        serde_json::to_string_pretty(&figures).unwrap() + "\n",
    )
    .unwrap();
    println!("{figures}");

    assert!(dead.is_empty(), "dead-lettered: {dead:?}");
    assert_eq!(figures["records_handed_back"], 0, "records handed back");
    // The organization's other accounts were enqueued too (all but the first case's, onboarded
    // already, and the management account).
    let others = enqueued["accounts"].as_array().unwrap().len() - 1 - n;
    assert_eq!(apps, n + others, "one Okta app per account");
    assert!(
        ic.creations <= 3 * (n + others) && ic.creations >= 3 * n,
        "each assignment created once: {ic:?}"
    );
    assert!(ic.peak_in_progress <= 10 && ic.peak_tps <= 20, "{ic:?}");
    // Every account ended as the first did (ids normalized).
    let first = world.state(&subjects[0]).await;
    for s in &subjects[1..] {
        assert_eq!(world.state(s).await, first, "{}", s.account);
    }
}
