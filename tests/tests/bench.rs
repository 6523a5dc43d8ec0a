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
use autofed_tests::flows::{Flow, REGION, Subject, World};
use serde_json::json;

async fn plan(world: &World, s: &Subject) -> Report {
    let ctx = world.context().await;
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
    match outcome.unwrap() {
        Outcome::Reconciled(r) => *r,
        other => panic!("not reconciled: {other:?}"),
    }
}

#[tokio::test]
async fn writes_per_change_reads_per_write_and_rerun_writes() {
    let mut rows = Vec::new();
    for flow in [Flow::Account, Flow::ApiCluster, Flow::ConfigMapCluster] {
        let mut world = World::new(flow).await;
        let faults = world.bed.proxy.faults.clone();
        let s = world.subject().await;
        let planned = plan(&world, &s).await;
        let changes = planned
            .actions
            .iter()
            .filter(|a| a.kind != ActionKind::Manual)
            .count();

        let ctx = world.context().await;
        faults.clear_seen();
        let first = world.deliver(&ctx, &s, 1).await;
        assert!(first.batch_item_failures.is_empty(), "{flow:?}: {first:?}");
        let calls = faults.calls().len();
        let writes = faults.writes().len();
        let reads = calls - writes;

        faults.clear_seen();
        let again = world.deliver(&ctx, &s, 2).await;
        assert!(again.batch_item_failures.is_empty());
        let rerun_writes = faults.writes().len();
        let rerun_reads = faults.calls().len() - rerun_writes;

        let per_change = writes as f64 / changes as f64;
        let reads_per_write = reads as f64 / writes as f64;
        // aws-auth rows are changes of one object, written in one PUT: fewer calls than
        // changes there.
        assert!(
            per_change <= 1.0,
            "{flow:?}: {writes} writes for {changes} changes"
        );
        assert_eq!(rerun_writes, 0, "{flow:?}: a rerun wrote");
        rows.push(json!({
            "flow": format!("{flow:?}"),
            "changes_planned": changes,
            "write_calls": writes,
            "read_calls": reads,
            "writes_per_change": per_change,
            "reads_per_write": (reads_per_write * 100.0).round() / 100.0,
            "rerun_write_calls": rerun_writes,
            "rerun_read_calls": rerun_reads,
        }));
    }
    let dir = autofed_tests::function::target_dir().join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("onboarding.json"),
        serde_json::to_string_pretty(&json!({ "onboarding": rows })).unwrap() + "\n",
    )
    .unwrap();
}
