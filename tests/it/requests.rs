//! Just-in-time elevation at the broker, against the real OIDC provider
//! with two people (alice asks, bob approves) and a webhook receiver on
//! 127.0.0.1: requests, the refusals around approval, the elevated session
//! and its end, break glass, and the notifications.

use crate::support::broker::{Broker, BrokerOptions};
use crate::support::idp::{Idp, IdpOptions, Mint};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const GRANTS: &str = r#"      - name: prod-admin
        idp-groups: [sre]
        kube-groups: ["kaccess:prod:admin"]
        namespaces: ["*"]
        cluster-role: admin
        approval:
          approver-groups: [sre-leads]
          max-duration: 1h
          request-ttl: 30m
      - name: prod-two-keys
        idp-groups: [sre]
        kube-groups: ["kaccess:prod:root"]
        namespaces: ["*"]
        cluster-role: admin
        approval: {approver-groups: [sre-leads], approvals: 2, max-duration: 1h, request-ttl: 30m}
      - name: prod-quick
        idp-groups: [sre]
        kube-groups: ["kaccess:prod:quick"]
        namespaces: [payments]
        cluster-role: edit
        approval: {approver-groups: [sre-leads], max-duration: 1h, request-ttl: 2s}
      - name: prod-glass
        idp-groups: [oncall]
        kube-groups: ["kaccess:prod:glass"]
        namespaces: ["*"]
        cluster-role: admin
        break-glass: {max-duration: 30m}
"#;

use crate::support::webhook::{Received, receiver};

struct Env {
    idp: Idp,
    broker: Broker,
    client: reqwest::Client,
}

impl Env {
    /// An ID token for `who` in `groups`, MFA `auth_time_ago` seconds back.
    fn token(&self, who: &str, groups: &[&str], auth_time_ago: i64) -> String {
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        self.idp.mint_id_token(
            json!({"sub": who, "email": format!("{who}@example.com"), "groups": groups,
                   "auth_time": t - auth_time_ago}),
            Mint::Rs256,
        )
    }

    async fn call(&self, method: &str, path: &str, bearer: &str, body: Value) -> (u16, Value) {
        let url = self.broker.url(path);
        let req = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(&body),
        };
        let resp = req
            .bearer_auth(bearer)
            .send()
            .await
            .expect("broker answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn audit(&self, id: &str) -> Vec<Value> {
        self.broker
            .audit_lines()
            .into_iter()
            .filter(|r| r["request_id"] == id)
            .collect()
    }
}

async fn env() -> (Env, Received) {
    let (hook, got) = receiver().await;
    let idp = Idp::start(IdpOptions::default());
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.prod_grants = GRANTS.into();
    // A dead receiver beside the live one: it must delay nothing.
    opts.top_level = format!("notify:\n  - url: {hook}\n  - url: http://127.0.0.1:9/dead\n");
    let broker = Broker::start(opts);
    let client = broker.client();
    (
        Env {
            idp,
            broker,
            client,
        },
        got,
    )
}

async fn wait_for(got: &Received, event: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = got.lock().unwrap().iter().find(|v| v["event"] == event) {
            return v.clone();
        }
        assert!(
            Instant::now() < until,
            "no `{event}` notification in {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_approved_by_another_person_yields_one_elevated_session_that_ends_on_time() {
    let (env, got) = env().await;
    let alice = env.token("alice", &["sre"], 0);
    let bob = env.token("bob", &["sre-leads"], 0);
    let carol = env.token("carol", &["sre"], 0);

    // No approved request yet: the grant is refused, and a plain login
    // never lands on it.
    let elevated = json!({"cluster": "prod", "credential": "token", "reason": "INC-7",
                          "grant": "prod-admin", "session_ttl_seconds": 3600});
    let (status, body) = env
        .call("POST", "/v1/exchange", &alice, elevated.clone())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("approval_required")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("kaccess request prod --grant prod-admin")
    );
    let plain = json!({"cluster": "prod", "credential": "token", "reason": "INC-7"});
    let (_, body) = env
        .call("POST", "/v1/exchange", &alice, plain.clone())
        .await;
    assert_eq!(body["groups"], json!(["kaccess:prod:sre"]), "{body}");

    let started = Instant::now();
    let (status, filed) = env
        .call(
            "POST",
            "/v1/requests",
            &alice,
            json!({"cluster": "prod", "grant": "prod-admin", "reason": "INC-7 payments down",
                     "duration_seconds": 1800}),
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a dead webhook delayed the answer"
    );
    assert_eq!(filed["state"], "pending");
    assert_eq!(filed["approver_groups"], json!(["sre-leads"]));
    let id = filed["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("prod:"), "{id}");
    let requested = wait_for(&got, "requested").await;
    assert_eq!(
        (requested["requester"].as_str(), requested["grant"].as_str()),
        (Some("alice@example.com"), Some("prod-admin"))
    );
    assert!(
        requested["text"]
            .as_str()
            .unwrap()
            .contains("kaccess admin approve")
    );

    let approve = |reason: &str| json!({"reason": reason});
    let path = format!("/v1/requests/{id}/approve");
    // Self-approval, someone outside approver-groups, a stale MFA login.
    let (status, body) = env.call("POST", &path, &alice, approve("me")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("another person must approve"),
        "{body}"
    );
    let (status, body) = env.call("POST", &path, &carol, approve("peer")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("only members of [sre-leads]"),
        "{body}"
    );
    let stale_bob = env.token("bob", &["sre-leads"], 3600);
    let (status, body) = env.call("POST", &path, &stale_bob, approve("ok")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("mfa_required")),
        "{body}"
    );
    let (status, body) = env.call("POST", &path, &bob, json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("reason_required")),
        "{body}"
    );

    let (status, body) = env
        .call("POST", &path, &bob, approve("confirmed on the bridge"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    let approved = wait_for(&got, "approved").await;
    assert_eq!(approved["actor"], "bob@example.com");
    let (status, body) = env.call("POST", &path, &bob, approve("again")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("request_closed")),
        "{body}"
    );

    // The elevated session: the grant's groups, no longer than approved.
    let before = time::OffsetDateTime::now_utc();
    let (status, session) = env
        .call("POST", "/v1/exchange", &alice, elevated.clone())
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["groups"], json!(["kaccess:prod:admin"]));
    assert_eq!(session["request_id"], id.as_str());
    let ends = time::OffsetDateTime::parse(
        session["session_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let length = (ends - before).whole_seconds();
    assert!(
        (1795..=1801).contains(&length),
        "asked 1h, approved 30m, got {length}s"
    );
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                        "spec": {"token": session["token"]}});
    let (_, reviewed) = env.call("POST", "/v1/tokenreview/prod", "x", review).await;
    assert_eq!(
        reviewed["status"]["user"]["extra"]["kaccess.io/request-id"],
        json!([id])
    );
    // Used once.
    let (status, body) = env.call("POST", "/v1/exchange", &alice, elevated).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("approval_required")),
        "{body}"
    );
    let (_, shown) = env
        .call("GET", &format!("/v1/requests/{id}"), &alice, Value::Null)
        .await;
    assert_eq!(
        (shown["state"].as_str(), shown["session_id"].as_str()),
        (Some("used"), session["session_id"].as_str())
    );

    // Every step is in the chain, with who acted.
    let trail: Vec<(String, String, String)> = env
        .audit(&id)
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap_or("").into(),
                r["outcome"].as_str().unwrap_or("").into(),
                r["actor"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let has = |event: &str, outcome: &str, actor: &str| {
        trail
            .iter()
            .any(|(e, o, a)| e == event && o == outcome && a == actor)
    };
    assert!(has("request", "filed", ""), "{trail:?}");
    assert!(
        has("request", "refused", "alice@example.com"),
        "self-approval audited: {trail:?}"
    );
    assert!(has("request", "refused", "carol@example.com"), "{trail:?}");
    assert!(has("request", "approved", "bob@example.com"), "{trail:?}");
    assert!(has("exchange", "issued", ""), "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_need_two_people_and_a_lapsed_request_cannot_be_approved() {
    let (env, got) = env().await;
    let alice = env.token("alice", &["sre"], 0);
    let bob = env.token("bob", &["sre-leads"], 0);
    let dave = env.token("dave", &["sre-leads"], 0);
    let file = |grant: &str| json!({"cluster": "prod", "grant": grant, "reason": "INC-9"});

    let (_, filed) = env
        .call("POST", "/v1/requests", &alice, file("prod-two-keys"))
        .await;
    let path = format!("/v1/requests/{}/approve", filed["id"].as_str().unwrap());
    let (status, body) = env
        .call("POST", &path, &bob, json!({"reason": "one"}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    let (status, body) = env
        .call("POST", &path, &bob, json!({"reason": "one again"}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("approved access request"),
        "{body}"
    );
    let (status, body) = env
        .call("POST", &path, &dave, json!({"reason": "two"}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );

    let (_, quick) = env
        .call("POST", "/v1/requests", &alice, file("prod-quick"))
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let path = format!("/v1/requests/{}/approve", quick["id"].as_str().unwrap());
    let (status, body) = env
        .call("POST", &path, &bob, json!({"reason": "late"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("request_closed")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("lapsed"),
        "{body}"
    );
    let lapsed = wait_for(&got, "lapsed").await;
    assert_eq!(lapsed["request_id"], quick["id"]);
    let quick_id = quick["id"].as_str().unwrap();
    assert!(
        env.audit(quick_id).iter().any(|r| r["outcome"] == "lapsed"),
        "the lapse is audited"
    );

    // Denied: announced, and the grant stays out of reach.
    let (_, filed) = env
        .call("POST", "/v1/requests", &alice, file("prod-admin"))
        .await;
    let path = format!("/v1/requests/{}/deny", filed["id"].as_str().unwrap());
    let (status, body) = env
        .call("POST", &path, &bob, json!({"reason": "use read-only"}))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("denied")),
        "{body}"
    );
    let denied = wait_for(&got, "denied").await;
    assert_eq!(
        (denied["actor"].as_str(), denied["reason"].as_str()),
        (Some("bob@example.com"), Some("use read-only"))
    );
    let elevated = json!({"cluster": "prod", "credential": "token", "reason": "INC-9",
                          "grant": "prod-admin"});
    let (status, _) = env.call("POST", "/v1/exchange", &alice, elevated).await;
    assert_eq!(status, 403);

    // Asking beyond max-duration, and for a grant without approval.
    let mut long = file("prod-admin");
    long["duration_seconds"] = json!(7200);
    let (status, body) = env.call("POST", "/v1/requests", &alice, long).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at most 1h"),
        "{body}"
    );
    let (status, body) = env
        .call("POST", "/v1/requests", &alice, file("prod-glass"))
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_needs_the_flag_a_reason_and_membership_and_is_announced_at_once() {
    let (env, got) = env().await;
    let oncall = env.token("erin", &["oncall"], 0);
    let alice = env.token("alice", &["sre"], 0);
    let glass = |flag: bool, reason: Option<&str>| {
        json!({"cluster": "prod", "credential": "token", "grant": "prod-glass",
               "break_glass": flag, "reason": reason})
    };
    let (status, body) = env
        .call("POST", "/v1/exchange", &oncall, glass(false, Some("INC-1")))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("--break-glass"),
        "{body}"
    );
    let (status, body) = env
        .call("POST", "/v1/exchange", &oncall, glass(true, None))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("reason_required")),
        "{body}"
    );
    let (status, body) = env
        .call("POST", "/v1/exchange", &alice, glass(true, Some("INC-1")))
        .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = env
        .call(
            "POST",
            "/v1/exchange",
            &oncall,
            glass(true, Some("INC-1 db down")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groups"], json!(["kaccess:prod:glass"]));
    let note = wait_for(&got, "break-glass").await;
    assert_eq!(
        (note["requester"].as_str(), note["reason"].as_str()),
        (Some("erin@example.com"), Some("INC-1 db down"))
    );
    assert!(note["text"].as_str().unwrap().contains("BREAK GLASS"));
    let marked = env
        .broker
        .audit_lines()
        .into_iter()
        .find(|r| {
            r["event"] == "exchange"
                && r["outcome"] == "issued"
                && r["username"] == "erin@example.com"
        })
        .expect("the break-glass exchange is audited");
    assert_eq!(
        (marked["break_glass"].as_bool(), marked["grant"].as_str()),
        (Some(true), Some("prod-glass"))
    );
}

mod cli {
    //! The same flow as people run it: `kaccess request`, `kaccess admin
    //! approve` by another person, `kaccess login --grant`, then kubectl.

    use crate::support::world::{World, WorldOptions, run, text};
    use serde_json::{Value, json};
    use std::path::Path;

    const ADMIN: &str = r#"      - name: demo-admin
        idp-groups: [sre]
        kube-groups: ["kaccess:demo:admin"]
        namespaces: ["*"]
        cluster-role: admin
        approval: {approver-groups: [leads], max-duration: 1h, request-ttl: 30m}
"#;

    fn kaccess(world: &World, runtime: &Path, args: &[&str]) -> std::process::Output {
        run(world.kaccess(args).env("KACCESS_RUNTIME_DIR", runtime))
    }

    fn login(world: &World, runtime: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "login",
            "demo",
            "--flow",
            "device",
            "--token-store",
            "file",
            "--reason",
            "INC-1",
        ];
        args.extend_from_slice(extra);
        kaccess(world, runtime, &args)
    }

    #[test]
    fn a_request_approved_by_another_person_elevates_kubectl_and_the_requester_cannot_approve_it() {
        let world = World::start(WorldOptions {
            broker_grants: ADMIN,
            ..WorldOptions::default()
        });
        let alice = world.root().join("run-alice");
        let bob = world.root().join("run-bob");
        let out = login(&world, &alice, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));

        // Without approval the grant is refused with the command to run.
        let out = login(&world, &alice, &["--grant", "demo-admin"]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("kaccess request demo --grant demo-admin"),
            "{}",
            text(&out.stderr)
        );

        // No terminal, no --wait: filed, and the JSON says so.
        let out = kaccess(
            &world,
            &alice,
            &[
                "request",
                "demo",
                "--grant",
                "demo-admin",
                "--reason",
                "INC-2 rollback",
                "-o",
                "json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let filed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(filed["state"], "pending");
        let id = filed["id"].as_str().unwrap().to_string();
        assert!(
            text(&out.stderr).contains(&format!("kaccess admin approve {id}")),
            "{}",
            text(&out.stderr)
        );

        let out = kaccess(&world, &alice, &["admin", "approve", &id, "--reason", "me"]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "self-approval: {}",
            text(&out.stderr)
        );

        world
            .idp
            .set(json!({"subject": "bob", "email": "bob@example.com",
                             "groups": ["sre", "leads"]}));
        let out = login(&world, &bob, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = kaccess(&world, &bob, &["admin", "requests", "demo", "--pending"]);
        assert!(text(&out.stdout).contains(&id), "{}", text(&out.stdout));
        let out = kaccess(
            &world,
            &bob,
            &["admin", "approve", &id, "--reason", "seen the ticket"],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));

        world
            .idp
            .set(json!({"subject": "alice", "email": "alice@example.com", "groups": ["sre"]}));
        let out = login(&world, &alice, &["--grant", "demo-admin"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let kubeconfig = alice.join("sessions/demo.kubeconfig");
        let whoami = run(world.kubectl(&kubeconfig, &["auth", "whoami"]));
        let shown = text(&whoami.stdout);
        assert!(
            shown.contains("kaccess:demo:admin"),
            "{shown}{}",
            text(&whoami.stderr)
        );

        let out = kaccess(&world, &alice, &["request", "cancel", &id]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a used request cannot be cancelled"
        );
    }
}
