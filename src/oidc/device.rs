//! The device flow (RFC 8628) for machines without a usable browser: the
//! verification URI, the user code and (on a terminal) a QR code of
//! `verification_uri_complete` go to stderr, then the token endpoint is
//! polled at the IdP's `interval` (slower after `slow_down`) until the user
//! approves, denies, or the code expires — or the IdP stops answering.

use super::login::{BaseClient, RequestParams, TokenResponse, token_request_error};
use crate::error::Failure;
use crate::http::{AdapterError, OidcHttp};
use crate::units::format_duration;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use oauth2::DeviceCodeErrorResponseType;
use oauth2::{DeviceAuthorizationUrl, RequestTokenError, StandardDeviceAuthorizationResponse};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Runs the device flow; gives up at the code's `expires_in` or `timeout`,
/// whichever comes first.
pub async fn login(
    client: BaseClient,
    device_url: DeviceAuthorizationUrl,
    http: &OidcHttp,
    params: &RequestParams,
    timeout: Duration,
) -> Result<TokenResponse> {
    let client = client.set_device_authorization_url(device_url);
    let mut request = client.exchange_device_code().add_scopes(params.scopes());
    // Asking for MFA must not depend on the flow: the device request
    // carries `acr_values`/`max_age` exactly like the browser one.
    for (name, value) in params.extra_params() {
        request = request.add_extra_param(name, value);
    }
    let details: StandardDeviceAuthorizationResponse = request
        .request_async(http)
        .await
        .map_err(|e| token_request_error(e, "start the device login"))?;

    let wait = details.expires_in().min(timeout);
    show_instructions(&details, wait);

    let bar = countdown(wait);
    let expires = Instant::now() + wait;
    let sleep_bar = bar.clone();
    let watched = Watched::new(http.clone());
    let gave_up = watched.gave_up.clone();
    let result = tokio::select! {
        r = client
            .exchange_device_access_token(&details)
            .request_async(
                &watched,
                move |d| sleep_with_countdown(d, sleep_bar.clone(), expires),
                Some(wait),
            ) => r,
        () = gave_up.notified() => {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return Err(Failure::unreachable(format!(
                "cannot reach the identity provider while waiting for the device login ({MAX_UNREACHABLE_POLLS} polls in a row failed)"
            ))
            .help("check the network and the IdP, then run the login again")
            .into());
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            DeviceCodeErrorResponseType::AccessDenied => Failure::denied(
                "the login was denied at the identity provider",
            )
            .help(
                "approve the request on the verification page, or ask why your account was refused",
            )
            .into(),
            DeviceCodeErrorResponseType::ExpiredToken => Failure::error(format!(
                "the device code expired before the login was approved (it was valid for {})",
                format_duration(wait)
            ))
            .help("run the login again and approve it in time")
            .into(),
            _ => token_request_error(
                RequestTokenError::ServerResponse(r),
                "finish the device login",
            ),
        },
        other => token_request_error(other, "finish the device login"),
    })
}

fn show_instructions(details: &StandardDeviceAuthorizationResponse, wait: Duration) {
    let uri = details.verification_uri().as_str();
    let code = details.user_code().secret();
    eprintln!("To sign in, open this page on any device:\n  {uri}\nand enter the code: {code}");
    if let Some(complete) = details.verification_uri_complete() {
        let complete = complete.secret();
        // A QR code is for a phone's camera: drawn on a terminal, never
        // into a log or a CI transcript, where the link itself serves.
        match qr_art(complete).filter(|_| std::io::stderr().is_terminal()) {
            Some(art) => eprintln!("Or scan this QR code (opens {complete}):\n{art}"),
            None => eprintln!("Or open: {complete}"),
        }
    }
    eprintln!(
        "Waiting for approval; the code expires in {}.",
        format_duration(wait)
    );
}

fn qr_art(link: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let qr = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(
        qr.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// Polls in a row that could not reach the IdP before the login gives up.
/// oauth2 polls through transport errors (backing off up to 10 s) until
/// the code expires, which would leave the user waiting on a dead IdP for
/// the code's whole lifetime.
pub const MAX_UNREACHABLE_POLLS: u32 = 3;

/// The polling client, counting polls that could not reach the IdP.
struct Watched {
    http: OidcHttp,
    failures: AtomicU32,
    gave_up: Arc<tokio::sync::Notify>,
}

impl Watched {
    fn new(http: OidcHttp) -> Self {
        Watched {
            http,
            failures: AtomicU32::new(0),
            gave_up: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Watched {
    type Error = AdapterError;
    type Future = crate::http::OidcFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let result = self.http.call(request).await;
            match &result {
                Err(e) if crate::http::is_unreachable(e) => {
                    if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_UNREACHABLE_POLLS {
                        self.gave_up.notify_one();
                    }
                }
                _ => self.failures.store(0, Ordering::Relaxed),
            }
            result
        })
    }
}

/// A countdown on stderr, only when stderr is a terminal (logs and CI get
/// the one line above instead).
fn countdown(wait: Duration) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} waiting for approval, {msg}") {
        bar.set_style(style);
    }
    bar.set_message(format!("{} left", format_duration(wait)));
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

async fn sleep_with_countdown(d: Duration, bar: Option<ProgressBar>, expires: Instant) {
    let end = Instant::now() + d;
    loop {
        let now = Instant::now();
        if now >= end {
            return;
        }
        if let Some(bar) = &bar {
            let left = expires.saturating_duration_since(now);
            bar.set_message(format!(
                "{} left",
                format_duration(Duration::from_secs(left.as_secs()))
            ));
        }
        tokio::time::sleep((end - now).min(Duration::from_secs(1))).await;
    }
}
