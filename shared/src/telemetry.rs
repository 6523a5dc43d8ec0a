//! Structured JSON logs, one line per event, as CloudWatch Logs Insights reads them.

use tracing::Level;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};

/// The environment variable that sets which events are logged.
pub const LOG_ENV: &str = "RUST_LOG";

/// Installs the JSON subscriber, filtered by [`LOG_ENV`] (default `info`).
pub fn init() {
    let _already_set = tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .finish()
        .with(filter(std::env::var(LOG_ENV).ok().as_deref()))
        .try_init();
}

/// The filter a [`LOG_ENV`] value asks for: a default level and levels per module, as
/// `info,autofed=debug,aws_smithy_runtime=warn`; `info` when it is unset, empty or not such a
/// list.
///
/// NB: `Targets`, not `EnvFilter`: these lists are all a function's operator sets, and
/// `EnvFilter`'s span and field matching brings a regex engine into every function, to be
/// linked and relocated at each cold start, and built at init.
pub fn filter(value: Option<&str>) -> Targets {
    value
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn a_level_list_sets_levels_per_module_and_anything_else_means_info() {
        let f = filter(Some("warn,autofed=debug"));
        assert_eq!(f.default_level(), Some(LevelFilter::WARN));
        assert!(f.would_enable("autofed::onboard", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        for v in [
            None,
            Some(""),
            Some("  "),
            Some("autofed=loud"),
            Some("[span]=x"),
        ] {
            let f = filter(v);
            assert_eq!(f.default_level(), Some(LevelFilter::INFO), "{v:?}");
            assert!(!f.would_enable("autofed", &Level::DEBUG), "{v:?}");
        }
    }
}
