//! The browser flow: authorization code with PKCE (S256), `state` and
//! `nonce`, redirected to a one-shot loopback listener on
//! `http://127.0.0.1:<random port>/callback` (RFC 8252 §7.3). The browser is
//! opened with the `webbrowser` crate (which honours `$BROWSER`) and the URL
//! is printed on stderr too, so a browser that fails to open is not fatal.

use super::login::{BaseClient, RequestParams, TokenResponse, token_request_error};
use crate::error::Failure;
use crate::http::OidcHttp;
use anyhow::{Context, Result};
use oauth2::{AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A browser that connects but never sends its request must not hold up
/// the real callback.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// What the browser flow hands back: the token response and the nonce the
/// ID token must carry.
pub struct BrowserTokens {
    pub response: TokenResponse,
    pub nonce: String,
}

/// Runs the flow until the callback arrives or `deadline` passes.
/// `open` false prints the URL without trying to open a browser.
pub async fn login(
    client: BaseClient,
    auth_url: AuthUrl,
    http: &OidcHttp,
    params: &RequestParams,
    open: bool,
    timeout: Duration,
) -> Result<BrowserTokens> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on 127.0.0.1 for the login callback")?;
    let port = listener.local_addr()?.port();
    let redirect = RedirectUrl::new(format!("http://127.0.0.1:{port}/callback"))?;
    let client = client.set_auth_uri(auth_url).set_redirect_uri(redirect);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = CsrfToken::new_random().secret().clone();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", nonce.clone());
    for (name, value) in params.extra_params() {
        request = request.add_extra_param(name, value);
    }
    let (url, state) = request.add_scopes(params.scopes()).url();

    if open {
        eprintln!("Opening your browser to sign in. If it does not open, visit:\n  {url}");
        let target = url.to_string();
        // `webbrowser` waits for text-mode browsers; the callback must be
        // served meanwhile, so the launch runs off this task.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = webbrowser::open(&target) {
                eprintln!("kaccess: warning: cannot open a browser ({e}); open the URL above");
            }
        });
    } else {
        eprintln!("Open this URL in a browser on this machine to sign in:\n  {url}");
    }

    let deadline = Instant::now() + timeout;
    let code = tokio::time::timeout_at(deadline, wait_for_code(&listener, state.secret()))
        .await
        .map_err(|_| {
            Failure::error(format!(
                "no login arrived from the browser within {}",
                crate::units::format_duration(timeout)
            ))
            .help("finish the login in the browser sooner (`--timeout`), or use `--flow device`")
        })??;
    eprintln!("Received the authorization code; getting tokens.");
    let response = client
        .exchange_code(code)
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .map_err(|e| token_request_error(e, "exchange the authorization code"))?;
    Ok(BrowserTokens { response, nonce })
}

/// Serves the loopback listener until a request with the right `state`
/// carries a code or an error. Requests with a wrong state (another tab, a
/// forged link) are answered and ignored.
async fn wait_for_code(listener: &TcpListener, state: &str) -> Result<AuthorizationCode> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .context("the login callback listener failed")?;
        let Ok(Ok(target)) = tokio::time::timeout(READ_TIMEOUT, read_target(&mut stream)).await
        else {
            continue;
        };
        match handle(&target, state) {
            Callback::Ignore(status, body) => {
                let _ = respond(&mut stream, status, body).await;
            }
            Callback::Code(code) => {
                let _ = respond(&mut stream, "200 OK", PAGE_DONE).await;
                return Ok(code);
            }
            Callback::Error { error, description } => {
                let _ = respond(&mut stream, "200 OK", PAGE_FAILED).await;
                let detail = description.map(|d| format!(": {d}")).unwrap_or_default();
                return Err(if error == "access_denied" {
                    Failure::denied(format!(
                        "the identity provider denied the login (`access_denied`{detail})"
                    ))
                    .help("check that your account may use the kaccess client at the IdP")
                    .into()
                } else {
                    Failure::error(format!(
                        "the identity provider ended the login with `{error}`{detail}"
                    ))
                    .into()
                });
            }
        }
    }
}

enum Callback {
    Ignore(&'static str, &'static str),
    Code(AuthorizationCode),
    Error {
        error: String,
        description: Option<String>,
    },
}

/// Decides what one request target (`/callback?code=..&state=..`) means.
fn handle(target: &str, state: &str) -> Callback {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        return Callback::Ignore("404 Not Found", "not found\n");
    }
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    if got_state.as_deref() != Some(state) {
        return Callback::Ignore(
            "400 Bad Request",
            "This login link does not belong to the running kaccess login.\n",
        );
    }
    match (code, error) {
        (_, Some(error)) => Callback::Error { error, description },
        (Some(code), None) => Callback::Code(AuthorizationCode::new(code)),
        (None, None) => Callback::Ignore("400 Bad Request", "missing `code`\n"),
    }
}

/// Reads the request head and returns the request target of a GET.
async fn read_target(stream: &mut TcpStream) -> Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        anyhow::ensure!(buf.len() < MAX_REQUEST_HEAD, "request head too large");
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed before the request ended");
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => anyhow::bail!("not a GET request"),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let content_type = if body.starts_with("<!doctype html>") {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

const PAGE_DONE: &str = "<!doctype html>
<html><head><meta charset=\"utf-8\"><title>kaccess login</title></head>
<body style=\"font-family: sans-serif; margin: 3em\">
<h1>Login complete</h1><p>kaccess has your login. You can close this tab.</p>
</body></html>
";

const PAGE_FAILED: &str = "<!doctype html>
<html><head><meta charset=\"utf-8\"><title>kaccess login</title></head>
<body style=\"font-family: sans-serif; margin: 3em\">
<h1>Login failed</h1><p>The identity provider ended the login. See the terminal for details; you can close this tab.</p>
</body></html>
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_needs_matching_state() {
        assert!(matches!(
            handle("/callback?code=c1&state=s1", "s1"),
            Callback::Code(c) if c.secret() == "c1"
        ));
        assert!(matches!(
            handle("/callback?code=c1&state=other", "s1"),
            Callback::Ignore("400 Bad Request", _)
        ));
        assert!(matches!(
            handle("/callback?code=c1", "s1"),
            Callback::Ignore("400 Bad Request", _)
        ));
        assert!(matches!(
            handle("/favicon.ico", "s1"),
            Callback::Ignore("404 Not Found", _)
        ));
    }

    #[test]
    fn callback_error_is_reported_with_description() {
        match handle(
            "/callback?error=access_denied&error_description=no%20way&state=s1",
            "s1",
        ) {
            Callback::Error { error, description } => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("no way"));
            }
            _ => panic!("not an error callback"),
        }
    }

    #[tokio::test]
    async fn loopback_server_answers_and_returns_code() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /callback?code=abc&state=st HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        });
        let code = wait_for_code(&listener, "st").await.unwrap();
        assert_eq!(code.secret(), "abc");
        let page = client.await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("You can close this tab"), "{page}");
    }
}
