
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kaccess' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kaccess'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kaccess' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'End sessions: revoke at the broker and the IdP, wipe local files')
            [CompletionResult]::new('credential', 'credential', [CompletionResultType]::ParameterValue, 'kubectl exec credential plugin: print an ExecCredential for CLUSTER')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command with KUBECONFIG set to a private session for CLUSTER')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'Print shell lines that point KUBECONFIG at CLUSTER''s session')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show live sessions: identity, groups, reason, expiry')
            [CompletionResult]::new('kubeconfig', 'kubeconfig', [CompletionResultType]::ParameterValue, 'Print the path of CLUSTER''s session kubeconfig')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspect or create the client configuration')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the kaccess broker (HTTPS server that issues credentials)')
            [CompletionResult]::new('request', 'request', [CompletionResultType]::ParameterValue, 'Ask for a grant that needs approval; wait, and log in with it once approved')
            [CompletionResult]::new('admin', 'admin', [CompletionResultType]::ParameterValue, 'Broker admins and approvers: sessions, revocations, access requests')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Work with the broker''s hash-chained audit log')
            [CompletionResult]::new('rbac', 'rbac', [CompletionResultType]::ParameterValue, 'Generate Kubernetes RBAC from the broker policy')
            [CompletionResult]::new('__reap', '__reap', [CompletionResultType]::ParameterValue, 'Internal: remove a session''s files when it ends (started by `login`)')
            [CompletionResult]::new('__generate', '__generate', [CompletionResultType]::ParameterValue, 'Internal: write completions and man pages into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;login' {
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why you need access (ticket, incident); recorded in the audit log')
            [CompletionResult]::new('--grant', '--grant', [CompletionResultType]::ParameterName, 'A named grant: one that needs an approved request (`kaccess request`), or break glass')
            [CompletionResult]::new('--session-ttl', '--session-ttl', [CompletionResultType]::ParameterName, 'Wanted session length (e.g. 1h); the broker caps it')
            [CompletionResult]::new('--credential', '--credential', [CompletionResultType]::ParameterName, 'Override the configured credential kind')
            [CompletionResult]::new('--token-store', '--token-store', [CompletionResultType]::ParameterName, 'Where to keep the refresh token')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for the browser or device login')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format of the result (JSON goes to stdout)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format of the result (JSON goes to stdout)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('--break-glass', '--break-glass', [CompletionResultType]::ParameterName, 'Take the break-glass grant named by --grant now, without approval (needs --reason)')
            [CompletionResult]::new('--embed', '--embed', [CompletionResultType]::ParameterName, 'Write the certificate and key into the kubeconfig (for tools without exec support); the file then lives only as long as that credential')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;logout' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Log out of every cluster with a session')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;credential' {
            [CompletionResult]::new('--lock-timeout', '--lock-timeout', [CompletionResultType]::ParameterName, 'Longest wait for another kaccess refreshing the same cluster')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;exec' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why you need access, used when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;env' {
            [CompletionResult]::new('--shell', '--shell', [CompletionResultType]::ParameterName, 'Syntax of the printed lines')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;status' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;kubeconfig' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;config' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings of one cluster')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented example configuration')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;config;check' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;config;init' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing file')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Print the example on stdout instead of writing it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;config;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings of one cluster')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented example configuration')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;config;help;check' {
            break
        }
        'kaccess;config;help;init' {
            break
        }
        'kaccess;config;help;help' {
            break
        }
        'kaccess;serve' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Broker configuration file')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Cluster for --print-apiserver-config (default: the only one)')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Where --migrate-state copies from: `sqlite:PATH`')
            [CompletionResult]::new('--print-apiserver-config', '--print-apiserver-config', [CompletionResultType]::ParameterName, 'Print the kube-apiserver flags and webhook kubeconfig for this broker, then exit')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Check the configuration and the files it names (CAs, TLS pair) and connect to a PostgreSQL state database (schema version), then exit: before a start or a SIGHUP')
            [CompletionResult]::new('--migrate-state', '--migrate-state', [CompletionResultType]::ParameterName, 'Copy live sessions, revocations and credentials from --from into the config''s PostgreSQL database (which must hold no sessions), then exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;request' {
            [CompletionResult]::new('--grant', '--grant', [CompletionResultType]::ParameterName, 'The grant that needs approval (its `name` in the broker''s policy)')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why you need it (ticket, incident); approvers see it, the audit log keeps it')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long the elevation should last (default: the grant''s max-duration)')
            [CompletionResult]::new('--wait-timeout', '--wait-timeout', [CompletionResultType]::ParameterName, 'How long to wait for a decision')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider, when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait for the decision and log in with the grant once approved (default on a terminal)')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, 'Exit once the request is filed, even on a terminal')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Withdraw one of your access requests')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;request;cancel' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider, when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;request;help' {
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Withdraw one of your access requests')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;request;help;cancel' {
            break
        }
        'kaccess;request;help;help' {
            break
        }
        'kaccess;admin' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('sessions', 'sessions', [CompletionResultType]::ParameterValue, 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`')
            [CompletionResult]::new('requests', 'requests', [CompletionResultType]::ParameterValue, 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve an access request (approver groups only; never your own)')
            [CompletionResult]::new('deny', 'deny', [CompletionResultType]::ParameterValue, 'Deny an access request (approver groups only)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;admin;sessions' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only this user''s sessions (the broker''s username, e.g. an email)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;admin;revoke' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Revoke every live session of this user on CLUSTER')
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (required; recorded in the broker''s audit log with your name)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;admin;requests' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider, when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--pending', '--pending', [CompletionResultType]::ParameterName, 'Only requests still waiting for a decision')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;admin;approve' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (required; recorded in the broker''s audit log with your name)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider, when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;admin;deny' {
            [CompletionResult]::new('--reason', '--reason', [CompletionResultType]::ParameterName, 'Why (required; recorded in the broker''s audit log with your name)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'o')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'output')
            [CompletionResult]::new('--flow', '--flow', [CompletionResultType]::ParameterName, 'How to sign in at the identity provider, when a login is needed')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Client configuration file')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Never open a browser (prints the URL instead; with --flow auto, picks device)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;admin;help' {
            [CompletionResult]::new('sessions', 'sessions', [CompletionResultType]::ParameterValue, 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`')
            [CompletionResult]::new('requests', 'requests', [CompletionResultType]::ParameterValue, 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve an access request (approver groups only; never your own)')
            [CompletionResult]::new('deny', 'deny', [CompletionResultType]::ParameterValue, 'Deny an access request (approver groups only)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;admin;help;sessions' {
            break
        }
        'kaccess;admin;help;revoke' {
            break
        }
        'kaccess;admin;help;requests' {
            break
        }
        'kaccess;admin;help;approve' {
            break
        }
        'kaccess;admin;help;deny' {
            break
        }
        'kaccess;admin;help;help' {
            break
        }
        'kaccess;audit' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;audit;verify' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Verify the chain in the database of this broker configuration (PostgreSQL state)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;audit;export' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Broker configuration whose PostgreSQL database holds the chain')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only records from this time on: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`24h`). Such an export starts mid-chain, so `kaccess audit verify` checks only full exports')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;audit;help' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;audit;help;verify' {
            break
        }
        'kaccess;audit;help;export' {
            break
        }
        'kaccess;audit;help;help' {
            break
        }
        'kaccess;rbac' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;rbac;render' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Broker configuration file')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Only this cluster')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;rbac;help' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;rbac;help;render' {
            break
        }
        'kaccess;rbac;help;help' {
            break
        }
        'kaccess;__reap' {
            [CompletionResult]::new('--session-id', '--session-id', [CompletionResultType]::ParameterName, 'Session id the reaper belongs to (a newer session is left alone)')
            [CompletionResult]::new('--runtime-dir', '--runtime-dir', [CompletionResultType]::ParameterName, 'Runtime dir holding the session')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;__generate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kaccess;help' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'End sessions: revoke at the broker and the IdP, wipe local files')
            [CompletionResult]::new('credential', 'credential', [CompletionResultType]::ParameterValue, 'kubectl exec credential plugin: print an ExecCredential for CLUSTER')
            [CompletionResult]::new('exec', 'exec', [CompletionResultType]::ParameterValue, 'Run a command with KUBECONFIG set to a private session for CLUSTER')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'Print shell lines that point KUBECONFIG at CLUSTER''s session')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show live sessions: identity, groups, reason, expiry')
            [CompletionResult]::new('kubeconfig', 'kubeconfig', [CompletionResultType]::ParameterValue, 'Print the path of CLUSTER''s session kubeconfig')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Inspect or create the client configuration')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the kaccess broker (HTTPS server that issues credentials)')
            [CompletionResult]::new('request', 'request', [CompletionResultType]::ParameterValue, 'Ask for a grant that needs approval; wait, and log in with it once approved')
            [CompletionResult]::new('admin', 'admin', [CompletionResultType]::ParameterValue, 'Broker admins and approvers: sessions, revocations, access requests')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Work with the broker''s hash-chained audit log')
            [CompletionResult]::new('rbac', 'rbac', [CompletionResultType]::ParameterValue, 'Generate Kubernetes RBAC from the broker policy')
            [CompletionResult]::new('__reap', '__reap', [CompletionResultType]::ParameterValue, 'Internal: remove a session''s files when it ends (started by `login`)')
            [CompletionResult]::new('__generate', '__generate', [CompletionResultType]::ParameterValue, 'Internal: write completions and man pages into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kaccess;help;login' {
            break
        }
        'kaccess;help;logout' {
            break
        }
        'kaccess;help;credential' {
            break
        }
        'kaccess;help;exec' {
            break
        }
        'kaccess;help;env' {
            break
        }
        'kaccess;help;status' {
            break
        }
        'kaccess;help;kubeconfig' {
            break
        }
        'kaccess;help;config' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate the configuration and print the effective settings of one cluster')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented example configuration')
            break
        }
        'kaccess;help;config;check' {
            break
        }
        'kaccess;help;config;init' {
            break
        }
        'kaccess;help;serve' {
            break
        }
        'kaccess;help;request' {
            [CompletionResult]::new('cancel', 'cancel', [CompletionResultType]::ParameterValue, 'Withdraw one of your access requests')
            break
        }
        'kaccess;help;request;cancel' {
            break
        }
        'kaccess;help;admin' {
            [CompletionResult]::new('sessions', 'sessions', [CompletionResultType]::ParameterValue, 'List live sessions at CLUSTER''s broker (yours, or everyone''s for an admin)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke sessions at CLUSTER''s broker: by id, or every live one of `--user`')
            [CompletionResult]::new('requests', 'requests', [CompletionResultType]::ParameterValue, 'List access requests at CLUSTER''s broker (yours, those you may decide, or all for an admin)')
            [CompletionResult]::new('approve', 'approve', [CompletionResultType]::ParameterValue, 'Approve an access request (approver groups only; never your own)')
            [CompletionResult]::new('deny', 'deny', [CompletionResultType]::ParameterValue, 'Deny an access request (approver groups only)')
            break
        }
        'kaccess;help;admin;sessions' {
            break
        }
        'kaccess;help;admin;revoke' {
            break
        }
        'kaccess;help;admin;requests' {
            break
        }
        'kaccess;help;admin;approve' {
            break
        }
        'kaccess;help;admin;deny' {
            break
        }
        'kaccess;help;audit' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the audit chain kept in a broker''s PostgreSQL database as JSON lines (the file format)')
            break
        }
        'kaccess;help;audit;verify' {
            break
        }
        'kaccess;help;audit;export' {
            break
        }
        'kaccess;help;rbac' {
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`')
            break
        }
        'kaccess;help;rbac;render' {
            break
        }
        'kaccess;help;__reap' {
            break
        }
        'kaccess;help;__generate' {
            break
        }
        'kaccess;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
