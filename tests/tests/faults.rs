//! Fault injection at every call site. Each onboarding is first run clean, which names its call
//! sites (every AWS operation, Okta and Kubernetes call it makes). Then, for every site:
//!
//! - each kind of fault (throttling, a server error, a reset connection, a timeout) on two
//!   attempts in a row, within the three-attempt budget: the delivery succeeds, except where
//!   retrying is unsafe and the message is handed back instead (a POST to Okta that may have
//!   reached it); either way the end state equals the clean run's;
//! - a server error on every attempt: the message is handed back to the queue (a batch item
//!   failure, nothing dead-lettered), and once the fault is gone the next delivery ends in the
//!   clean run's state.
//!
//! The Okta secret's read is one of those sites: it is made by the first Okta request, not at
//! init.

use autofed_tests::{
    faults::{KINDS, Kind, Service, Site},
    flows::{Flow, World},
};

/// Whether a call may be retried in the same delivery after `kind`: everything but a POST to
/// Okta whose answer was lost (it may have created something; the next delivery observes
/// first).
fn retried_in_place(site: &Site, kind: Kind) -> bool {
    !(site.service == Service::Okta
        && site.call.starts_with("POST ")
        && matches!(kind, Kind::Reset | Kind::Timeout))
}

async fn every_call_site_survives_its_faults(flow: Flow) {
    let mut world = World::new(flow).await;
    let faults = world.bed.proxy.faults.clone();

    let clean = world.subject().await;
    faults.clear_seen();
    let ctx = world.context();
    let init_sites = faults.sites();
    faults.clear_seen();
    let response = world.deliver(&ctx, &clean, 1).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let want = world.state(&clean).await;
    let sites = faults.sites();
    let services: std::collections::BTreeSet<Service> = sites.iter().map(|s| s.service).collect();
    let expected = match flow {
        Flow::Account => vec![Service::Aws, Service::Okta],
        _ => vec![Service::Aws, Service::Kube],
    };
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        expected,
        "{sites:#?}"
    );
    tracing::info!(flow = ?flow, sites = sites.len(), "call sites");

    let mut outcomes = Vec::new();
    for site in &sites {
        for kind in KINDS {
            let s = world.subject().await;
            // A context per case, as a fresh function instance: the SDK's retry quota is
            // per client.
            let ctx = world.context();
            faults.inject(site, kind, 2);
            let first = world.deliver(&ctx, &s, 1).await;
            faults.clear();
            let survived = first.batch_item_failures.is_empty();
            if !survived {
                let second = world.deliver(&ctx, &s, 2).await;
                assert!(
                    second.batch_item_failures.is_empty(),
                    "{site} {kind:?}: the redelivery failed too"
                );
            }
            assert_eq!(
                survived,
                retried_in_place(site, kind),
                "{site} {kind:?}: survived in place = {survived}"
            );
            assert_eq!(world.bed.dlq.depth().await, 0, "{site} {kind:?}");
            let got = world.state(&s).await;
            assert!(
                got == want,
                "{site} {kind:?}: end state differs:\n{got}\nwant:\n{want}"
            );
            outcomes.push(format!(
                "{site} {kind:?} {}",
                if survived { "retried" } else { "handed back" }
            ));
        }

        // Past the budget: handed back, then converged.
        let s = world.subject().await;
        let ctx = world.context();
        faults.inject(site, Kind::ServerError, usize::MAX);
        let first = world.deliver(&ctx, &s, 1).await;
        faults.clear();
        assert_eq!(
            first.batch_item_failures.len(),
            1,
            "{site}: a call failing on every attempt hands the message back"
        );
        assert_eq!(world.bed.dlq.depth().await, 0, "{site}: not dead-lettered");
        let second = world.deliver(&ctx, &s, 2).await;
        assert!(second.batch_item_failures.is_empty(), "{site}: {second:?}");
        let got = world.state(&s).await;
        assert!(
            got == want,
            "{site} past its budget: end state differs:\n{got}\nwant:\n{want}"
        );
        outcomes.push(format!("{site} ServerError×∞ handed back"));
    }
    // Init makes no call: the Okta secret is read by the first Okta request, so it is one of
    // the call sites above, faulted like every other.
    assert!(init_sites.is_empty(), "{init_sites:?}");
    assert_eq!(
        sites
            .iter()
            .any(|s| s.service == Service::Aws && s.call == "GetSecretValue"),
        flow == Flow::Account,
        "{sites:?}"
    );

    // The matrix for the record (and the note).
    let path = autofed_tests::function::target_dir().join(format!("faults-{flow:?}.txt"));
    std::fs::write(&path, outcomes.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn every_call_site_of_an_account_onboarding_survives_its_faults() {
    every_call_site_survives_its_faults(Flow::Account).await;
}

#[tokio::test]
async fn every_call_site_of_an_access_entry_cluster_onboarding_survives_its_faults() {
    every_call_site_survives_its_faults(Flow::ApiCluster).await;
}

#[tokio::test]
async fn every_call_site_of_an_aws_auth_cluster_onboarding_survives_its_faults() {
    every_call_site_survives_its_faults(Flow::ConfigMapCluster).await;
}
