//! `kaccess admin sessions|revoke` end to end: a real login per user, the
//! real broker deciding who is an admin, and its audit log.

use crate::support::world::{World, WorldOptions, run, text};
use serde_json::{Value, json};
use std::path::Path;

fn login(world: &World, runtime: &Path) {
    let out = run(world
        .kaccess(&[
            "login",
            "demo",
            "--flow",
            "device",
            "--token-store",
            "file",
            "--reason",
            "INC-1",
        ])
        .env("KACCESS_RUNTIME_DIR", runtime));
    assert!(out.status.success(), "login: {}", text(&out.stderr));
}

fn admin(world: &World, runtime: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    run(world.kaccess(&all).env("KACCESS_RUNTIME_DIR", runtime))
}

fn listed(out: &std::process::Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    v["sessions"].as_array().unwrap().clone()
}

#[test]
fn an_admin_revokes_another_users_sessions_and_a_user_only_sees_their_own() {
    let world = World::start(WorldOptions {
        admin_groups: vec!["secops"],
        ..WorldOptions::default()
    });
    let alice = world.root().join("run-alice");
    let carol = world.root().join("run-carol");
    login(&world, &alice);
    world.idp.set(
        json!({"subject": "carol", "email": "carol@example.com", "groups": ["sre", "secops"]}),
    );
    login(&world, &carol);

    // Carol (secops) sees both sessions; Alice only hers.
    let all = listed(&admin(&world, &carol, &["sessions", "demo", "-o", "json"]));
    assert_eq!(all.len(), 2, "{all:?}");
    let mine = listed(&admin(&world, &alice, &["sessions", "demo", "-o", "json"]));
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["username"], "alice@example.com");
    assert_eq!(mine[0]["reason"], "INC-1");
    let carols = all
        .iter()
        .find(|s| s["username"] == "carol@example.com")
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let table = admin(&world, &carol, &["sessions", "demo"]);
    assert!(
        text(&table.stdout).contains(&carols),
        "{}",
        text(&table.stdout)
    );

    // Alice may not revoke Carol's session.
    let out = admin(
        &world,
        &alice,
        &["revoke", "demo", &carols, "--reason", "why not"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("belongs to another user"),
        "{}",
        text(&out.stderr)
    );

    // Carol revokes every session of Alice's, with a reason.
    let out = admin(
        &world,
        &carol,
        &[
            "revoke",
            "demo",
            "--user",
            "alice@example.com",
            "--reason",
            "SEC-42 laptop stolen",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Revoked session"),
        "{}",
        text(&out.stderr)
    );
    let left = listed(&admin(&world, &carol, &["sessions", "demo", "-o", "json"]));
    assert_eq!(left.len(), 1, "only Carol's is live: {left:?}");
    let revoke = world
        .broker
        .audit()
        .into_iter()
        .find(|r| r["event"] == "revoke" && r["outcome"] == "revoked")
        .expect("the revocation is audited");
    assert_eq!(revoke["actor"], "carol@example.com");
    assert_eq!(revoke["username"], "alice@example.com");
    assert!(revoke["cause"].as_str().unwrap().contains("SEC-42"));
}

#[test]
fn without_a_session_or_a_terminal_admin_commands_exit_3_and_never_prompt() {
    let world = World::start(WorldOptions::default());
    let empty = world.root().join("run-empty");
    let out = admin(&world, &empty, &["sessions", "demo"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("kaccess login demo"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        world.idp.last_authorization().is_null(),
        "the IdP was never asked"
    );
    let out = admin(
        &world,
        &empty,
        &["revoke", "demo", "--user", "x", "--reason", " "],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "an empty reason is a usage error: {}",
        text(&out.stderr)
    );
}
