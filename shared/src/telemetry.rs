//! Structured JSON logs, one line per event, as CloudWatch Logs Insights reads them.

use tracing::{Level, Subscriber};
use tracing_subscriber::{
    filter::Targets, fmt, layer::SubscriberExt, registry::LookupSpan, util::SubscriberInitExt,
};

/// The environment variable that sets which events are logged.
pub const LOG_ENV: &str = "RUST_LOG";

/// Installs the JSON subscriber, filtered by [`LOG_ENV`] (default `info`).
pub fn init() {
    let _already_set = subscriber(std::env::var(LOG_ENV).ok().as_deref()).try_init();
}

/// The JSON subscriber to standard output, logging what `log` (a [`LOG_ENV`] value) asks for.
///
/// NB: the filter is the only one. `fmt()`'s builder caps a subscriber at `info` unless told
/// otherwise, and a `Targets` layered over it could only narrow that, never log `debug`.
pub fn subscriber(log: Option<&str>) -> impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync {
    tracing_subscriber::registry().with(filter(log)).with(
        fmt::layer()
            .json()
            .with_target(false)
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true),
    )
}

/// The filter a [`LOG_ENV`] value asks for: a default level and levels per module, as
/// `info,autofed=debug,aws_smithy_runtime=warn`; `info` when it is unset, empty or not such a
/// list. Empty entries (`info,`) are ignored, as `EnvFilter` ignored them.
///
/// NB: `Targets`, not `EnvFilter`: these lists are all a function's operator sets, and
/// `EnvFilter`'s span and field matching brings a regex engine into every function, to be
/// linked and relocated at each cold start, and built at init.
pub fn filter(value: Option<&str>) -> Targets {
    let entries = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let info = || Targets::new().with_default(Level::INFO);
    if entries.is_empty() {
        return info();
    }
    entries.parse().unwrap_or_else(|_| info())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn a_level_list_sets_levels_per_module_and_anything_else_means_info() {
        for v in ["warn,autofed=debug", " warn , , autofed=debug,"] {
            let f = filter(Some(v));
            assert_eq!(f.default_level(), Some(LevelFilter::WARN), "{v:?}");
            assert!(f.would_enable("autofed::onboard", &Level::DEBUG), "{v:?}");
            assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO), "{v:?}");
        }
        for v in [
            None,
            Some(""),
            Some(" , "),
            Some("autofed=loud"),
            Some("[span]=x"),
        ] {
            let f = filter(v);
            assert_eq!(f.default_level(), Some(LevelFilter::INFO), "{v:?}");
            assert!(!f.would_enable("autofed", &Level::DEBUG), "{v:?}");
        }
    }

    #[test]
    fn the_installed_subscriber_logs_what_the_value_asks_for_below_info_too() {
        tracing::subscriber::with_default(subscriber(Some("warn,autofed=trace")), || {
            assert!(tracing::enabled!(target: "autofed::onboard", Level::TRACE));
            assert!(tracing::enabled!(target: "aws_smithy_runtime", Level::WARN));
            assert!(!tracing::enabled!(target: "aws_smithy_runtime", Level::INFO));
        });
        tracing::subscriber::with_default(subscriber(None), || {
            assert!(tracing::enabled!(target: "autofed::onboard", Level::INFO));
            assert!(!tracing::enabled!(target: "autofed::onboard", Level::DEBUG));
        });
    }
}
