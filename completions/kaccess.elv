
use builtin;
use str;

set edit:completion:arg-completer[kaccess] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'kaccess'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'kaccess'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker'
            cand logout 'End sessions: revoke at the broker and the IdP, wipe local files'
            cand credential 'kubectl exec credential plugin: print an ExecCredential for CLUSTER'
            cand exec 'Run a command with KUBECONFIG set to a private session for CLUSTER'
            cand env 'Print shell lines that point KUBECONFIG at CLUSTER''s session'
            cand status 'Show live sessions: identity, groups, reason, expiry'
            cand kubeconfig 'Print the path of CLUSTER''s session kubeconfig'
            cand config 'Inspect or create the client configuration'
            cand serve 'Run the kaccess broker (HTTPS server that issues credentials)'
            cand request 'Ask for a grant that needs approval; wait, and log in with it once approved'
            cand admin 'Broker admins and approvers: sessions, revocations, access requests'
            cand audit 'Work with the broker''s hash-chained audit log'
            cand rbac 'Generate Kubernetes RBAC from the broker policy'
            cand __reap 'Internal: remove a session''s files when it ends (started by `login`)'
            cand __generate 'Internal: write completions and man pages into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;login'= {
            cand --flow 'How to sign in at the identity provider'
            cand --reason 'Why you need access (ticket, incident); recorded in the audit log'
            cand --grant 'A named grant: one that needs an approved request (`kaccess request`), or break glass'
            cand --session-ttl 'Wanted session length (e.g. 1h); the broker caps it'
            cand --credential 'Override the configured credential kind'
            cand --token-store 'Where to keep the refresh token'
            cand --timeout 'How long to wait for the browser or device login'
            cand -o 'Output format of the result (JSON goes to stdout)'
            cand --output 'Output format of the result (JSON goes to stdout)'
            cand --config 'Client configuration file'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand --break-glass 'Take the break-glass grant named by --grant now, without approval (needs --reason)'
            cand --embed 'Write the certificate and key into the kubeconfig (for tools without exec support); the file then lives only as long as that credential'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;logout'= {
            cand --config 'Client configuration file'
            cand --all 'Log out of every cluster with a session'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;credential'= {
            cand --lock-timeout 'Longest wait for another kaccess refreshing the same cluster'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;exec'= {
            cand --reason 'Why you need access, used when a login is needed'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;env'= {
            cand --shell 'Syntax of the printed lines'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;status'= {
            cand -o 'o'
            cand --output 'output'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;kubeconfig'= {
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;config'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Validate the configuration and print the effective settings of one cluster'
            cand init 'Write a commented example configuration'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;config;check'= {
            cand -o 'o'
            cand --output 'output'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;config;init'= {
            cand --config 'Client configuration file'
            cand --force 'Overwrite an existing file'
            cand --stdout 'Print the example on stdout instead of writing it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;config;help'= {
            cand check 'Validate the configuration and print the effective settings of one cluster'
            cand init 'Write a commented example configuration'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;config;help;check'= {
        }
        &'kaccess;config;help;init'= {
        }
        &'kaccess;config;help;help'= {
        }
        &'kaccess;serve'= {
            cand --config 'Broker configuration file'
            cand --cluster 'Cluster for --print-apiserver-config (default: the only one)'
            cand --from 'Where --migrate-state copies from: `sqlite:PATH`'
            cand --print-apiserver-config 'Print the kube-apiserver flags and webhook kubeconfig for this broker, then exit'
            cand --check 'Check the configuration and the files it names (CAs, TLS pair) and connect to a PostgreSQL state database (schema version), then exit: before a start or a SIGHUP'
            cand --migrate-state 'Copy live sessions, revocations and credentials from --from into the config''s PostgreSQL database (which must hold no sessions), then exit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;request'= {
            cand --grant 'The grant that needs approval (its `name` in the broker''s policy)'
            cand --reason 'Why you need it (ticket, incident); approvers see it, the audit log keeps it'
            cand --duration 'How long the elevation should last (default: the grant''s max-duration)'
            cand --wait-timeout 'How long to wait for a decision'
            cand -o 'o'
            cand --output 'output'
            cand --flow 'How to sign in at the identity provider, when a login is needed'
            cand --config 'Client configuration file'
            cand --wait 'Wait for the decision and log in with the grant once approved (default on a terminal)'
            cand --no-wait 'Exit once the request is filed, even on a terminal'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand cancel 'Withdraw one of your access requests'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;request;cancel'= {
            cand -o 'o'
            cand --output 'output'
            cand --flow 'How to sign in at the identity provider, when a login is needed'
            cand --config 'Client configuration file'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;request;help'= {
            cand cancel 'Withdraw one of your access requests'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;request;help;cancel'= {
        }
        &'kaccess;request;help;help'= {
        }
        &'kaccess;admin'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand sessions 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)'
            cand revoke 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`'
            cand requests 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)'
            cand approve 'Approve an access request (approver groups only; never your own)'
            cand deny 'Deny an access request (approver groups only)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;admin;sessions'= {
            cand --user 'Only this user''s sessions (the broker''s username, e.g. an email)'
            cand -o 'o'
            cand --output 'output'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;admin;revoke'= {
            cand --user 'Revoke every live session of this user on CLUSTER'
            cand --reason 'Why (required; recorded in the broker''s audit log with your name)'
            cand -o 'o'
            cand --output 'output'
            cand --config 'Client configuration file'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;admin;requests'= {
            cand -o 'o'
            cand --output 'output'
            cand --flow 'How to sign in at the identity provider, when a login is needed'
            cand --config 'Client configuration file'
            cand --pending 'Only requests still waiting for a decision'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;admin;approve'= {
            cand --reason 'Why (required; recorded in the broker''s audit log with your name)'
            cand -o 'o'
            cand --output 'output'
            cand --flow 'How to sign in at the identity provider, when a login is needed'
            cand --config 'Client configuration file'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;admin;deny'= {
            cand --reason 'Why (required; recorded in the broker''s audit log with your name)'
            cand -o 'o'
            cand --output 'output'
            cand --flow 'How to sign in at the identity provider, when a login is needed'
            cand --config 'Client configuration file'
            cand --no-browser 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;admin;help'= {
            cand sessions 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)'
            cand revoke 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`'
            cand requests 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)'
            cand approve 'Approve an access request (approver groups only; never your own)'
            cand deny 'Deny an access request (approver groups only)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;admin;help;sessions'= {
        }
        &'kaccess;admin;help;revoke'= {
        }
        &'kaccess;admin;help;requests'= {
        }
        &'kaccess;admin;help;approve'= {
        }
        &'kaccess;admin;help;deny'= {
        }
        &'kaccess;admin;help;help'= {
        }
        &'kaccess;audit'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand verify 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
            cand export 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;audit;verify'= {
            cand --config 'Verify the chain in the database of this broker configuration (PostgreSQL state)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;audit;export'= {
            cand --config 'Broker configuration whose PostgreSQL database holds the chain'
            cand --since 'Only records from this time on: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`24h`). Such an export starts mid-chain, so `kaccess audit verify` checks only full exports'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;audit;help'= {
            cand verify 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
            cand export 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;audit;help;verify'= {
        }
        &'kaccess;audit;help;export'= {
        }
        &'kaccess;audit;help;help'= {
        }
        &'kaccess;rbac'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand render 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;rbac;render'= {
            cand --config 'Broker configuration file'
            cand --cluster 'Only this cluster'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;rbac;help'= {
            cand render 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;rbac;help;render'= {
        }
        &'kaccess;rbac;help;help'= {
        }
        &'kaccess;__reap'= {
            cand --session-id 'Session id the reaper belongs to (a newer session is left alone)'
            cand --runtime-dir 'Runtime dir holding the session'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;__generate'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'kaccess;help'= {
            cand login 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker'
            cand logout 'End sessions: revoke at the broker and the IdP, wipe local files'
            cand credential 'kubectl exec credential plugin: print an ExecCredential for CLUSTER'
            cand exec 'Run a command with KUBECONFIG set to a private session for CLUSTER'
            cand env 'Print shell lines that point KUBECONFIG at CLUSTER''s session'
            cand status 'Show live sessions: identity, groups, reason, expiry'
            cand kubeconfig 'Print the path of CLUSTER''s session kubeconfig'
            cand config 'Inspect or create the client configuration'
            cand serve 'Run the kaccess broker (HTTPS server that issues credentials)'
            cand request 'Ask for a grant that needs approval; wait, and log in with it once approved'
            cand admin 'Broker admins and approvers: sessions, revocations, access requests'
            cand audit 'Work with the broker''s hash-chained audit log'
            cand rbac 'Generate Kubernetes RBAC from the broker policy'
            cand __reap 'Internal: remove a session''s files when it ends (started by `login`)'
            cand __generate 'Internal: write completions and man pages into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'kaccess;help;login'= {
        }
        &'kaccess;help;logout'= {
        }
        &'kaccess;help;credential'= {
        }
        &'kaccess;help;exec'= {
        }
        &'kaccess;help;env'= {
        }
        &'kaccess;help;status'= {
        }
        &'kaccess;help;kubeconfig'= {
        }
        &'kaccess;help;config'= {
            cand check 'Validate the configuration and print the effective settings of one cluster'
            cand init 'Write a commented example configuration'
        }
        &'kaccess;help;config;check'= {
        }
        &'kaccess;help;config;init'= {
        }
        &'kaccess;help;serve'= {
        }
        &'kaccess;help;request'= {
            cand cancel 'Withdraw one of your access requests'
        }
        &'kaccess;help;request;cancel'= {
        }
        &'kaccess;help;admin'= {
            cand sessions 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)'
            cand revoke 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`'
            cand requests 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)'
            cand approve 'Approve an access request (approver groups only; never your own)'
            cand deny 'Deny an access request (approver groups only)'
        }
        &'kaccess;help;admin;sessions'= {
        }
        &'kaccess;help;admin;revoke'= {
        }
        &'kaccess;help;admin;requests'= {
        }
        &'kaccess;help;admin;approve'= {
        }
        &'kaccess;help;admin;deny'= {
        }
        &'kaccess;help;audit'= {
            cand verify 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
            cand export 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)'
        }
        &'kaccess;help;audit;verify'= {
        }
        &'kaccess;help;audit;export'= {
        }
        &'kaccess;help;rbac'= {
            cand render 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
        }
        &'kaccess;help;rbac;render'= {
        }
        &'kaccess;help;__reap'= {
        }
        &'kaccess;help;__generate'= {
        }
        &'kaccess;help;help'= {
        }
    ]
    $completions[$command]
}
