//! `KACCESS_TRACE_TIMINGS=1`: where the client's time goes. Every `tracing`
//! span closed in the process prints `kaccess: timing NAME MICROSECONDS`
//! on stderr (wall time from the span's creation to its close). The login
//! path has spans from the IdP's token response to the session files on
//! disk; `scripts/bench` reads them (issue 6). Off unless the variable is
//! set, and never on the broker, which has its own logging.

use std::time::{Duration, Instant};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub const ENV: &str = "KACCESS_TRACE_TIMINGS";

/// When a span was created.
struct Opened(Instant);

type Sink = Box<dyn Fn(&'static str, Duration) + Send + Sync>;

/// The layer that reports closed spans' wall times.
pub struct Timings {
    sink: Sink,
}

impl Timings {
    /// Reports to `sink` (tests, other reporters).
    pub fn new(sink: impl Fn(&'static str, Duration) + Send + Sync + 'static) -> Timings {
        Timings {
            sink: Box::new(sink),
        }
    }

    /// Prints `kaccess: timing NAME MICROSECONDS` on stderr.
    pub fn stderr() -> Timings {
        Timings::new(|name, d| eprintln!("kaccess: timing {name} {}", d.as_micros()))
    }
}

impl<S> Layer<S> for Timings
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Opened(t)) = span.extensions().get::<Opened>()
        {
            (self.sink)(span.name(), t.elapsed());
        }
    }
}

/// Installs [`Timings`] when `KACCESS_TRACE_TIMINGS` is set (not `0`).
pub fn init_from_env() {
    if std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let _ = tracing_subscriber::registry()
            .with(Timings::stderr())
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn each_closed_span_is_reported_once_with_its_whole_life() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let subscriber = tracing_subscriber::registry().with(Timings::new(move |name, d| {
            sink.lock().unwrap().push((name, d))
        }));
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer");
            outer.in_scope(|| {
                tracing::info_span!("inner")
                    .in_scope(|| std::thread::sleep(Duration::from_millis(5)));
            });
            // Not closed until dropped: time between scopes counts too.
            std::thread::sleep(Duration::from_millis(5));
        });
        let seen = seen.lock().unwrap();
        let names: Vec<_> = seen.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["inner", "outer"]);
        assert!(seen[0].1 >= Duration::from_millis(5));
        assert!(seen[1].1 >= Duration::from_millis(10), "{:?}", seen[1].1);
    }
}
