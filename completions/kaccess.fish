complete --keep-order --exclusive --command kaccess --arguments "(COMPLETE=fish kaccess -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
