//! Client construction: one place, so that every client carries the call recorder.

use std::{
    fmt,
    ops::Deref,
    sync::{Arc, OnceLock},
};

use aws_config::SdkConfig;

use crate::{aws::pace, calls::RecordCalls};

macro_rules! client {
    ($(#[$doc:meta])* $fn_name:ident, $krate:ident) => {
        $(#[$doc])*
        pub fn $fn_name(conf: &SdkConfig) -> $krate::Client {
            $krate::Client::from_conf(
                $krate::config::Builder::from(conf)
                    .interceptor(RecordCalls)
                    .build(),
            )
        }
    };
}

client!(
    /// CloudFormation, in the region of the configuration it is built from.
    cloudformation,
    aws_sdk_cloudformation
);
client!(
    /// IAM, in the account the configuration's credentials belong to.
    iam,
    aws_sdk_iam
);
client!(
    /// IAM Identity Center's identity store.
    identity_store,
    aws_sdk_identitystore
);
client!(
    /// Organizations.
    organizations,
    aws_sdk_organizations
);
client!(
    /// Secrets Manager.
    secrets_manager,
    aws_sdk_secretsmanager
);
client!(
    /// SQS.
    sqs,
    aws_sdk_sqs
);
/// IAM Identity Center administration. Its whole API shares one rate (20 TPS) among every
/// caller: the client sends `calls_per_second`, this instance's share, and borrows up to
/// twice that (at most the service's 20) while nothing is throttled (see [`pace`]). What is
/// throttled all the same is retried as any throttling is, with twice the attempts of other
/// clients (`retry.call_attempts`): a throttle here is how instances learn they borrow too
/// much, so throttles are expected, and while two instances probe, one call can meet several
/// in a row (a 1000-account backfill once handed an account back after four).
pub fn sso_admin(conf: &SdkConfig, calls_per_second: u32) -> aws_sdk_ssoadmin::Client {
    let mut builder = aws_sdk_ssoadmin::config::Builder::from(conf).interceptor(RecordCalls);
    if let Some(retry) = conf.retry_config() {
        let attempts = retry.max_attempts().saturating_mul(2);
        builder = builder.retry_config(retry.clone().with_max_attempts(attempts));
    }
    if let Some(base) = pace::base_client(conf) {
        let pacer = Arc::new(pace::Pacer::new(
            calls_per_second,
            crate::aws::sso::MAX_CALLS_PER_SECOND,
        ));
        builder = builder
            .http_client(pace::paced(base, pacer.clone()))
            .interceptor(pace::Feedback(pacer));
    }
    aws_sdk_ssoadmin::Client::from_conf(builder.build())
}
client!(
    /// STS.
    sts,
    aws_sdk_sts
);
client!(
    /// EKS, in the region of the configuration it is built from.
    eks,
    aws_sdk_eks
);

/// A client built at most once per function instance: at init when the function's every
/// invocation uses it ([`OnDemand::warm`], as [`crate::context::Needs`] asks), otherwise by its
/// first use. It dereferences to the client, so call sites read as if it were one; any
/// dereference builds it, a coercion of `&OnDemand<C>` to `&C` included.
///
/// Why not build every client at init: each SDK crate parses its own copy of AWS's partition
/// table (5.6 KB of JSON, eight region regexes) when its first client is built, about 430,000
/// instructions a crate. A client that only a failure path needs (SQS, to re-queue or
/// dead-letter) or that a function's flow never calls (Identity Center in the cluster
/// onboarder) is then built only by an instance that uses it.
pub struct OnDemand<C> {
    client: OnceLock<C>,
    build: Box<dyn Fn() -> C + Send + Sync>,
}

impl<C> OnDemand<C> {
    /// A client `build` makes when it is first needed.
    pub fn new(build: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self {
            client: OnceLock::new(),
            build: Box::new(build),
        }
    }

    /// A client `build` makes from `conf` (one of this module's constructors) when it is first
    /// needed.
    pub fn with(conf: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self
    where
        C: 'static,
    {
        let conf = conf.clone();
        Self::new(move || build(&conf))
    }

    /// Builds the client now: at init, for what every invocation uses.
    pub fn warm(&self) {
        self.get();
    }

    /// The client, built by this call if no call before built it.
    pub fn get(&self) -> &C {
        self.client.get_or_init(&self.build)
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> Deref for OnDemand<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.get()
    }
}

impl<C> fmt::Debug for OnDemand<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnDemand")
            .field("built", &self.is_built())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn builds_once_on_first_use_or_when_warmed() {
        static BUILDS: AtomicUsize = AtomicUsize::new(0);
        let build = || BUILDS.fetch_add(1, Ordering::SeqCst) + 1;
        let lazy = OnDemand::new(build);
        assert!(!lazy.is_built());
        assert_eq!(BUILDS.load(Ordering::SeqCst), 0);
        assert_eq!(*lazy, 1);
        assert_eq!(*lazy.get(), 1);
        assert!(lazy.is_built());
        let warm = OnDemand::new(build);
        warm.warm();
        warm.warm();
        assert!(warm.is_built());
        assert_eq!(*warm, 2);
        assert_eq!(BUILDS.load(Ordering::SeqCst), 2);
    }
}
