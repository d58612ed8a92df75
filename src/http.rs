//! The one HTTP client setup for talking to the IdP and the broker, and the
//! adapter that lets `openidconnect`/`oauth2` use it (they are built without
//! their own reqwest so only one reqwest and one rustls end up in the binary).

use anyhow::{Context, Result};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// Installs ring as the process-wide rustls provider. Idempotent; every
/// entry point that may do TLS calls it first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Connect and whole-request timeouts: an IdP or broker that hangs must turn
/// into exit 5 quickly, not a stuck kubectl.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `$KACCESS_HTTP_TIMEOUT` (like cargo's `CARGO_HTTP_TIMEOUT`): a shorter
/// or longer whole-request timeout for slow links, and for tests of a
/// server that never answers.
pub const TIMEOUT_ENV: &str = "KACCESS_HTTP_TIMEOUT";

/// (connect, whole request) timeouts: the defaults, or `$KACCESS_HTTP_TIMEOUT`
/// for the request with the connect timeout capped by it.
pub fn timeouts() -> Result<(Duration, Duration)> {
    timeouts_from(std::env::var_os(TIMEOUT_ENV))
}

fn timeouts_from(raw: Option<std::ffi::OsString>) -> Result<(Duration, Duration)> {
    let Some(raw) = raw.filter(|v| !v.is_empty()) else {
        return Ok((CONNECT_TIMEOUT, REQUEST_TIMEOUT));
    };
    let bad = |why: String| {
        crate::error::Failure::usage(format!("`{TIMEOUT_ENV}`: {why}")).help(format!(
            "use a duration such as `30s`, or unset `{TIMEOUT_ENV}`"
        ))
    };
    let text = raw.to_str().ok_or_else(|| bad("not valid UTF-8".into()))?;
    let total = crate::units::parse_duration(text).map_err(|e| bad(e.to_string()))?;
    if total.is_zero() {
        return Err(bad("must be longer than zero".into()).into());
    }
    Ok((CONNECT_TIMEOUT.min(total), total))
}

/// Reads a PEM bundle for use as extra trust roots.
pub fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read CA file `{}`", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("`{}` is not a PEM certificate bundle", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "`{}` holds no PEM certificate",
        path.display()
    );
    Ok(certs)
}

/// Builds a client that trusts the platform roots plus `extra_roots`, never
/// follows redirects (OAuth endpoints must not be redirected), and times out.
pub fn client(extra_roots: Vec<reqwest::Certificate>) -> Result<reqwest::Client> {
    install_crypto_provider();
    let (connect, total) = timeouts()?;
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(total)
        .user_agent(concat!("kaccess/", env!("CARGO_PKG_VERSION")));
    if !extra_roots.is_empty() {
        b = b.tls_certs_merge(extra_roots);
    }
    b.build().context("cannot set up the HTTP client")
}

/// A client for an answer that streams for as long as it is wanted (the
/// live audit feed): no whole-request timeout, but a read that waits
/// longer than `idle` fails, so a broker that vanished without closing
/// the connection is noticed.
pub fn streaming_client(
    extra_roots: Vec<reqwest::Certificate>,
    idle: Duration,
) -> Result<reqwest::Client> {
    install_crypto_provider();
    let (connect, _) = timeouts()?;
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .read_timeout(idle)
        .user_agent(concat!("kaccess/", env!("CARGO_PKG_VERSION")));
    if !extra_roots.is_empty() {
        b = b.tls_certs_merge(extra_roots);
    }
    b.build().context("cannot set up the HTTP client")
}

/// Failure of one HTTP exchange made on behalf of `openidconnect`.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    #[error("cannot build HTTP response: {0}")]
    Http(#[from] http::Error),
}

/// The future every `AsyncHttpClient` of ours returns.
pub type OidcFuture<'c> =
    Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, AdapterError>> + Send + 'c>>;

/// `openidconnect::AsyncHttpClient` over our reqwest client.
#[derive(Clone, Debug)]
pub struct OidcHttp(pub reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = AdapterError;
    type Future = OidcFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = self.0.execute(request).await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(builder.body(body)?)
        })
    }
}

/// True when an error chain says the peer could not be reached at all
/// (connect refused, DNS, TLS handshake, timeout): exit code 5.
pub fn is_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        // `AdapterError` is `#[error(transparent)]`: its `source()` skips
        // the reqwest error itself, so a timeout would not be seen below.
        let reqwest_err = match e.downcast_ref::<AdapterError>() {
            Some(AdapterError::Reqwest(r)) => Some(r),
            _ => e.downcast_ref::<reqwest::Error>(),
        };
        if let Some(r) = reqwest_err
            && (r.is_connect() || r.is_timeout())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_env_replaces_the_request_timeout_and_caps_connect() {
        assert_eq!(
            timeouts_from(None).unwrap(),
            (CONNECT_TIMEOUT, REQUEST_TIMEOUT)
        );
        assert_eq!(
            timeouts_from(Some("3s".into())).unwrap(),
            (Duration::from_secs(3), Duration::from_secs(3))
        );
        assert_eq!(
            timeouts_from(Some("2m".into())).unwrap(),
            (CONNECT_TIMEOUT, Duration::from_secs(120))
        );
    }

    #[test]
    fn bad_timeout_env_is_a_usage_error_naming_the_variable() {
        use std::os::unix::ffi::OsStringExt;
        for raw in [
            std::ffi::OsString::from("soon"),
            std::ffi::OsString::from("0s"),
            std::ffi::OsString::from_vec(vec![0xff, b's']),
        ] {
            let err = timeouts_from(Some(raw.clone())).unwrap_err();
            assert_eq!(
                crate::error::exit_of(&err),
                crate::error::Exit::Usage,
                "{raw:?}"
            );
            assert!(format!("{err:#}").contains(TIMEOUT_ENV), "{err:#}");
        }
    }
}
