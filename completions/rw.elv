
use builtin;
use str;

set edit:completion:arg-completer[rw] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'rw'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'rw'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the server from uwsgi.ini files and/or uWSGI options'
            cand stop 'Stop the server whose master pid is in PIDFILE, and wait until it has exited'
            cand reload 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)'
            cand connect-and-read 'Print what a socket sends until it closes (e.g. the stats JSON)'
            cand check-config 'Validate a uwsgi.ini without starting anything'
            cand top 'Live view of a running server''s workers, read from its stats socket'
            cand generate 'Write man pages and shell completions (used to refresh man/ and completions/)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rw;serve'= {
            cand --ini 'Read another ini file (FILE[:section]) at this point (repeatable)'
            cand --inherit 'Read a template file after everything else; its values win (repeatable)'
            cand --set-placeholder 'Define a placeholder usable as %(name) (repeatable)'
            cand --set-ph 'Define a placeholder usable as %(name) (repeatable)'
            cand -S 'Set an option, or a placeholder if no option has that name (repeatable)'
            cand --set 'Set an option, or a placeholder if no option has that name (repeatable)'
            cand --strict 'Refuse unknown options instead of keeping them as placeholders [default: false]'
            cand --chdir 'Change to this directory before loading the app'
            cand -w 'WSGI app as pkg.mod[:callable] (callable may be factory())'
            cand --module 'WSGI app as pkg.mod[:callable] (callable may be factory())'
            cand --wsgi 'WSGI app as pkg.mod[:callable] (callable may be factory())'
            cand --wsgi-file 'Python file that defines the WSGI callable'
            cand --file 'Python file that defines the WSGI callable'
            cand --callable 'Name of the WSGI callable in the module or file [default: application]'
            cand -H 'Python virtualenv (PEP 405) or Python home'
            cand --home 'Python virtualenv (PEP 405) or Python home'
            cand --virtualenv 'Python virtualenv (PEP 405) or Python home'
            cand --venv 'Python virtualenv (PEP 405) or Python home'
            cand --pyhome 'Python virtualenv (PEP 405) or Python home'
            cand --pythonpath 'Add a directory (glob allowed) to sys.path (repeatable)'
            cand --python-path 'Add a directory (glob allowed) to sys.path (repeatable)'
            cand --pp 'Add a directory (glob allowed) to sys.path (repeatable)'
            cand --env 'Set an environment variable before loading the app (repeatable)'
            cand --mount 'Mount another app at a URL prefix (repeatable)'
            cand --manage-script-name 'Move the mountpoint from PATH_INFO to SCRIPT_NAME [default: false]'
            cand --lazy-apps 'Load the app in each worker instead of the master [default: false]'
            cand --need-app 'Exit if the app cannot be loaded [default: false]'
            cand -i 'Run every app in the main interpreter [default: false] (accepted; rw always runs every app in the main interpreter)'
            cand --single-interpreter 'Run every app in the main interpreter [default: false] (accepted; rw always runs every app in the main interpreter)'
            cand -T 'Allow Python threads [default: true] (accepted; Python threads are always enabled in rw)'
            cand --enable-threads 'Allow Python threads [default: true] (accepted; Python threads are always enabled in rw)'
            cand -s 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)'
            cand --socket 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)'
            cand --uwsgi-socket 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)'
            cand --http-socket 'Listen on ADDR speaking HTTP/1.1, served by the workers (repeatable)'
            cand --http 'Listen on ADDR speaking HTTP/1.1 (served by the workers, no router process) (repeatable)'
            cand --http-keepalive 'Keep HTTP connections alive [default: 0] (accepted; rw keeps HTTP/1.1 connections alive on every HTTP listener)'
            cand -C 'Mode of unix sockets (e.g. 660); 1 means 666'
            cand --chmod-socket 'Mode of unix sockets (e.g. 660); 1 means 666'
            cand -l 'Listen backlog of every socket [default: 100]'
            cand --listen 'Listen backlog of every socket [default: 100]'
            cand --so-keepalive 'Enable SO_KEEPALIVE on TCP sockets [default: false]'
            cand -z 'Timeout for reading requests and writing responses [default: 4]'
            cand --socket-timeout 'Timeout for reading requests and writing responses [default: 4]'
            cand -b 'Largest request head (HTTP) or vars block (uwsgi) [default: 4096]'
            cand --buffer-size 'Largest request head (HTTP) or vars block (uwsgi) [default: 4096]'
            cand --post-buffering 'Read whole bodies before calling the app; larger ones spool to disk [default: 0]'
            cand --limit-post 'Refuse request bodies larger than this (413) [default: 0]'
            cand --add-header 'Add a header to every response (repeatable)'
            cand --static-map 'Serve files under PATH at URL prefix MOUNT without entering Python (repeatable)'
            cand --check-static 'Serve DIR + PATH_INFO as a static file when it exists (repeatable)'
            cand --offload-threads 'Threads that send static files [default: 0] (accepted; rw workers send files with sendfile() without offload threads)'
            cand --http11-socket 'Listen on ADDR speaking HTTP/1.1 with keep-alive (same as http-socket in rw) (repeatable)'
            cand --protocol 'Protocol of `socket` listeners: uwsgi (default), http or http11'
            cand --socket-protocol 'Protocol of `socket` listeners: uwsgi (default), http or http11'
            cand --plugins 'Load uWSGI plugins: python variants are built in; rw has no other plugins (repeatable)'
            cand --plugin 'Load uWSGI plugins: python variants are built in; rw has no other plugins (repeatable)'
            cand --paste 'Load the app with PasteDeploy''s loadapp (e.g. config:/srv/app/production.ini)'
            cand --paste-logger 'Configure logging from the paste ini file (logging.config.fileConfig) [default: false]'
            cand --ini-paste 'Read FILE''s [uwsgi] section, then load the app from FILE with PasteDeploy (repeatable)'
            cand --ini-paste-logged 'ini-paste, plus paste-logger (repeatable)'
            cand --pymodule-alias 'Make `import NAME` give another module or a file: NAME=module or NAME=/path/file.py (repeatable)'
            cand --honour-stdin 'Keep stdin instead of reading /dev/null (for pdb and friends) [default: false]'
            cand --no-site 'Do not import the site module (a virtualenv''s packages are then not on sys.path) [default: false]'
            cand --no-orphans 'Kill workers when the master dies (rw always does) [default: false]'
            cand --master-as-root 'Keep the master as root; only workers switch to uid/gid, after fork [default: false]'
            cand --py-call-osafterfork 'Let workers trap OS signals in Python (rw always calls PyOS_AfterFork_Child) [default: false]'
            cand --chdir2 'Change to this directory after loading the app'
            cand --umask 'Set the process umask (three octal digits, e.g. 022)'
            cand --chown-socket 'chown unix sockets to USER[:GROUP] after binding'
            cand --http-timeout 'Timeout of connections on `http` listeners (socket-timeout when unset) [default: 60]'
            cand --http-auto-chunked 'Send bodies without a length chunked on HTTP/1.1 (rw always does) [default: false]'
            cand --http-enable-proxy-protocol 'Read a PROXY protocol (v1 or v2) header on `http` listeners: REMOTE_ADDR is the client [default: false]'
            cand --enable-proxy-protocol 'Read a PROXY protocol (v1 or v2) header on http-socket listeners [default: false]'
            cand --static-index 'File to serve when a static path is a directory (e.g. index.html) (repeatable)'
            cand --static-skip-ext 'Never serve static files ending with this (they go to the app) (repeatable)'
            cand --static-safe 'Serve static files under this path even when a symlink leads there from outside the root (repeatable)'
            cand --static-gzip-all 'Serve FILE.br or FILE.gz instead of FILE when the client accepts it [default: false]'
            cand --static-expires-type 'Expires = now + SECS for static files of a MIME type: TYPE=SECS (repeatable)'
            cand --static-expires-type-mtime 'Expires = mtime + SECS for static files of a MIME type: TYPE=SECS (repeatable)'
            cand --static-expires 'Expires = now + SECS for static files whose path matches: REGEXP SECS (repeatable)'
            cand --static-expires-mtime 'Expires = mtime + SECS for static files whose path matches: REGEXP SECS (repeatable)'
            cand --static-expires-uri 'Expires = now + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)'
            cand --static-expires-uri-mtime 'Expires = mtime + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)'
            cand --static-expires-path-info 'Expires = now + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)'
            cand --static-expires-path-info-mtime 'Expires = mtime + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)'
            cand -M 'Run the master process (rw always supervises its workers) [default: false]'
            cand --master 'Run the master process (rw always supervises its workers) [default: false]'
            cand -p 'Number of worker processes [default: 1]'
            cand --processes 'Number of worker processes [default: 1]'
            cand --workers 'Number of worker processes [default: 1]'
            cand --threads 'Threads per worker [default: 1]'
            cand --thunder-lock 'Serialise accept() across workers [default: false] (accepted; workers wait in epoll and accept non-blocking: no thundering herd to serialise)'
            cand -t 'Interrupt a request running longer than this (504), then kill its worker if it does not return [default: 0]'
            cand --harakiri 'Interrupt a request running longer than this (504), then kill its worker if it does not return [default: 0]'
            cand --harakiri-verbose 'Log the stuck thread''s Python stack, syscall and wait channel on harakiri [default: false]'
            cand --harakiri-graceful-timeout 'Seconds an interrupted request has to return before its worker is killed (at least 1) [default: 0]'
            cand --harakiri-graceful-signal 'Signal of uWSGI''s graceful harakiri attempt [default: 15] (accepted; rw''s graceful attempt is an exception raised in the stuck thread, not a signal to the worker)'
            cand -R 'Recycle a worker after this many requests [default: 0]'
            cand --max-requests 'Recycle a worker after this many requests [default: 0]'
            cand --max-requests-delta 'Add (worker id - 1) x this to max-requests [default: 0]'
            cand --reload-on-rss 'Recycle a worker when its RSS exceeds this [default: 0]'
            cand --worker-reload-mercy 'How long a worker may take to stop before SIGKILL [default: 60]'
            cand --reload-mercy 'How long a stop may take in all before SIGKILL [default: 0]'
            cand --cheaper 'Adaptive worker count: keep at least N workers, up to processes (0: off) [default: 0]'
            cand --cheaper-initial 'Workers started with cheaper on (default: cheaper; kept within cheaper..processes)'
            cand --cheaper-step 'Workers spawned at a time when the load grows (0 acts as 1) [default: 1]'
            cand --cheaper-overload 'Cycles (spare), listen-queue length (backlog) or seconds per cycle (busyness) [default: 3]'
            cand --cheaper-algo 'Cheaper algorithm: spare, spare2, backlog, busyness or manual [default: spare]'
            cand --cheaper-idle 'spare2: idle cycles before a worker is stopped (uWSGI 2.1; 2.0 lacks it) [default: 10]'
            cand --cheaper-rss-limit-soft 'Spawn no worker that would take the workers'' total RSS above this (needs memory-report) [default: 0]'
            cand --cheaper-rss-limit-hard 'Stop a worker while the workers'' total RSS is above this (needs cheaper-rss-limit-soft) [default: 0]'
            cand --cheaper-busyness-max 'busyness: spawn above this percentage of busy time [default: 50]'
            cand --cheaper-busyness-min 'busyness: stop a worker below this percentage of busy time [default: 25]'
            cand --cheaper-busyness-multiplier 'busyness: cycles a worker must be idle before it is stopped [default: 10]'
            cand --cheaper-busyness-penalty 'busyness: added to the multiplier when a stopped worker is spawned back too soon [default: 2]'
            cand --cheaper-busyness-verbose 'busyness: log every cycle''s figures [default: false]'
            cand --cheaper-busyness-backlog-alert 'busyness: spawn emergency workers when the listen queue is longer than this [default: 33]'
            cand --cheaper-busyness-backlog-multiplier 'busyness: the multiplier for stopping emergency workers [default: 3]'
            cand --cheaper-busyness-backlog-step 'busyness: emergency workers spawned at a time [default: 1]'
            cand --cheaper-busyness-backlog-nonzero 'busyness: spawn emergency workers when the listen queue stays non-empty this long [default: 60]'
            cand --cheap 'Cheap mode: start no worker until the first connection arrives [default: false]'
            cand --idle 'After this many seconds without a request, stop every worker until the next connection (cheap mode) [default: 0]'
            cand --die-on-idle 'With idle: shut down instead of going cheap [default: false]'
            cand --die-on-term 'SIGTERM stops the server instead of reloading it [default: false]'
            cand --touch-reload 'Gracefully reload when this file changes (repeatable)'
            cand --uid 'Drop to this user after binding sockets'
            cand --gid 'Drop to this group after binding sockets'
            cand --procname-prefix-spaced 'Prefix process titles with TEXT and a space'
            cand --pidfile 'Write the master pid to this file'
            cand -d 'Detach and log to this file'
            cand --daemonize 'Detach and log to this file'
            cand --vacuum 'Remove unix sockets and the pidfile at exit [default: false]'
            cand --logto 'Log to this file'
            cand -L 'Do not log requests [default: false]'
            cand --disable-logging 'Do not log requests [default: false]'
            cand --log-format 'Request log line format with %(var) variables'
            cand --logformat 'Request log line format with %(var) variables'
            cand -m 'Sample and log worker memory after each request [default: false]'
            cand --memory-report 'Sample and log worker memory after each request [default: false]'
            cand --stats 'Serve uWSGI-compatible stats JSON on ADDR'
            cand --stats-server 'Serve uWSGI-compatible stats JSON on ADDR'
            cand --stats-http 'Serve the stats over HTTP (and /metrics) [default: false]'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;stop'= {
            cand --timeout 'Give up waiting after this many seconds (the signal stays sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;reload'= {
            cand --timeout 'Give up waiting after this many seconds (the signal stays sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;connect-and-read'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;check-config'= {
            cand --json 'Print the fully resolved config (every variable expanded) as JSON'
            cand --strict 'Fail (exit 1) on warnings too'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;top'= {
            cand --interval 'Seconds between refreshes'
            cand --once 'Print one frame to stdout and exit'
            cand --json 'Print one snapshot as JSON and exit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;generate'= {
            cand --out 'Directory that receives man/ and completions/'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'rw;help'= {
            cand serve 'Run the server from uwsgi.ini files and/or uWSGI options'
            cand stop 'Stop the server whose master pid is in PIDFILE, and wait until it has exited'
            cand reload 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)'
            cand connect-and-read 'Print what a socket sends until it closes (e.g. the stats JSON)'
            cand check-config 'Validate a uwsgi.ini without starting anything'
            cand top 'Live view of a running server''s workers, read from its stats socket'
            cand generate 'Write man pages and shell completions (used to refresh man/ and completions/)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'rw;help;serve'= {
        }
        &'rw;help;stop'= {
        }
        &'rw;help;reload'= {
        }
        &'rw;help;connect-and-read'= {
        }
        &'rw;help;check-config'= {
        }
        &'rw;help;top'= {
        }
        &'rw;help;generate'= {
        }
        &'rw;help;help'= {
        }
    ]
    $completions[$command]
}
