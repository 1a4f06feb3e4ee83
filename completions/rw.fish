# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_rw_global_optspecs
    string join \n h/help V/version
end

function __fish_rw_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_rw_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_rw_using_subcommand
    set -l cmd (__fish_rw_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c rw -n "__fish_rw_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rw -n "__fish_rw_needs_command" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_needs_command" -f -a "serve" -d 'Run the server from uwsgi.ini files and/or uWSGI options'
complete -c rw -n "__fish_rw_needs_command" -f -a "stop" -d 'Stop the server whose master pid is in PIDFILE, and wait until it has exited'
complete -c rw -n "__fish_rw_needs_command" -f -a "reload" -d 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)'
complete -c rw -n "__fish_rw_needs_command" -f -a "connect-and-read" -d 'Print what a socket sends until it closes (e.g. the stats JSON)'
complete -c rw -n "__fish_rw_needs_command" -f -a "check-config" -d 'Validate a uwsgi.ini without starting anything'
complete -c rw -n "__fish_rw_needs_command" -f -a "top" -d 'Live view of a running server\'s workers, read from its stats socket'
complete -c rw -n "__fish_rw_needs_command" -f -a "generate" -d 'Write man pages and shell completions (used to refresh man/ and completions/)'
complete -c rw -n "__fish_rw_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c rw -n "__fish_rw_using_subcommand serve" -l ini -d 'Read another ini file (FILE[:section]) at this point (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l inherit -d 'Read a template file after everything else; its values win (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l set-placeholder -l set-ph -d 'Define a placeholder usable as %(name) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s S -l set -d 'Set an option, or a placeholder if no option has that name (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l strict -d 'Refuse unknown options instead of keeping them as placeholders [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l chdir -d 'Change to this directory before loading the app' -r -f -a "(__fish_complete_directories)"
complete -c rw -n "__fish_rw_using_subcommand serve" -s w -l module -l wsgi -d 'WSGI app as pkg.mod[:callable] (callable may be factory())' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wsgi-file -l file -d 'Python file that defines the WSGI callable' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l callable -d 'Name of the WSGI callable in the module or file [default: application]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s H -l home -l virtualenv -l venv -l pyhome -d 'Python virtualenv (PEP 405) or Python home' -r -f -a "(__fish_complete_directories)"
complete -c rw -n "__fish_rw_using_subcommand serve" -l pythonpath -l python-path -l pp -d 'Add a directory (glob allowed) to sys.path (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l env -d 'Set an environment variable before loading the app (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount -d 'Mount another app at a URL prefix (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l manage-script-name -d 'Move the mountpoint from PATH_INFO to SCRIPT_NAME [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l lazy-apps -d 'Load the app in each worker instead of the master [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l need-app -d 'Exit if the app cannot be loaded [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s i -l single-interpreter -d 'Run every app in the main interpreter [default: false] (accepted; rw always runs every app in the main interpreter)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s T -l enable-threads -d 'Allow Python threads [default: true] (accepted; Python threads are always enabled in rw)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s s -l socket -l uwsgi-socket -d 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l http-socket -d 'Listen on ADDR speaking HTTP/1.1, served by the workers (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l http -d 'Listen on ADDR speaking HTTP/1.1 (served by the workers, no router process) (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l http-keepalive -d 'Keep HTTP connections alive [default: 0] (accepted; rw keeps HTTP/1.1 connections alive on every HTTP listener)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s C -l chmod-socket -d 'Mode of unix sockets (e.g. 660); 1 means 666' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s l -l listen -d 'Listen backlog of every socket [default: 100]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l so-keepalive -d 'Enable SO_KEEPALIVE on TCP sockets [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s z -l socket-timeout -d 'Timeout for reading requests and writing responses [default: 4]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s b -l buffer-size -d 'Largest request head (HTTP) or vars block (uwsgi) [default: 4096]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l post-buffering -d 'Read whole bodies before calling the app; larger ones spool to disk [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l limit-post -d 'Refuse request bodies larger than this (413) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l rw-body-timeout -d 'rw only: a request body must arrive within this (408); 0: no limit [default: 60]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l rw-body-min-rate -d 'rw only: bytes/s a request body must average after a grace of socket-timeout (408); 0: no limit [default: 1024]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l rw-stream-chunked -d 'rw only: pass chunked request bodies to the app as they arrive (wsgi.input_terminated, no CONTENT_LENGTH) instead of reading them first [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l rw-gc-freeze -d 'rw only: gc.freeze() in the master before each fork, so that the workers\' garbage collections do not write to (and so copy) the pages of the objects loaded before it [default: true]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l add-header -d 'Add a header to every response (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-map -d 'Serve files under PATH at URL prefix MOUNT without entering Python (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l check-static -d 'Serve DIR + PATH_INFO as a static file when it exists (repeatable)' -r -f -a "(__fish_complete_directories)"
complete -c rw -n "__fish_rw_using_subcommand serve" -l offload-threads -d 'Threads that send static files [default: 0] (accepted; rw workers send files with sendfile() without offload threads)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l http11-socket -d 'Listen on ADDR speaking HTTP/1.1 with keep-alive (same as http-socket in rw) (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l protocol -l socket-protocol -d 'Protocol of `socket` listeners: uwsgi (default), http or http11' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l plugins -l plugin -d 'Load uWSGI plugins: python variants are built in; rw has no other plugins (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l paste -d 'Load the app with PasteDeploy\'s loadapp (e.g. config:/srv/app/production.ini)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l paste-logger -d 'Configure logging from the paste ini file (logging.config.fileConfig) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l ini-paste -d 'Read FILE\'s [uwsgi] section, then load the app from FILE with PasteDeploy (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l ini-paste-logged -d 'ini-paste, plus paste-logger (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l pymodule-alias -d 'Make `import NAME` give another module or a file: NAME=module or NAME=/path/file.py (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l honour-stdin -d 'Keep stdin instead of reading /dev/null (for pdb and friends) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l no-site -d 'Do not import the site module (a virtualenv\'s packages are then not on sys.path) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l no-orphans -d 'Kill workers when the master dies (rw always does) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l master-as-root -d 'Keep the master as root; only workers switch to uid/gid, after fork [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l py-call-osafterfork -d 'Let workers trap OS signals in Python (rw always calls PyOS_AfterFork_Child) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l chdir2 -d 'Change to this directory after loading the app' -r -f -a "(__fish_complete_directories)"
complete -c rw -n "__fish_rw_using_subcommand serve" -l umask -d 'Set the process umask (three octal digits, e.g. 022)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l chown-socket -d 'chown unix sockets to USER[:GROUP] after binding' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l http-timeout -d 'Timeout of connections on `http` listeners (socket-timeout when unset) [default: 60]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l http-auto-chunked -d 'Send bodies without a length chunked on HTTP/1.1 (rw always does) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l http-enable-proxy-protocol -d 'Read a PROXY protocol (v1 or v2) header on `http` listeners: REMOTE_ADDR is the client [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l enable-proxy-protocol -d 'Read a PROXY protocol (v1 or v2) header on http-socket listeners [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-index -d 'File to serve when a static path is a directory (e.g. index.html) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-skip-ext -d 'Never serve static files ending with this (they go to the app) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-safe -d 'Serve static files under this path even when a symlink leads there from outside the root (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-gzip-all -d 'Serve FILE.br or FILE.gz instead of FILE when the client accepts it [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-type -d 'Expires = now + SECS for static files of a MIME type: TYPE=SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-type-mtime -d 'Expires = mtime + SECS for static files of a MIME type: TYPE=SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires -d 'Expires = now + SECS for static files whose path matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-mtime -d 'Expires = mtime + SECS for static files whose path matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-uri -d 'Expires = now + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-uri-mtime -d 'Expires = mtime + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-path-info -d 'Expires = now + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l static-expires-path-info-mtime -d 'Expires = mtime + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s M -l master -d 'Run the master process (rw always supervises its workers) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s p -l processes -l workers -d 'Number of worker processes [default: 1]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l threads -d 'Threads per worker [default: 1]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l thunder-lock -d 'Serialise accept() across workers [default: false] (accepted; workers wait in epoll and accept non-blocking: no thundering herd to serialise)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s t -l harakiri -d 'Interrupt a request running longer than this (504), then kill its worker if it does not return [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l harakiri-verbose -d 'Log the stuck thread\'s Python stack, syscall and wait channel on harakiri [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l harakiri-graceful-timeout -d 'Seconds an interrupted request has to return before its worker is killed (at least 1) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l harakiri-graceful-signal -d 'Signal sent to the worker with the graceful harakiri attempt, for the app\'s handler (15, the default: none) [default: 15]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s R -l max-requests -d 'Recycle a worker after this many requests [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l max-requests-delta -d 'Add (worker id - 1) x this to max-requests [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l reload-on-rss -d 'Recycle a worker when its RSS exceeds this [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l reload-on-as -d 'Recycle a worker when its address space exceeds this after a request [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l evil-reload-on-rss -d 'The master recycles a worker whose RSS exceeds this, even in a request (killed after worker-reload-mercy) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l evil-reload-on-as -d 'The master recycles a worker whose address space exceeds this, even in a request [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mem-collector-freq -d 'Seconds between the master\'s memory samples for the evil reloads (0 acts as 3) [default: 3]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l max-worker-lifetime -d 'Recycle a worker after it ran this many seconds (0: never) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l max-worker-lifetime-delta -d 'Add (worker id - 1) x this to max-worker-lifetime [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l min-worker-lifetime -d 'Seconds a worker runs before max-requests, reload-on-rss or reload-on-as may recycle it [default: 10]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l worker-reload-mercy -d 'How long a worker may take to stop before SIGKILL [default: 60]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l reload-mercy -d 'How long a stop may take in all before SIGKILL [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper -d 'Adaptive worker count: keep at least N workers, up to processes (0: off) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-initial -d 'Workers started with cheaper on (default: cheaper; kept within cheaper..processes)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-step -d 'Workers spawned at a time when the load grows (0 acts as 1) [default: 1]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-overload -d 'Cycles (spare), listen-queue length (backlog) or seconds per cycle (busyness) [default: 3]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-algo -d 'Cheaper algorithm: spare, spare2, backlog, busyness or manual [default: spare]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-idle -d 'spare2: idle cycles before a worker is stopped (uWSGI 2.1; 2.0 lacks it) [default: 10]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-rss-limit-soft -d 'Spawn no worker that would take the workers\' total RSS above this (needs memory-report) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-rss-limit-hard -d 'Stop a worker while the workers\' total RSS is above this (needs cheaper-rss-limit-soft) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-max -d 'busyness: spawn above this percentage of busy time [default: 50]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-min -d 'busyness: stop a worker below this percentage of busy time [default: 25]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-multiplier -d 'busyness: cycles a worker must be idle before it is stopped [default: 10]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-penalty -d 'busyness: added to the multiplier when a stopped worker is spawned back too soon [default: 2]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-verbose -d 'busyness: log every cycle\'s figures [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-backlog-alert -d 'busyness: spawn emergency workers when the listen queue is longer than this [default: 33]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-backlog-multiplier -d 'busyness: the multiplier for stopping emergency workers [default: 3]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-backlog-step -d 'busyness: emergency workers spawned at a time [default: 1]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheaper-busyness-backlog-nonzero -d 'busyness: spawn emergency workers when the listen queue stays non-empty this long [default: 60]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cheap -d 'Cheap mode: start no worker until the first connection arrives [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l idle -d 'After this many seconds without a request, stop every worker until the next connection (cheap mode) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l die-on-idle -d 'With idle: shut down instead of going cheap [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l die-on-term -d 'SIGTERM stops the server instead of reloading it [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-reload -d 'Gracefully reload when this file changes (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-chain-reload -d 'Chain-reload the workers (one at a time) when this file changes (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-workers-reload -d 'Gracefully replace every worker (no master reload) when this file changes (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l master-fifo -d 'Create this FIFO and obey the one-byte commands written to it (several: switch with 0-9) (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l uid -d 'Drop to this user after binding sockets' -r -f -a "(__fish_complete_users)"
complete -c rw -n "__fish_rw_using_subcommand serve" -l gid -d 'Drop to this group after binding sockets' -r -f -a "(__fish_complete_users)"
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-asap -d 'Run a hook (action:args) as soon as the config is read (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-pre-jail -d 'Run a hook before jailing (cold start only; rw has no jail) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-in-jail -d 'Run a hook at each start, before the sockets are bound (rw has no jail) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-post-jail -d 'Run a hook after jailing (repeatable) (accepted; post-jail steps run only in a jail (uWSGI skips them without one); rw has none)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-as-root -d 'Run a hook before privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-as-user -d 'Run a hook after privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-as-user-atexit -d 'Run a hook when the master exits or reloads (failures are only logged) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-pre-app -d 'Run a hook before the app is loaded (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-post-app -d 'Run a hook after the app is loaded (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-post-fork -d 'Run a hook in each worker right after fork (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-accepting -d 'Run a hook in each worker once it accepts (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-accepting1 -d 'Run a hook in worker 1 once it accepts (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-accepting-once -d 'Run a hook in each worker once it accepts, on its first spawn only (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-accepting1-once -d 'Run a hook in worker 1 once it accepts, on its first spawn only (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-master-start -d 'Run a hook in the master once the workers are forked (unix_signal:N FUNC goes here) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l hook-touch -d 'Run a hook when a file is touched: FILE action:args (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-asap -d 'Run a shell command as soon as the config is read (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-pre-jail -d 'Run a shell command before jailing (cold start only; rw has no jail) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-in-jail -d 'Run a shell command at each start, before the sockets are bound (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-post-jail -d 'Run a shell command after jailing (repeatable) (accepted; post-jail steps run only in a jail (uWSGI skips them without one); rw has none)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-as-root -d 'Run a shell command before privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-as-user -d 'Run a shell command after privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-as-user-atexit -d 'Run a shell command when the master exits or reloads (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-pre-app -d 'Run a shell command before the app is loaded (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l exec-post-app -d 'Run a shell command after the app is loaded (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-fs -d 'Wait for this path to exist before the as-root steps (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-file -d 'Wait for this file before the as-root steps (when started as root; uWSGI 2.0 takes any kind of entry) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-dir -d 'Wait for this directory before the as-root steps (when started as root; uWSGI 2.0 takes any kind of entry) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-mountpoint -d 'Wait for a filesystem to be mounted on this directory before the as-root steps (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-fs-timeout -d 'Longest wait of wait-for-fs/file/dir/mountpoint and the wait_for_* hooks (0: 60) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-socket -d 'Wait until a connection to this address succeeds, before the sockets are bound (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l wait-for-socket-timeout -d 'Longest wait of wait-for-socket and wait_for_socket hooks (0: 60) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount-asap -d 'Mount a filesystem as soon as the config is read: FS SOURCE TARGET [FLAGS [DATA]] (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount-pre-jail -d 'Mount a filesystem before jailing (cold start only) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount-in-jail -d 'Mount a filesystem at each start, before the sockets are bound (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount-post-jail -d 'Mount a filesystem after jailing (repeatable) (accepted; post-jail steps run only in a jail (uWSGI skips them without one); rw has none)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mount-as-root -d 'Mount a filesystem before privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l umount-asap -d 'Unmount a filesystem as soon as the config is read: TARGET [FLAGS] (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l umount-pre-jail -d 'Unmount a filesystem before jailing (cold start only) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l umount-in-jail -d 'Unmount a filesystem at each start, before the sockets are bound (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l umount-post-jail -d 'Unmount a filesystem after jailing (repeatable) (accepted; post-jail steps run only in a jail (uWSGI skips them without one); rw has none)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l umount-as-root -d 'Unmount a filesystem before privileges are dropped (when started as root) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l auto-procname -d 'Name processes `uWSGI master`, `uWSGI worker N` in ps [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l procname -d 'Name every process TEXT in ps (turns auto-procname on)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l procname-master -d 'Name the master TEXT in ps (turns auto-procname on)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l procname-prefix -d 'Put TEXT before every process name (turns auto-procname on)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l procname-prefix-spaced -d 'Put TEXT and a space before every process name (turns auto-procname on)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l procname-append -d 'Put TEXT after every process name (turns auto-procname on)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l pidfile -d 'Write the master pid to this file' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -s d -l daemonize -d 'Detach and log to this file' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l vacuum -d 'Remove unix sockets and the pidfile at exit [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l logto -d 'Log to this file' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -s L -l disable-logging -d 'Do not log requests [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-format -l logformat -d 'Request log line format with %(var) variables' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s m -l memory-report -d 'Sample and log worker memory after each request [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-4xx -d 'With disable-logging, still log requests answered 4xx [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-5xx -d 'With disable-logging, still log requests answered 5xx [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-slow -d 'With disable-logging, still log requests taking at least N milliseconds [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-big -d 'With disable-logging, still log responses of at least BYTES of body [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-zero -d 'With disable-logging, still log responses without a body [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-sendfile -d 'With disable-logging, still log responses sent with sendfile [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-ioerror -d 'With disable-logging, still log requests that had both a read and a write error (as uWSGI 2.0) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-micros -d 'Request lines give the response time in micros instead of msecs [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-x-forwarded-for -d 'Request lines show the X-Forwarded-For header instead of the peer address [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-date -l logdate -l log-prefix -d 'Stamp server log lines with the date, or with strftime(TEXT) when TEXT is given' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l logformat-strftime -l log-format-strftime -d '%(ftime) in log-format uses the log-date strftime format [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l logto2 -d 'Log to this file, opened after privileges are dropped' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-reopen -d 'Reopen the log file after a reload [default: false] (accepted; rw reopens the log file after every reload)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-logreopen -d 'Reopen the log file (every process) when this file changes (logrotate without copytruncate) (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-logrotate -d 'Rotate the log file when this file changes (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-maxsize -d 'Rotate the log file when it grows past BYTES [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-backupname -d 'Name of the rotated log file (default: the log file\'s name + .UNIXTIME)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l logfile-chmod -d 'Mode of the log file, three octal digits (e.g. 640)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l logfile-chown -d 'Give the log file to uid/gid before dropping privileges [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-master -d 'Workers hand their log lines to the master, the only writer of the log (no line mixes with another) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-truncate -d 'Empty the log file when rw starts (not on reloads) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-syslog -d 'Send server lines to syslog with ident TEXT (default uwsgi): logger = syslog:TEXT' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l threaded-logger -d 'Write log-master lines from a thread of the master [default: false] (accepted; the master writes log-master lines in bounded batches from its loop; no thread is needed)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-master-bufsize -d 'Largest log-master line [default: 8192] (accepted; rw passes log-master lines of up to 256 KiB whole; uWSGI cuts them at this size)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-master-stream -d 'Make the log-master pipe a stream [default: false] (accepted; rw\'s log-master pipe keeps each line one message, so lines cannot mix)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-master-req-stream -d 'Make the log-master request pipe a stream [default: false] (accepted; rw\'s log-master pipe keeps each line one message, so lines cannot mix)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-drain -d 'Drop log lines (server lines, and request lines without req-logger) matching this regexp (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-filter -d 'Keep only the log lines matching one of these regexps (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-route -d 'Send server lines matching REGEXP to the named logger ID instead: ID REGEXP (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l logger -d 'Send server lines to a logger: file:PATH, fd:N, stdio, syslog[:IDENT[,FACILITY]] (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l req-logger -l logger-req -d 'Send request lines to a logger (same backends as logger) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-encoder -d 'Rewrite server lines (and request lines without req-logger): prefix, suffix, nl, format, json (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l log-req-encoder -d 'Rewrite req-logger lines: prefix, suffix, nl, format, json (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l stats -l stats-server -d 'Serve uWSGI-compatible stats JSON on ADDR' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l stats-http -d 'Serve the stats over HTTP (and /metrics) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cache2 -d 'Create a shared cache: name=NAME,items=N[,blocksize=BYTES,keysize=BYTES,hashsize=N,math_initial=N,ignore_full=1] (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cache -d 'Create the legacy cache `default` with N item slots [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cache-blocksize -d 'Block (largest value) size of the legacy cache; 0 means 65536 [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l locks -d 'Create N more user locks for uwsgi.lock(n) (lock 0 always exists), shared by every worker [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mule -d 'Add a mule: a .py script run as __main__, a module:callable, or (any other value) a bare mule running the mule loop (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mules -d 'Add N bare mules (after the `mule` ones) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l farm -d 'Group mules in a farm for farm_msg: NAME:MULE[,MULE...] (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l mule-msg-size -d 'Socket buffer size of the mule message queues (0: the system\'s) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l attach-daemon -d 'Run this command (sh -c) beside the workers; respawn it when it dies, stop it with the instance (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l attach-control-daemon -d 'As attach-daemon, and stop the instance when the command dies (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l smart-attach-daemon -d 'Run a daemonizing command, watched through its pidfile: PIDFILE[,FREQ] COMMAND (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l smart-attach-daemon2 -d 'Run a foreground command as a daemon whose pidfile rw writes: PIDFILE[,FREQ] COMMAND (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l attach-daemon2 -d 'Attached daemon by keys: cmd=…,pidfile=…,daemonize=1,control=1,touch=F;G,stopsignal=N,reloadsignal=N,stdin=1,uid=…,gid=…,chdir=…,freq=N,max_throttle=N,notifypid=1 (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l daemons-honour-stdin -d 'Attached daemons keep the master\'s stdin instead of /dev/null [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cron -d 'Run COMMAND on the minute: MIN HOUR DAY MONTH WEEK COMMAND (-1: every, -N: every Nth) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l unique-cron -d 'As cron, never starting a run while the previous one is still going (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cron2 -d 'Cron by keys: minute=…,hour=…,day=…,month=…,week=…,unique=1,harakiri=SECS COMMAND (absent fields: every) (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l cron-harakiri -d 'Kill a cron command still running after this many seconds (0: never) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s Q -l spooler -d 'Run a spooler on this directory (created if missing; repeatable): uwsgi.spool() jobs run in its own process (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-external -d 'Write uwsgi.spool() jobs to this directory too (select it with the `spooler` key): another instance runs them (repeatable)' -r -F
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-processes -d 'Spooler processes per spooler directory (0 means 1) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-frequency -l spooler-freq -d 'Seconds a spooler sleeps between two scans of its directory (a new job wakes it at once) [default: 30]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-import -l spooler-pyimport -l spooler-py-import -l spooler-python-import -d 'Import this Python module (or .py file) in each spooler process (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-max-tasks -d 'Recycle a spooler process after N tasks (0: never) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-harakiri -d 'Kill a spooler process whose task runs longer than SECS (it is respawned; the task runs again) [default: 0]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-ordered -d 'Run tasks in version order, priority directories first (without it priority directories are not run, as in uWSGI) [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-chdir -d 'chdir() to this directory before each spooler task' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l touch-spoolers-reload -d 'Restart the spoolers (SIGKILL, then respawn) when this file is touched (repeatable)' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -l spooler-quiet -d 'Do not log each spooler task [default: false]' -r -f
complete -c rw -n "__fish_rw_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rw -n "__fish_rw_using_subcommand serve" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand stop" -l timeout -d 'Give up waiting after this many seconds (the signal stays sent)' -r
complete -c rw -n "__fish_rw_using_subcommand stop" -s h -l help -d 'Print help'
complete -c rw -n "__fish_rw_using_subcommand stop" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand reload" -l timeout -d 'Give up waiting after this many seconds (the signal stays sent)' -r
complete -c rw -n "__fish_rw_using_subcommand reload" -s h -l help -d 'Print help'
complete -c rw -n "__fish_rw_using_subcommand reload" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand connect-and-read" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rw -n "__fish_rw_using_subcommand connect-and-read" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand check-config" -l json -d 'Print the fully resolved config (every variable expanded) as JSON'
complete -c rw -n "__fish_rw_using_subcommand check-config" -l strict -d 'Fail (exit 1) on warnings too'
complete -c rw -n "__fish_rw_using_subcommand check-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rw -n "__fish_rw_using_subcommand check-config" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand top" -l interval -d 'Seconds between refreshes' -r
complete -c rw -n "__fish_rw_using_subcommand top" -l once -d 'Print one frame to stdout and exit'
complete -c rw -n "__fish_rw_using_subcommand top" -l json -d 'Print one snapshot as JSON and exit'
complete -c rw -n "__fish_rw_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rw -n "__fish_rw_using_subcommand top" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand generate" -l out -d 'Directory that receives man/ and completions/' -r -f -a "(__fish_complete_directories)"
complete -c rw -n "__fish_rw_using_subcommand generate" -s h -l help -d 'Print help'
complete -c rw -n "__fish_rw_using_subcommand generate" -s V -l version -d 'Print version'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "serve" -d 'Run the server from uwsgi.ini files and/or uWSGI options'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "stop" -d 'Stop the server whose master pid is in PIDFILE, and wait until it has exited'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "reload" -d 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "connect-and-read" -d 'Print what a socket sends until it closes (e.g. the stats JSON)'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "check-config" -d 'Validate a uwsgi.ini without starting anything'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "top" -d 'Live view of a running server\'s workers, read from its stats socket'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "generate" -d 'Write man pages and shell completions (used to refresh man/ and completions/)'
complete -c rw -n "__fish_rw_using_subcommand help; and not __fish_seen_subcommand_from serve stop reload connect-and-read check-config top generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
