//! Watch event throughput (figure 6, issue 11): one watch that the API
//! stand-in fills with N events as fast as they are read
//! (`tests/it/support/apiserver/events.rs`), read to its end, proxied and
//! direct in turns. The reader is reqwest, which speaks HTTP/2 where the
//! server offers it, as client-go does; events are counted as lines.

use std::time::{Duration, Instant};

/// What reading one watch to its end saw.
#[derive(Debug, Clone)]
pub struct Drained {
    pub events: u64,
    pub bytes: u64,
    /// From the request's send to the body's end.
    pub wall: Duration,
    /// The HTTP version the server answered with.
    pub version: String,
}

impl Drained {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A client of one target: trusts only `ca_pem`, sends `headers` with
/// every watch.
pub struct Watcher {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    headers: reqwest::header::HeaderMap,
}

impl Watcher {
    pub fn new(base: &str, ca_pem: &str, headers: &[(&str, &str)]) -> Watcher {
        kaccess::http::install_crypto_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
        let client = rt
            .block_on(async { reqwest::Client::builder().tls_certs_only([ca]).build() })
            .expect("client");
        let headers = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.parse::<reqwest::header::HeaderName>()
                        .expect("header name"),
                    v.parse().expect("header value"),
                )
            })
            .collect();
        Watcher {
            rt,
            client,
            base: base.trim_end_matches('/').to_string(),
            headers,
        }
    }

    /// Reads the watch `path` to its end (or `limit`). Panics on an answer
    /// other than 200: the figure would mean nothing.
    pub fn drain(&self, path: &str, limit: Duration) -> Drained {
        self.rt.block_on(async {
            let start = Instant::now();
            let mut resp = self
                .client
                .get(format!("{}{path}", self.base))
                .headers(self.headers.clone())
                .timeout(limit)
                .send()
                .await
                .expect("the watch is answered");
            assert_eq!(resp.status(), 200, "GET {path}");
            let version = format!("{:?}", resp.version());
            let (mut events, mut bytes) = (0u64, 0u64);
            // A timeout or a reset ends the count short: the caller sees
            // fewer events than it asked for.
            while let Ok(Some(chunk)) = resp.chunk().await {
                bytes += chunk.len() as u64;
                events += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            Drained {
                events,
                bytes,
                wall: start.elapsed(),
                version,
            }
        })
    }
}

/// The round with the median event rate (of an odd count, the middle one).
pub fn median(mut rounds: Vec<Drained>) -> Drained {
    rounds.sort_by(|a, b| a.events_per_s().total_cmp(&b.events_per_s()));
    rounds.swap_remove((rounds.len().max(1) - 1) / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(events: u64, ms: u64) -> Drained {
        Drained {
            events,
            bytes: events * 1_000,
            wall: Duration::from_millis(ms),
            version: "HTTP/2.0".into(),
        }
    }

    #[test]
    fn the_median_round_is_the_middle_rate_not_the_mean() {
        // 1,000/s, 10,000/s and 2,000/s: the mean would be 4,333/s.
        let m = median(vec![
            round(1_000, 1_000),
            round(10_000, 1_000),
            round(2_000, 1_000),
        ]);
        assert_eq!(m.events_per_s(), 2_000.0);
        assert_eq!(m.mb_per_s(), 2.0);
    }

    #[test]
    fn a_rate_counts_events_over_the_whole_wall_time() {
        let r = round(500, 250);
        assert_eq!(r.events_per_s(), 2_000.0);
    }
}
