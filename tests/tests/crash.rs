//! Crash convergence. An onboarding is first run clean, counting its writes (AWS, Okta,
//! Kubernetes). Then, for every k from 1 to that count, a new subject's onboarding is stopped
//! after its k-th write, as if the function died: that write takes effect, its answer is lost,
//! and nothing after it is served. The message is then delivered again to a new instance:
//!
//! - it succeeds, making exactly the writes the crashed run did not (no write is repeated);
//! - the end state equals the clean run's (no duplicate app, entry or aws-auth row, nothing
//!   left half-made);
//! - a further delivery writes nothing.

use autofed_tests::flows::{Flow, World};

async fn every_crash_point_converges(flow: Flow) {
    let mut world = World::new(flow).await;
    let faults = world.bed.proxy.faults.clone();

    let clean = world.subject().await;
    let ctx = world.context();
    faults.clear_seen();
    let response = world.deliver(&ctx, &clean, 1).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let writes = faults.writes();
    let want = world.state(&clean).await;
    assert!(writes.len() >= 4, "{writes:#?}");

    let mut lines = Vec::new();
    for k in 1..=writes.len() {
        let s = world.subject().await;
        let ctx = world.context();
        faults.crash_after_writes(k);
        let crashed = tokio::select! {
            _ = world.deliver(&ctx, &s, 1) => false,
            _ = faults.crashed() => true,
        };
        faults.clear();
        assert!(crashed, "k = {k}: the run ended before its write {k}");
        drop(ctx);

        // Redelivered to a new instance.
        let ctx = world.context();
        faults.clear_seen();
        let again = world.deliver(&ctx, &s, 2).await;
        assert!(
            again.batch_item_failures.is_empty(),
            "k = {k}: the redelivery failed: {again:?}"
        );
        let redone = faults.writes();
        assert_eq!(
            redone.len(),
            writes.len() - k,
            "k = {k}: the redelivery wrote {redone:#?}"
        );
        let got = world.state(&s).await;
        assert!(
            got == want,
            "k = {k}: end state differs:\n{got}\nwant:\n{want}"
        );
        faults.clear_seen();
        let third = world.deliver(&ctx, &s, 3).await;
        assert!(third.batch_item_failures.is_empty());
        assert_eq!(faults.writes(), vec![], "k = {k}: a rerun wrote");
        assert_eq!(world.bed.dlq.depth().await, 0);
        lines.push(format!(
            "k = {k:2}: crashed after {}; redelivery made {} writes",
            writes[k - 1],
            redone.len()
        ));
    }
    let path = autofed_tests::function::target_dir().join(format!("crash-{flow:?}.txt"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn an_account_onboarding_converges_from_a_crash_after_any_write() {
    every_crash_point_converges(Flow::Account).await;
}

#[tokio::test]
async fn an_access_entry_cluster_onboarding_converges_from_a_crash_after_any_write() {
    every_crash_point_converges(Flow::ApiCluster).await;
}

#[tokio::test]
async fn an_aws_auth_cluster_onboarding_converges_from_a_crash_after_any_write() {
    every_crash_point_converges(Flow::ConfigMapCluster).await;
}
