# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kaccess_global_optspecs
    string join \n h/help V/version
end

function __fish_kaccess_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kaccess_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kaccess_using_subcommand
    set -l cmd (__fish_kaccess_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kaccess -n "__fish_kaccess_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_needs_command" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "login" -d 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "logout" -d 'End sessions: revoke at the broker and the IdP, wipe local files'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "credential" -d 'kubectl exec credential plugin: print an ExecCredential for CLUSTER'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "exec" -d 'Run a command with KUBECONFIG set to a private session for CLUSTER'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "env" -d 'Print shell lines that point KUBECONFIG at CLUSTER\'s session'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "status" -d 'Show live sessions: identity, groups, reason, expiry'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "kubeconfig" -d 'Print the path of CLUSTER\'s session kubeconfig'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "config" -d 'Inspect or create the client configuration'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "serve" -d 'Run the kaccess broker (HTTPS server that issues credentials)'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "request" -d 'Ask for a grant that needs approval; wait, and log in with it once approved'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "admin" -d 'Broker admins and approvers: sessions, revocations, access requests'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "audit" -d 'Work with the broker\'s hash-chained audit log'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "rbac" -d 'Generate Kubernetes RBAC from the broker policy'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "__reap" -d 'Internal: remove a session\'s files when it ends (started by `login`)'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "__generate" -d 'Internal: write completions and man pages into a directory'
complete -c kaccess -n "__fish_kaccess_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l flow -d 'How to sign in at the identity provider' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l reason -d 'Why you need access (ticket, incident); recorded in the audit log' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l grant -d 'A named grant: one that needs an approved request (`kaccess request`), or break glass' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l session-ttl -d 'Wanted session length (e.g. 1h); the broker caps it' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l credential -d 'Override the configured credential kind' -r -f -a "certificate\t''
token\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l token-store -d 'Where to keep the refresh token' -r -f -a "keyring\t'OS keyring (Secret Service on Linux, Keychain on macOS); falls back to file'
file\t'0600 file in the runtime dir'
none\t'Keep no refresh token: every new credential needs a new login'"
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l timeout -d 'How long to wait for the browser or device login' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -s o -l output -d 'Output format of the result (JSON goes to stdout)' -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l break-glass -d 'Take the break-glass grant named by --grant now, without approval (needs --reason)'
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -l embed -d 'Write the certificate and key into the kubeconfig (for tools without exec support); the file then lives only as long as that credential'
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand login" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand logout" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand logout" -l all -d 'Log out of every cluster with a session'
complete -c kaccess -n "__fish_kaccess_using_subcommand logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand logout" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand credential" -l lock-timeout -d 'Longest wait for another kaccess refreshing the same cluster' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand credential" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand credential" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand credential" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand exec" -l reason -d 'Why you need access, used when a login is needed' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand exec" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand exec" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand env" -l shell -d 'Syntax of the printed lines' -r -f -a "sh\t''
fish\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand env" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand env" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand env" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand status" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand status" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand status" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand kubeconfig" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand kubeconfig" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand kubeconfig" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s h -l help -d 'Print help'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and not __fish_seen_subcommand_from check init help" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "check" -d 'Validate the configuration and print the effective settings of one cluster'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "init" -d 'Write a commented example configuration'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and not __fish_seen_subcommand_from check init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from check" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from init" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from init" -l force -d 'Overwrite an existing file'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from init" -l stdout -d 'Print the example on stdout instead of writing it'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the configuration and print the effective settings of one cluster'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write a commented example configuration'
complete -c kaccess -n "__fish_kaccess_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l config -d 'Broker configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l cluster -d 'Cluster for --print-apiserver-config (default: the only one)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l from -d 'Where --migrate-state copies from: `sqlite:PATH`' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l print-apiserver-config -d 'Print the kube-apiserver flags and webhook kubeconfig for this broker, then exit'
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l check -d 'Check the configuration and the files it names (CAs, TLS pair) and connect to a PostgreSQL state database (schema version), then exit: before a start or a SIGHUP'
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -l migrate-state -d 'Copy live sessions, revocations and credentials from --from into the config\'s PostgreSQL database (which must hold no sessions), then exit'
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand serve" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l grant -d 'The grant that needs approval (its `name` in the broker\'s policy)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l reason -d 'Why you need it (ticket, incident); approvers see it, the audit log keeps it' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l duration -d 'How long the elevation should last (default: the grant\'s max-duration)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l wait-timeout -d 'How long to wait for a decision' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l flow -d 'How to sign in at the identity provider, when a login is needed' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l wait -d 'Wait for the decision and log in with the grant once approved (default on a terminal)'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l no-wait -d 'Exit once the request is filed, even on a terminal'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -a "cancel" -d 'Withdraw one of your access requests'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and not __fish_seen_subcommand_from cancel help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -l flow -d 'How to sign in at the identity provider, when a login is needed' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from cancel" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from help" -f -a "cancel" -d 'Withdraw one of your access requests'
complete -c kaccess -n "__fish_kaccess_using_subcommand request; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "sessions" -d 'List live sessions at CLUSTER\'s broker (yours, or everyone\'s for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "revoke" -d 'Revoke sessions at CLUSTER\'s broker: by id, or every live one of `--user`'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "requests" -d 'List access requests at CLUSTER\'s broker (yours, those you may decide, or all for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "approve" -d 'Approve an access request (approver groups only; never your own)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "deny" -d 'Deny an access request (approver groups only)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and not __fish_seen_subcommand_from sessions revoke requests approve deny help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from sessions" -l user -d 'Only this user\'s sessions (the broker\'s username, e.g. an email)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from sessions" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from sessions" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from sessions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from sessions" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -l user -d 'Revoke every live session of this user on CLUSTER' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -l reason -d 'Why (required; recorded in the broker\'s audit log with your name)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -l flow -d 'How to sign in at the identity provider, when a login is needed' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -l pending -d 'Only requests still waiting for a decision'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from requests" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -l reason -d 'Why (required; recorded in the broker\'s audit log with your name)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -l flow -d 'How to sign in at the identity provider, when a login is needed' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from approve" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -l reason -d 'Why (required; recorded in the broker\'s audit log with your name)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -s o -l output -r -f -a "text\t''
json\t''"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -l flow -d 'How to sign in at the identity provider, when a login is needed' -r -f -a "auto\t'Browser when one can be opened and this is not an SSH or headless session, else device'
browser\t'Authorization code + PKCE with a loopback redirect'
device\t'Device authorization grant (RFC 8628): code and QR on the terminal'"
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -l config -d 'Client configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -l no-browser -d 'Never open a browser (prints the URL instead; with --flow auto, picks device)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from deny" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "sessions" -d 'List live sessions at CLUSTER\'s broker (yours, or everyone\'s for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke sessions at CLUSTER\'s broker: by id, or every live one of `--user`'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "requests" -d 'List access requests at CLUSTER\'s broker (yours, those you may decide, or all for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve an access request (approver groups only; never your own)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "deny" -d 'Deny an access request (approver groups only)'
complete -c kaccess -n "__fish_kaccess_using_subcommand admin; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and not __fish_seen_subcommand_from verify export help" -s h -l help -d 'Print help'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and not __fish_seen_subcommand_from verify export help" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and not __fish_seen_subcommand_from verify export help" -f -a "verify" -d 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and not __fish_seen_subcommand_from verify export help" -f -a "export" -d 'Print the audit chain kept in a broker\'s PostgreSQL database as JSON lines (the file format)'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and not __fish_seen_subcommand_from verify export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'Verify the chain in the database of this broker configuration (PostgreSQL state)' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'Broker configuration whose PostgreSQL database holds the chain' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from export" -l since -d 'Only records from this time on: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`24h`). Such an export starts mid-chain, so `kaccess audit verify` checks only full exports' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Print the audit chain kept in a broker\'s PostgreSQL database as JSON lines (the file format)'
complete -c kaccess -n "__fish_kaccess_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and not __fish_seen_subcommand_from render help" -s h -l help -d 'Print help'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and not __fish_seen_subcommand_from render help" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and not __fish_seen_subcommand_from render help" -f -a "render" -d 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and not __fish_seen_subcommand_from render help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from render" -l config -d 'Broker configuration file' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from render" -l cluster -d 'Only this cluster' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from render" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from render" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from help" -f -a "render" -d 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
complete -c kaccess -n "__fish_kaccess_using_subcommand rbac; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand __reap" -l session-id -d 'Session id the reaper belongs to (a newer session is left alone)' -r
complete -c kaccess -n "__fish_kaccess_using_subcommand __reap" -l runtime-dir -d 'Runtime dir holding the session' -r -F
complete -c kaccess -n "__fish_kaccess_using_subcommand __reap" -s h -l help -d 'Print help'
complete -c kaccess -n "__fish_kaccess_using_subcommand __reap" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand __generate" -s h -l help -d 'Print help'
complete -c kaccess -n "__fish_kaccess_using_subcommand __generate" -s V -l version -d 'Print version'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "login" -d 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "logout" -d 'End sessions: revoke at the broker and the IdP, wipe local files'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "credential" -d 'kubectl exec credential plugin: print an ExecCredential for CLUSTER'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "exec" -d 'Run a command with KUBECONFIG set to a private session for CLUSTER'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "env" -d 'Print shell lines that point KUBECONFIG at CLUSTER\'s session'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "status" -d 'Show live sessions: identity, groups, reason, expiry'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "kubeconfig" -d 'Print the path of CLUSTER\'s session kubeconfig'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "config" -d 'Inspect or create the client configuration'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "serve" -d 'Run the kaccess broker (HTTPS server that issues credentials)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "request" -d 'Ask for a grant that needs approval; wait, and log in with it once approved'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "admin" -d 'Broker admins and approvers: sessions, revocations, access requests'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "audit" -d 'Work with the broker\'s hash-chained audit log'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "rbac" -d 'Generate Kubernetes RBAC from the broker policy'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "__reap" -d 'Internal: remove a session\'s files when it ends (started by `login`)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "__generate" -d 'Internal: write completions and man pages into a directory'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and not __fish_seen_subcommand_from login logout credential exec env status kubeconfig config serve request admin audit rbac __reap __generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration and print the effective settings of one cluster'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "init" -d 'Write a commented example configuration'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from request" -f -a "cancel" -d 'Withdraw one of your access requests'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "sessions" -d 'List live sessions at CLUSTER\'s broker (yours, or everyone\'s for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "revoke" -d 'Revoke sessions at CLUSTER\'s broker: by id, or every live one of `--user`'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "requests" -d 'List access requests at CLUSTER\'s broker (yours, those you may decide, or all for an admin)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "approve" -d 'Approve an access request (approver groups only; never your own)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from admin" -f -a "deny" -d 'Deny an access request (approver groups only)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "export" -d 'Print the audit chain kept in a broker\'s PostgreSQL database as JSON lines (the file format)'
complete -c kaccess -n "__fish_kaccess_using_subcommand help; and __fish_seen_subcommand_from rbac" -f -a "render" -d 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`'
