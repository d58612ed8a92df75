//! Every command's page: its notes, examples, and the environment
//! variables and files it uses (names from `super::ENVIRONMENT` and
//! `super::FILES`).

use super::{Page, page, x};

const SESSION_FILES: &[&str] = &[
    "RUNTIME/sessions/CLUSTER.kubeconfig",
    "RUNTIME/sessions/CLUSTER.json",
];

/// One page per command, kaccess itself first; a test checks that every
/// command has one and every page a command.
pub const PAGES: &[Page] = &[
    Page {
        notes: "Errors, usage errors included, go to stderr as `kaccess: error: ...`, with their \
                causes and a `help:` line naming the next step. stdout carries only data. Shell \
                completion (installed by install.sh for bash, zsh and fish) completes commands, \
                flags and the cluster names of your configuration: the scripts ask kaccess \
                itself.",
        examples: &[
            x(
                "Log in to `prod` for an incident, then use kubectl as usual",
                "kaccess login prod --reason INC-123\nexport KUBECONFIG=$(kaccess kubeconfig prod)\nkubectl get pods",
            ),
            x(
                "Run one command with the session, logging in first if needed",
                "kaccess exec prod --reason INC-123 -- kubectl get pods",
            ),
            x("See live sessions", "kaccess status"),
            x("End every session now", "kaccess logout --all"),
        ],
        // kaccess(1) documents every variable and file.
        ..page("")
    },
    Page {
        notes: "The login is refused unless the ID token proves MFA as the cluster's `oidc.mfa` \
                policy asks (amr or acr values, and a recent enough auth_time); the broker checks \
                again. A successful login says what proved it (`MFA verified: amr [pwd, otp]`). \
                The session kubeconfig is printed at the end; it lasts until the session \
                ends (the broker's max-session caps --session-ttl) and is then deleted.",
        examples: &[
            x(
                "Log in, giving the reason the audit log records",
                "kaccess login prod --reason \"INC-123\"",
            ),
            x(
                "Over SSH or without a browser: a code and QR code to open on any device",
                "kaccess login prod --flow device --reason \"CHG-42 rollout\"",
            ),
            x(
                "A one-hour session, result as JSON",
                "kaccess login prod --reason INC-7 --session-ttl 1h -o json | jq .session.expires_at",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
            "BROWSER",
            "DBUS_SESSION_BUS_ADDRESS",
        ],
        files: &[
            "~/.config/kaccess/config.yaml",
            "RUNTIME/sessions/CLUSTER.kubeconfig",
            "RUNTIME/sessions/CLUSTER.json",
            "RUNTIME/tokens/",
        ],
        ..page("login")
    },
    Page {
        notes: "Revokes the session at the broker (a token stops working at once; a certificate \
                cannot be recalled and stays valid until it expires, at most the credential TTL), \
                revokes the refresh token at the identity provider, and deletes the local files. \
                The broker records the revocation as a logout, so a copy of the credential used \
                later is refused saying `session ended when you (NAME) logged out at HH:MM UTC`. \
                Logging out of a cluster with no session succeeds.",
        examples: &[
            x("End the session of `prod`", "kaccess logout prod"),
            x("End every session", "kaccess logout --all"),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &[
            "RUNTIME/sessions/CLUSTER.kubeconfig",
            "RUNTIME/sessions/CLUSTER.json",
            "RUNTIME/tokens/",
        ],
        ..page("logout")
    },
    Page {
        notes: "kubectl runs this command itself; the session kubeconfig written by `kaccess \
                login` contains the exec stanza. On a cache hit it reads one file and prints; it \
                never prompts unless kubectl says the session is interactive. Only the \
                ExecCredential goes to stdout. Session kubeconfigs run this as \
                `kaccess-credential credential CLUSTER`: a small binary installed beside kaccess \
                that answers a cache hit itself and hands every other call, with its arguments, \
                to `kaccess credential`, so the answers, messages and exit codes are the same.",
        examples: &[x(
            "What kubectl runs (by hand, for debugging)",
            "KUBERNETES_EXEC_INFO='{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"spec\":{\"interactive\":false}}' kaccess credential prod",
        )],
        env: &[
            "KUBERNETES_EXEC_INFO",
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &[
            "RUNTIME/sessions/CLUSTER.json",
            "RUNTIME/locks/CLUSTER.lock",
            "RUNTIME/tokens/",
            "RUNTIME/handouts/",
        ],
        ..page("credential")
    },
    Page {
        notes: "Logs in first when there is no live session and a terminal to do it on. The \
                command gets a private copy of the session kubeconfig, removed when it exits; \
                kaccess exits with the command's exit code.",
        examples: &[
            x(
                "One kubectl command",
                "kaccess exec prod --reason INC-123 -- kubectl get pods",
            ),
            x(
                "Any tool that reads KUBECONFIG",
                "kaccess exec prod -- helm list",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
            "KUBECONFIG",
        ],
        files: &[
            "RUNTIME/sessions/CLUSTER.exec-PID.kubeconfig",
            "RUNTIME/sessions/CLUSTER.json",
        ],
        ..page("exec")
    },
    Page {
        examples: &[
            x(
                "Point this shell at the session",
                "eval \"$(kaccess env prod)\"",
            ),
            x("In fish", "kaccess env prod --shell fish | source"),
        ],
        env: &["KACCESS_RUNTIME_DIR", "KUBECONFIG"],
        files: SESSION_FILES,
        ..page("env")
    },
    Page {
        notes: "Sessions that have ended are removed before anything is shown. With a CLUSTER \
                and no live session for it, exits 3.",
        examples: &[
            x("All live sessions", "kaccess status"),
            x(
                "When does the session of `prod` end?",
                "kaccess status prod -o json | jq -r '.sessions[0].session_expires_at'",
            ),
        ],
        env: &["KACCESS_RUNTIME_DIR"],
        files: SESSION_FILES,
        ..page("status")
    },
    Page {
        examples: &[x(
            "Use the session in one command",
            "kubectl --kubeconfig \"$(kaccess kubeconfig prod)\" get pods",
        )],
        env: &["KACCESS_RUNTIME_DIR"],
        files: SESSION_FILES,
        ..page("kubeconfig")
    },
    Page {
        env: &["KACCESS_CONFIG"],
        files: &["~/.config/kaccess/config.yaml"],
        ..page("config")
    },
    Page {
        notes: "Every mistake exits 2 naming the file and the key path. So does a placeholder \
                left from the example `kaccess config init` writes (a host under example.com, \
                example.org or example.net, an `urn:example:` value, a `<...>` marker): each \
                one is listed with its key, and `kaccess login` refuses the file the same way.",
        examples: &[
            x("Validate the whole file", "kaccess config check"),
            x(
                "Effective settings of `prod`, as JSON",
                "kaccess config check prod -o json",
            ),
        ],
        env: &["KACCESS_CONFIG"],
        files: &["~/.config/kaccess/config.yaml"],
        ..page("config check")
    },
    Page {
        notes: "The example's hosts (example.com) are placeholders: `kaccess config check` lists \
                each one still in the file, with its key, until it is replaced.",
        examples: &[
            x("Start a configuration to edit", "kaccess config init"),
            x("Look before writing", "kaccess config init --stdout | less"),
        ],
        env: &["KACCESS_CONFIG"],
        files: &["~/.config/kaccess/config.yaml"],
        ..page("config init")
    },
    Page {
        notes: "The broker verifies ID tokens (signature, issuer, audience, MFA), applies the \
                grants of its policy, signs short-lived client certificates with the cluster CA \
                or issues revocable tokens, answers kube-apiserver's TokenReview webhook, and \
                writes every decision to a hash-chained audit log (JSON lines, to a file or \
                stdout). SIGTERM or SIGINT stops it gracefully. SIGHUP starts a new audit file \
                when the old one was renamed (its first line chains to the old file), re-reads \
                the configuration (grants, TTLs, issuers, cluster CAs; listen, tls, state and \
                audit only change on restart), and reloads the serving certificate and key. \
                Each step that fails is logged and changes nothing; every reload is audited \
                with the file's SHA-256. With `state: {postgres: ...}` any number of replicas \
                share one database: the schema is migrated at start under a lock, revocations \
                reach every replica through LISTEN/NOTIFY, the audit chain is kept in the \
                database, and a replica that loses the database refuses to issue, answers \
                reviews only within `max-staleness`, reports not-ready on /healthz, and \
                recovers by itself. A cluster with a `proxy:` block is also served through \
                the access proxy on its own listener: every request is authenticated against \
                the broker's sessions, audited before it is forwarded, sent on impersonating \
                the person, and cut off when the session is revoked or ends; the proxy's \
                settings change only on restart. For such a cluster \
                `--print-apiserver-config` says that the kaccess CA and webhook must not be \
                configured at kube-apiserver, and prints an audit policy.",
        examples: &[
            x(
                "Run the broker",
                "kaccess serve --config /etc/kaccess/broker.yaml",
            ),
            x(
                "The kube-apiserver flags and webhook kubeconfig for cluster `prod`",
                "kaccess serve --config broker.yaml --print-apiserver-config --cluster prod",
            ),
            x(
                "Check an edited configuration before a start or a SIGHUP",
                "kaccess serve --config /etc/kaccess/broker.yaml --check",
            ),
            x(
                "Move a single broker's live state into PostgreSQL before starting replicas",
                "kaccess serve --migrate-state --from sqlite:/var/lib/kaccess/state.db --config ha.yaml",
            ),
        ],
        env: &["KACCESS_LOG", "KACCESS_LOG_FORMAT"],
        ..page("serve")
    },
    Page {
        notes: "Members of an IdP group named in the broker's `admin-groups` see every live \
                session at the broker and may revoke anyone's, with a reason that the broker \
                audits next to their name; everyone else sees and revokes only their own. \
                Admin rights need an MFA login no older than the broker's `max-auth-age`. The \
                ID token comes from this machine's session for CLUSTER (cached, or refreshed); \
                without one, a new login runs when a person is at the terminal, and otherwise \
                the command exits 3 without prompting.",
        ..page("admin")
    },
    Page {
        notes: "For a grant whose policy says `approval`: the request names the grant and why, \
                and another person in the grant's `approver-groups` approves it (`kaccess admin \
                approve`). On a terminal, or with --wait, kaccess shows who can approve, waits, \
                and logs in with the grant as soon as it is approved; without a terminal it \
                prints the request id (or, with -o json, the request) and exits 0. The \
                elevated session ends at the approved duration (at most the grant's \
                `max-duration` and the cluster's `max-session`). An approved request is used \
                once. A denied request exits 4.",
        examples: &[
            x(
                "Ask for admin on prod for 30 minutes, and wait for a second person",
                "kaccess request prod --grant prod-admin --reason \"INC-7 payments down\" --duration 30m",
            ),
            x(
                "File from a script, log in later",
                "kaccess request prod --grant prod-admin --reason INC-7 --no-wait -o json\nkaccess login prod --grant prod-admin --reason INC-7",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("request")
    },
    Page {
        examples: &[x(
            "Withdraw a request",
            "kaccess request cancel prod:3f9a2c7d1e0b4a68",
        )],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("request cancel")
    },
    Page {
        examples: &[
            x(
                "Who has access to `prod` right now",
                "kaccess admin sessions prod",
            ),
            x(
                "One user's sessions, as JSON",
                "kaccess admin sessions prod --user alice@example.com -o json",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin sessions")
    },
    Page {
        notes: "From the moment the broker answers, the session's tokens fail review and no \
                new credential is issued for it. A client certificate it already holds stays \
                valid at kube-apiserver until it expires (`credential-ttl`): Kubernetes cannot \
                revoke client certificates. Through the access proxy it is refused at once, \
                and the session's open streams are closed within a second.",
        examples: &[
            x(
                "Cut off a user whose laptop was stolen",
                "kaccess admin revoke prod --user alice@example.com --reason \"SEC-42 laptop stolen\"",
            ),
            x(
                "Revoke one session",
                "kaccess admin revoke prod 6ce580d95d322ac1c1ef844def36c74a --reason \"SEC-43\"",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin revoke")
    },
    Page {
        notes: "Shows your own requests, those you may decide (you are in the grant's \
                `approver-groups`), or every request if you are a broker admin.",
        examples: &[x(
            "What waits for a decision on prod",
            "kaccess admin requests prod --pending",
        )],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin requests")
    },
    Page {
        notes: "Only members of the grant's `approver-groups` may approve, never the requester, \
                and only with an MFA login no older than the issuer's `max-auth-age` (kaccess \
                logs in again once if the broker asks). Each approver counts once; a grant may \
                need several. The reason and your name go into the audit log.",
        examples: &[x(
            "Approve after checking the ticket",
            "kaccess admin approve prod:3f9a2c7d1e0b4a68 --reason \"INC-7 confirmed\"",
        )],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin approve")
    },
    Page {
        examples: &[x(
            "Deny, saying why",
            "kaccess admin deny prod:3f9a2c7d1e0b4a68 --reason \"use the read-only grant\"",
        )],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin deny")
    },
    Page {
        notes: "For members of the broker's `auditor-groups` or `admin-groups`, with an MFA \
                login no older than the issuer's `max-auth-age` (kaccess logs in again once if \
                the broker asks). Every record the broker makes durable is shown as it is \
                written: proxied requests (time, user, cluster, verb resource namespace/name, \
                outcome and status) and the broker's own decisions. `--user` is who acted; \
                `--verb` keeps proxied requests only. Without CLUSTER, every cluster at the \
                broker of the only one configured. Free text is shown escaped. Watching is \
                audited: who watched, with what filter. A watcher that falls behind is told \
                how many records it missed. Ctrl-C ends it (exit 0); a broker that stops or \
                goes away ends it with exit 5.",
        examples: &[
            x("Follow everything on prod", "kaccess admin watch prod"),
            x(
                "Deletes on prod, as JSON lines for a pipe",
                "kaccess admin watch prod --verb delete -o json | jq -c .request",
            ),
            x(
                "One user's actions",
                "kaccess admin watch prod --user alice@example.com",
            ),
        ],
        env: &[
            "KACCESS_CONFIG",
            "KACCESS_RUNTIME_DIR",
            "KACCESS_HTTP_TIMEOUT",
        ],
        files: &["RUNTIME/sessions/CLUSTER.json", "RUNTIME/tokens/"],
        ..page("admin watch")
    },
    page("audit"),
    Page {
        notes: "Each line's `prev` must be the previous line's `hash`, and each `hash` the \
                SHA-256 of its canonical record. Exits 1 and names the first broken line \
                otherwise. A rotated log is several files: name them oldest first, and each \
                must continue the one before it. A file may begin mid-chain only with the \
                broker's rotation record; any other first line that does not start a chain \
                means lines were cut from its head. With `--config`, the chain that broker \
                keeps: its `audit.file`, or with PostgreSQL state the chain in the database, \
                read in place (the first broken record is named by its number, which is its \
                `seq` in the `audit_chain` table).",
        examples: &[
            x(
                "Check the broker's log",
                "kaccess audit verify /var/log/kaccess/audit.jsonl",
            ),
            x(
                "Check a rotated log as one chain, oldest file first",
                "kaccess audit verify audit.jsonl.2 audit.jsonl.1 audit.jsonl",
            ),
            x(
                "Check the chain every replica writes into PostgreSQL",
                "kaccess audit verify --config /etc/kaccess/broker.yaml",
            ),
        ],
        ..page("audit verify")
    },
    Page {
        notes: "With `state: {postgres: ...}` every replica appends to one chain in the \
                database. This prints it, oldest first, as the JSON lines an audit file holds, \
                so `kaccess audit verify FILE` checks a full export and log tools read it \
                unchanged. `--since` keeps only records from that time on; such an export \
                starts mid-chain and does not verify on its own. Connects like the broker \
                (same URL, password file and TLS verification) and writes nothing.",
        examples: &[
            x(
                "Export the whole chain (then `kaccess audit verify` the file it went to)",
                "kaccess audit export --config broker.yaml",
            ),
            x(
                "The last day's records",
                "kaccess audit export --config broker.yaml --since 24h",
            ),
        ],
        ..page("audit export")
    },
    Page {
        notes: "Before anything plays, the audit files' chain is verified (as `audit verify`) and \
                the recording's SHA-256 and size are checked against the stream's `finished` \
                record; a mismatch refuses to play and says which file. Streams are the \
                session's exec, attach and port-forward requests, numbered 1.. in the order of \
                their `proxy`/`started` records; without `--stream`, the first recorded one. \
                Output events (stdout and stderr) go to stdout as they were sent, each after \
                its pause divided by `--speed`; a pause longer than 2 s is cut to 2 s. \
                Recordings are asciicast v2 files under `recordings/` beside the audit log, \
                which asciinema and its web player also read. `--config` reads the broker's \
                current `audit.file` (name the files to include rotated ones); a broker whose \
                chain is in PostgreSQL keeps no recordings.",
        examples: &[
            x(
                "Replay the first recorded stream of a session",
                "kaccess audit play 3f9c0d2a8b7e4f1a9c0d2a8b7e4f1a9c /var/lib/kaccess/audit.jsonl",
            ),
            x(
                "Its second stream, twice as fast, from a rotated log",
                "kaccess audit play SESSION audit.jsonl.1 audit.jsonl --stream 2 --speed 2",
            ),
            x(
                "From the audit file of a broker configuration",
                "kaccess audit play SESSION --config /etc/kaccess/broker.yaml --speed 2",
            ),
        ],
        ..page("audit play")
    },
    Page {
        notes: "Reads the chain as `kaccess audit verify` does (files oldest first, or \
                `--config`), checking it as it reads, and says on stderr that it held. A broken \
                chain is a loud warning naming the first bad record; the sessions are still \
                printed, and the command exits 1. A session starts at its first issued exchange \
                and ends when it was revoked (`logged out` by its owner, `revoked by NAME` by an \
                admin) or at its planned end (`expired`, or `still open`). Requests count every \
                proxied request (refused ones too), mutations the forwarded create, update, \
                patch and delete requests, denials the proxy's refusals and the API server's \
                401 and 403, streams exec, attach and port-forward. `--since` and `--until` keep \
                the sessions open at some time in that period and count what they did in it. \
                Memory grows with the number of sessions, not of records.",
        examples: &[
            x(
                "Alice's sessions on prod in the last week",
                "kaccess audit sessions --cluster prod --user alice --since 7d /var/lib/kaccess/audit.jsonl",
            ),
            x(
                "Every session in a rotated log, as JSON",
                "kaccess audit sessions -o json audit.jsonl.2 audit.jsonl.1 audit.jsonl",
            ),
        ],
        ..page("audit sessions")
    },
    Page {
        notes: "Every record of the session in chain order: its exchanges (start, renewals, \
                refused attempts), each request with its status, duration and bytes, each stream \
                opened and closed, refusals and the revocation. Streams are numbered 1, 2, ... in \
                the order they started, as `kaccess audit play SESSION --stream N` counts them; \
                a stream's recording (file, SHA-256, size) is shown when the proxy kept one. A \
                request that started and never finished is listed as such. SESSION may be the \
                first 8 or more characters of the id. The chain is checked as for `audit \
                sessions`.",
        examples: &[x(
            "What one session did",
            "kaccess audit show 3f9a2c7d audit.jsonl.1 audit.jsonl",
        )],
        ..page("audit show")
    },
    Page {
        notes: "For a reviewer: who accessed which cluster, when and why (one row per session); \
                elevated sessions and break glass; access requests and their decisions; admin \
                actions; every mutating request; every interactive stream; failed logins and \
                MFA refusals; denials. `-o md` (the default) prints Markdown that reads well \
                printed, `-o csv` one table with a `section` column (cells that a spreadsheet \
                would run as a formula get a leading `'`), `-o json` one object. Free text is \
                escaped in every format, and hidden characters are written out as `\\u{XXXX}`. \
                Every format starts with the chain's verification; a broken chain is a warning \
                at the top of the report and on stderr, and the command exits 1.",
        examples: &[
            x(
                "Last month's report for prod, to print",
                "kaccess audit report --since 30d --cluster prod audit.jsonl.1 audit.jsonl > report.md",
            ),
            x(
                "A quarter as CSV, from the broker's PostgreSQL chain",
                "kaccess audit report --since 2026-01-01T00:00:00Z --until 2026-04-01T00:00:00Z -o csv --config broker.yaml",
            ),
        ],
        ..page("audit report")
    },
    page("rbac"),
    Page {
        notes: "For a cluster behind the access proxy it also prints the proxy's ClusterRole \
                (impersonate users, the grants' kube groups by name, and the kaccess session-id \
                and reason extras) and, when `upstream.identity` names the proxy, its \
                ClusterRoleBinding.",
        examples: &[x(
            "Apply the bindings for cluster `prod`",
            "kaccess rbac render --config broker.yaml --cluster prod | kubectl apply -f -",
        )],
        ..page("rbac render")
    },
];
