
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'rw' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'rw'
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
        'rw' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the server from uwsgi.ini files and/or uWSGI options')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the server whose master pid is in PIDFILE, and wait until it has exited')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)')
            [CompletionResult]::new('connect-and-read', 'connect-and-read', [CompletionResultType]::ParameterValue, 'Print what a socket sends until it closes (e.g. the stats JSON)')
            [CompletionResult]::new('check-config', 'check-config', [CompletionResultType]::ParameterValue, 'Validate a uwsgi.ini without starting anything')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'Live view of a running server''s workers, read from its stats socket')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write man pages and shell completions (used to refresh man/ and completions/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rw;serve' {
            [CompletionResult]::new('--ini', '--ini', [CompletionResultType]::ParameterName, 'Read another ini file (FILE[:section]) at this point (repeatable)')
            [CompletionResult]::new('--inherit', '--inherit', [CompletionResultType]::ParameterName, 'Read a template file after everything else; its values win (repeatable)')
            [CompletionResult]::new('--set-placeholder', '--set-placeholder', [CompletionResultType]::ParameterName, 'Define a placeholder usable as %(name) (repeatable)')
            [CompletionResult]::new('--set-ph', '--set-ph', [CompletionResultType]::ParameterName, 'Define a placeholder usable as %(name) (repeatable)')
            [CompletionResult]::new('-S', '-S ', [CompletionResultType]::ParameterName, 'Set an option, or a placeholder if no option has that name (repeatable)')
            [CompletionResult]::new('--set', '--set', [CompletionResultType]::ParameterName, 'Set an option, or a placeholder if no option has that name (repeatable)')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Refuse unknown options instead of keeping them as placeholders [default: false]')
            [CompletionResult]::new('--chdir', '--chdir', [CompletionResultType]::ParameterName, 'Change to this directory before loading the app')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'WSGI app as pkg.mod[:callable] (callable may be factory())')
            [CompletionResult]::new('--module', '--module', [CompletionResultType]::ParameterName, 'WSGI app as pkg.mod[:callable] (callable may be factory())')
            [CompletionResult]::new('--wsgi', '--wsgi', [CompletionResultType]::ParameterName, 'WSGI app as pkg.mod[:callable] (callable may be factory())')
            [CompletionResult]::new('--wsgi-file', '--wsgi-file', [CompletionResultType]::ParameterName, 'Python file that defines the WSGI callable')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Python file that defines the WSGI callable')
            [CompletionResult]::new('--callable', '--callable', [CompletionResultType]::ParameterName, 'Name of the WSGI callable in the module or file [default: application]')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'Python virtualenv (PEP 405) or Python home')
            [CompletionResult]::new('--home', '--home', [CompletionResultType]::ParameterName, 'Python virtualenv (PEP 405) or Python home')
            [CompletionResult]::new('--virtualenv', '--virtualenv', [CompletionResultType]::ParameterName, 'Python virtualenv (PEP 405) or Python home')
            [CompletionResult]::new('--venv', '--venv', [CompletionResultType]::ParameterName, 'Python virtualenv (PEP 405) or Python home')
            [CompletionResult]::new('--pyhome', '--pyhome', [CompletionResultType]::ParameterName, 'Python virtualenv (PEP 405) or Python home')
            [CompletionResult]::new('--pythonpath', '--pythonpath', [CompletionResultType]::ParameterName, 'Add a directory (glob allowed) to sys.path (repeatable)')
            [CompletionResult]::new('--python-path', '--python-path', [CompletionResultType]::ParameterName, 'Add a directory (glob allowed) to sys.path (repeatable)')
            [CompletionResult]::new('--pp', '--pp', [CompletionResultType]::ParameterName, 'Add a directory (glob allowed) to sys.path (repeatable)')
            [CompletionResult]::new('--env', '--env', [CompletionResultType]::ParameterName, 'Set an environment variable before loading the app (repeatable)')
            [CompletionResult]::new('--mount', '--mount', [CompletionResultType]::ParameterName, 'Mount another app at a URL prefix (repeatable)')
            [CompletionResult]::new('--manage-script-name', '--manage-script-name', [CompletionResultType]::ParameterName, 'Move the mountpoint from PATH_INFO to SCRIPT_NAME [default: false]')
            [CompletionResult]::new('--lazy-apps', '--lazy-apps', [CompletionResultType]::ParameterName, 'Load the app in each worker instead of the master [default: false]')
            [CompletionResult]::new('--need-app', '--need-app', [CompletionResultType]::ParameterName, 'Exit if the app cannot be loaded [default: false]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Run every app in the main interpreter [default: false] (accepted; rw always runs every app in the main interpreter)')
            [CompletionResult]::new('--single-interpreter', '--single-interpreter', [CompletionResultType]::ParameterName, 'Run every app in the main interpreter [default: false] (accepted; rw always runs every app in the main interpreter)')
            [CompletionResult]::new('-T', '-T ', [CompletionResultType]::ParameterName, 'Allow Python threads [default: true] (accepted; Python threads are always enabled in rw)')
            [CompletionResult]::new('--enable-threads', '--enable-threads', [CompletionResultType]::ParameterName, 'Allow Python threads [default: true] (accepted; Python threads are always enabled in rw)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)')
            [CompletionResult]::new('--socket', '--socket', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)')
            [CompletionResult]::new('--uwsgi-socket', '--uwsgi-socket', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking the uwsgi protocol (nginx uwsgi_pass) (repeatable)')
            [CompletionResult]::new('--http-socket', '--http-socket', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking HTTP/1.1, served by the workers (repeatable)')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking HTTP/1.1 (served by the workers, no router process) (repeatable)')
            [CompletionResult]::new('--http-keepalive', '--http-keepalive', [CompletionResultType]::ParameterName, 'Keep HTTP connections alive [default: 0] (accepted; rw keeps HTTP/1.1 connections alive on every HTTP listener)')
            [CompletionResult]::new('-C', '-C ', [CompletionResultType]::ParameterName, 'Mode of unix sockets (e.g. 660); 1 means 666')
            [CompletionResult]::new('--chmod-socket', '--chmod-socket', [CompletionResultType]::ParameterName, 'Mode of unix sockets (e.g. 660); 1 means 666')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listen backlog of every socket [default: 100]')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen backlog of every socket [default: 100]')
            [CompletionResult]::new('--so-keepalive', '--so-keepalive', [CompletionResultType]::ParameterName, 'Enable SO_KEEPALIVE on TCP sockets [default: false]')
            [CompletionResult]::new('-z', '-z', [CompletionResultType]::ParameterName, 'Timeout for reading requests and writing responses [default: 4]')
            [CompletionResult]::new('--socket-timeout', '--socket-timeout', [CompletionResultType]::ParameterName, 'Timeout for reading requests and writing responses [default: 4]')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Largest request head (HTTP) or vars block (uwsgi) [default: 4096]')
            [CompletionResult]::new('--buffer-size', '--buffer-size', [CompletionResultType]::ParameterName, 'Largest request head (HTTP) or vars block (uwsgi) [default: 4096]')
            [CompletionResult]::new('--post-buffering', '--post-buffering', [CompletionResultType]::ParameterName, 'Read whole bodies before calling the app; larger ones spool to disk [default: 0]')
            [CompletionResult]::new('--limit-post', '--limit-post', [CompletionResultType]::ParameterName, 'Refuse request bodies larger than this (413) [default: 0]')
            [CompletionResult]::new('--rw-body-timeout', '--rw-body-timeout', [CompletionResultType]::ParameterName, 'rw only: a request body must arrive within this (408); 0: no limit [default: 60]')
            [CompletionResult]::new('--rw-body-min-rate', '--rw-body-min-rate', [CompletionResultType]::ParameterName, 'rw only: bytes/s a request body must average after a grace of socket-timeout (408); 0: no limit [default: 1024]')
            [CompletionResult]::new('--rw-stream-chunked', '--rw-stream-chunked', [CompletionResultType]::ParameterName, 'rw only: pass chunked request bodies to the app as they arrive (wsgi.input_terminated, no CONTENT_LENGTH) instead of reading them first [default: false]')
            [CompletionResult]::new('--add-header', '--add-header', [CompletionResultType]::ParameterName, 'Add a header to every response (repeatable)')
            [CompletionResult]::new('--static-map', '--static-map', [CompletionResultType]::ParameterName, 'Serve files under PATH at URL prefix MOUNT without entering Python (repeatable)')
            [CompletionResult]::new('--check-static', '--check-static', [CompletionResultType]::ParameterName, 'Serve DIR + PATH_INFO as a static file when it exists (repeatable)')
            [CompletionResult]::new('--offload-threads', '--offload-threads', [CompletionResultType]::ParameterName, 'Threads that send static files [default: 0] (accepted; rw workers send files with sendfile() without offload threads)')
            [CompletionResult]::new('--http11-socket', '--http11-socket', [CompletionResultType]::ParameterName, 'Listen on ADDR speaking HTTP/1.1 with keep-alive (same as http-socket in rw) (repeatable)')
            [CompletionResult]::new('--protocol', '--protocol', [CompletionResultType]::ParameterName, 'Protocol of `socket` listeners: uwsgi (default), http or http11')
            [CompletionResult]::new('--socket-protocol', '--socket-protocol', [CompletionResultType]::ParameterName, 'Protocol of `socket` listeners: uwsgi (default), http or http11')
            [CompletionResult]::new('--plugins', '--plugins', [CompletionResultType]::ParameterName, 'Load uWSGI plugins: python variants are built in; rw has no other plugins (repeatable)')
            [CompletionResult]::new('--plugin', '--plugin', [CompletionResultType]::ParameterName, 'Load uWSGI plugins: python variants are built in; rw has no other plugins (repeatable)')
            [CompletionResult]::new('--paste', '--paste', [CompletionResultType]::ParameterName, 'Load the app with PasteDeploy''s loadapp (e.g. config:/srv/app/production.ini)')
            [CompletionResult]::new('--paste-logger', '--paste-logger', [CompletionResultType]::ParameterName, 'Configure logging from the paste ini file (logging.config.fileConfig) [default: false]')
            [CompletionResult]::new('--ini-paste', '--ini-paste', [CompletionResultType]::ParameterName, 'Read FILE''s [uwsgi] section, then load the app from FILE with PasteDeploy (repeatable)')
            [CompletionResult]::new('--ini-paste-logged', '--ini-paste-logged', [CompletionResultType]::ParameterName, 'ini-paste, plus paste-logger (repeatable)')
            [CompletionResult]::new('--pymodule-alias', '--pymodule-alias', [CompletionResultType]::ParameterName, 'Make `import NAME` give another module or a file: NAME=module or NAME=/path/file.py (repeatable)')
            [CompletionResult]::new('--honour-stdin', '--honour-stdin', [CompletionResultType]::ParameterName, 'Keep stdin instead of reading /dev/null (for pdb and friends) [default: false]')
            [CompletionResult]::new('--no-site', '--no-site', [CompletionResultType]::ParameterName, 'Do not import the site module (a virtualenv''s packages are then not on sys.path) [default: false]')
            [CompletionResult]::new('--no-orphans', '--no-orphans', [CompletionResultType]::ParameterName, 'Kill workers when the master dies (rw always does) [default: false]')
            [CompletionResult]::new('--master-as-root', '--master-as-root', [CompletionResultType]::ParameterName, 'Keep the master as root; only workers switch to uid/gid, after fork [default: false]')
            [CompletionResult]::new('--py-call-osafterfork', '--py-call-osafterfork', [CompletionResultType]::ParameterName, 'Let workers trap OS signals in Python (rw always calls PyOS_AfterFork_Child) [default: false]')
            [CompletionResult]::new('--chdir2', '--chdir2', [CompletionResultType]::ParameterName, 'Change to this directory after loading the app')
            [CompletionResult]::new('--umask', '--umask', [CompletionResultType]::ParameterName, 'Set the process umask (three octal digits, e.g. 022)')
            [CompletionResult]::new('--chown-socket', '--chown-socket', [CompletionResultType]::ParameterName, 'chown unix sockets to USER[:GROUP] after binding')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout of connections on `http` listeners (socket-timeout when unset) [default: 60]')
            [CompletionResult]::new('--http-auto-chunked', '--http-auto-chunked', [CompletionResultType]::ParameterName, 'Send bodies without a length chunked on HTTP/1.1 (rw always does) [default: false]')
            [CompletionResult]::new('--http-enable-proxy-protocol', '--http-enable-proxy-protocol', [CompletionResultType]::ParameterName, 'Read a PROXY protocol (v1 or v2) header on `http` listeners: REMOTE_ADDR is the client [default: false]')
            [CompletionResult]::new('--enable-proxy-protocol', '--enable-proxy-protocol', [CompletionResultType]::ParameterName, 'Read a PROXY protocol (v1 or v2) header on http-socket listeners [default: false]')
            [CompletionResult]::new('--static-index', '--static-index', [CompletionResultType]::ParameterName, 'File to serve when a static path is a directory (e.g. index.html) (repeatable)')
            [CompletionResult]::new('--static-skip-ext', '--static-skip-ext', [CompletionResultType]::ParameterName, 'Never serve static files ending with this (they go to the app) (repeatable)')
            [CompletionResult]::new('--static-safe', '--static-safe', [CompletionResultType]::ParameterName, 'Serve static files under this path even when a symlink leads there from outside the root (repeatable)')
            [CompletionResult]::new('--static-gzip-all', '--static-gzip-all', [CompletionResultType]::ParameterName, 'Serve FILE.br or FILE.gz instead of FILE when the client accepts it [default: false]')
            [CompletionResult]::new('--static-expires-type', '--static-expires-type', [CompletionResultType]::ParameterName, 'Expires = now + SECS for static files of a MIME type: TYPE=SECS (repeatable)')
            [CompletionResult]::new('--static-expires-type-mtime', '--static-expires-type-mtime', [CompletionResultType]::ParameterName, 'Expires = mtime + SECS for static files of a MIME type: TYPE=SECS (repeatable)')
            [CompletionResult]::new('--static-expires', '--static-expires', [CompletionResultType]::ParameterName, 'Expires = now + SECS for static files whose path matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('--static-expires-mtime', '--static-expires-mtime', [CompletionResultType]::ParameterName, 'Expires = mtime + SECS for static files whose path matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('--static-expires-uri', '--static-expires-uri', [CompletionResultType]::ParameterName, 'Expires = now + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('--static-expires-uri-mtime', '--static-expires-uri-mtime', [CompletionResultType]::ParameterName, 'Expires = mtime + SECS for static files whose REQUEST_URI matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('--static-expires-path-info', '--static-expires-path-info', [CompletionResultType]::ParameterName, 'Expires = now + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('--static-expires-path-info-mtime', '--static-expires-path-info-mtime', [CompletionResultType]::ParameterName, 'Expires = mtime + SECS for static files whose PATH_INFO matches: REGEXP SECS (repeatable)')
            [CompletionResult]::new('-M', '-M ', [CompletionResultType]::ParameterName, 'Run the master process (rw always supervises its workers) [default: false]')
            [CompletionResult]::new('--master', '--master', [CompletionResultType]::ParameterName, 'Run the master process (rw always supervises its workers) [default: false]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Number of worker processes [default: 1]')
            [CompletionResult]::new('--processes', '--processes', [CompletionResultType]::ParameterName, 'Number of worker processes [default: 1]')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Number of worker processes [default: 1]')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads per worker [default: 1]')
            [CompletionResult]::new('--thunder-lock', '--thunder-lock', [CompletionResultType]::ParameterName, 'Serialise accept() across workers [default: false] (accepted; workers wait in epoll and accept non-blocking: no thundering herd to serialise)')
            [CompletionResult]::new('-t', '-t', [CompletionResultType]::ParameterName, 'Interrupt a request running longer than this (504), then kill its worker if it does not return [default: 0]')
            [CompletionResult]::new('--harakiri', '--harakiri', [CompletionResultType]::ParameterName, 'Interrupt a request running longer than this (504), then kill its worker if it does not return [default: 0]')
            [CompletionResult]::new('--harakiri-verbose', '--harakiri-verbose', [CompletionResultType]::ParameterName, 'Log the stuck thread''s Python stack, syscall and wait channel on harakiri [default: false]')
            [CompletionResult]::new('--harakiri-graceful-timeout', '--harakiri-graceful-timeout', [CompletionResultType]::ParameterName, 'Seconds an interrupted request has to return before its worker is killed (at least 1) [default: 0]')
            [CompletionResult]::new('--harakiri-graceful-signal', '--harakiri-graceful-signal', [CompletionResultType]::ParameterName, 'Signal sent to the worker with the graceful harakiri attempt, for the app''s handler (15, the default: none) [default: 15]')
            [CompletionResult]::new('-R', '-R ', [CompletionResultType]::ParameterName, 'Recycle a worker after this many requests [default: 0]')
            [CompletionResult]::new('--max-requests', '--max-requests', [CompletionResultType]::ParameterName, 'Recycle a worker after this many requests [default: 0]')
            [CompletionResult]::new('--max-requests-delta', '--max-requests-delta', [CompletionResultType]::ParameterName, 'Add (worker id - 1) x this to max-requests [default: 0]')
            [CompletionResult]::new('--reload-on-rss', '--reload-on-rss', [CompletionResultType]::ParameterName, 'Recycle a worker when its RSS exceeds this [default: 0]')
            [CompletionResult]::new('--reload-on-as', '--reload-on-as', [CompletionResultType]::ParameterName, 'Recycle a worker when its address space exceeds this after a request [default: 0]')
            [CompletionResult]::new('--evil-reload-on-rss', '--evil-reload-on-rss', [CompletionResultType]::ParameterName, 'The master recycles a worker whose RSS exceeds this, even in a request (killed after worker-reload-mercy) [default: 0]')
            [CompletionResult]::new('--evil-reload-on-as', '--evil-reload-on-as', [CompletionResultType]::ParameterName, 'The master recycles a worker whose address space exceeds this, even in a request [default: 0]')
            [CompletionResult]::new('--mem-collector-freq', '--mem-collector-freq', [CompletionResultType]::ParameterName, 'Seconds between the master''s memory samples for the evil reloads (0 acts as 3) [default: 3]')
            [CompletionResult]::new('--max-worker-lifetime', '--max-worker-lifetime', [CompletionResultType]::ParameterName, 'Recycle a worker after it ran this many seconds (0: never) [default: 0]')
            [CompletionResult]::new('--max-worker-lifetime-delta', '--max-worker-lifetime-delta', [CompletionResultType]::ParameterName, 'Add (worker id - 1) x this to max-worker-lifetime [default: 0]')
            [CompletionResult]::new('--min-worker-lifetime', '--min-worker-lifetime', [CompletionResultType]::ParameterName, 'Seconds a worker runs before max-requests, reload-on-rss or reload-on-as may recycle it [default: 10]')
            [CompletionResult]::new('--worker-reload-mercy', '--worker-reload-mercy', [CompletionResultType]::ParameterName, 'How long a worker may take to stop before SIGKILL [default: 60]')
            [CompletionResult]::new('--reload-mercy', '--reload-mercy', [CompletionResultType]::ParameterName, 'How long a stop may take in all before SIGKILL [default: 0]')
            [CompletionResult]::new('--cheaper', '--cheaper', [CompletionResultType]::ParameterName, 'Adaptive worker count: keep at least N workers, up to processes (0: off) [default: 0]')
            [CompletionResult]::new('--cheaper-initial', '--cheaper-initial', [CompletionResultType]::ParameterName, 'Workers started with cheaper on (default: cheaper; kept within cheaper..processes)')
            [CompletionResult]::new('--cheaper-step', '--cheaper-step', [CompletionResultType]::ParameterName, 'Workers spawned at a time when the load grows (0 acts as 1) [default: 1]')
            [CompletionResult]::new('--cheaper-overload', '--cheaper-overload', [CompletionResultType]::ParameterName, 'Cycles (spare), listen-queue length (backlog) or seconds per cycle (busyness) [default: 3]')
            [CompletionResult]::new('--cheaper-algo', '--cheaper-algo', [CompletionResultType]::ParameterName, 'Cheaper algorithm: spare, spare2, backlog, busyness or manual [default: spare]')
            [CompletionResult]::new('--cheaper-idle', '--cheaper-idle', [CompletionResultType]::ParameterName, 'spare2: idle cycles before a worker is stopped (uWSGI 2.1; 2.0 lacks it) [default: 10]')
            [CompletionResult]::new('--cheaper-rss-limit-soft', '--cheaper-rss-limit-soft', [CompletionResultType]::ParameterName, 'Spawn no worker that would take the workers'' total RSS above this (needs memory-report) [default: 0]')
            [CompletionResult]::new('--cheaper-rss-limit-hard', '--cheaper-rss-limit-hard', [CompletionResultType]::ParameterName, 'Stop a worker while the workers'' total RSS is above this (needs cheaper-rss-limit-soft) [default: 0]')
            [CompletionResult]::new('--cheaper-busyness-max', '--cheaper-busyness-max', [CompletionResultType]::ParameterName, 'busyness: spawn above this percentage of busy time [default: 50]')
            [CompletionResult]::new('--cheaper-busyness-min', '--cheaper-busyness-min', [CompletionResultType]::ParameterName, 'busyness: stop a worker below this percentage of busy time [default: 25]')
            [CompletionResult]::new('--cheaper-busyness-multiplier', '--cheaper-busyness-multiplier', [CompletionResultType]::ParameterName, 'busyness: cycles a worker must be idle before it is stopped [default: 10]')
            [CompletionResult]::new('--cheaper-busyness-penalty', '--cheaper-busyness-penalty', [CompletionResultType]::ParameterName, 'busyness: added to the multiplier when a stopped worker is spawned back too soon [default: 2]')
            [CompletionResult]::new('--cheaper-busyness-verbose', '--cheaper-busyness-verbose', [CompletionResultType]::ParameterName, 'busyness: log every cycle''s figures [default: false]')
            [CompletionResult]::new('--cheaper-busyness-backlog-alert', '--cheaper-busyness-backlog-alert', [CompletionResultType]::ParameterName, 'busyness: spawn emergency workers when the listen queue is longer than this [default: 33]')
            [CompletionResult]::new('--cheaper-busyness-backlog-multiplier', '--cheaper-busyness-backlog-multiplier', [CompletionResultType]::ParameterName, 'busyness: the multiplier for stopping emergency workers [default: 3]')
            [CompletionResult]::new('--cheaper-busyness-backlog-step', '--cheaper-busyness-backlog-step', [CompletionResultType]::ParameterName, 'busyness: emergency workers spawned at a time [default: 1]')
            [CompletionResult]::new('--cheaper-busyness-backlog-nonzero', '--cheaper-busyness-backlog-nonzero', [CompletionResultType]::ParameterName, 'busyness: spawn emergency workers when the listen queue stays non-empty this long [default: 60]')
            [CompletionResult]::new('--cheap', '--cheap', [CompletionResultType]::ParameterName, 'Cheap mode: start no worker until the first connection arrives [default: false]')
            [CompletionResult]::new('--idle', '--idle', [CompletionResultType]::ParameterName, 'After this many seconds without a request, stop every worker until the next connection (cheap mode) [default: 0]')
            [CompletionResult]::new('--die-on-idle', '--die-on-idle', [CompletionResultType]::ParameterName, 'With idle: shut down instead of going cheap [default: false]')
            [CompletionResult]::new('--die-on-term', '--die-on-term', [CompletionResultType]::ParameterName, 'SIGTERM stops the server instead of reloading it [default: false]')
            [CompletionResult]::new('--touch-reload', '--touch-reload', [CompletionResultType]::ParameterName, 'Gracefully reload when this file changes (repeatable)')
            [CompletionResult]::new('--touch-chain-reload', '--touch-chain-reload', [CompletionResultType]::ParameterName, 'Chain-reload the workers (one at a time) when this file changes (repeatable)')
            [CompletionResult]::new('--touch-workers-reload', '--touch-workers-reload', [CompletionResultType]::ParameterName, 'Gracefully replace every worker (no master reload) when this file changes (repeatable)')
            [CompletionResult]::new('--master-fifo', '--master-fifo', [CompletionResultType]::ParameterName, 'Create this FIFO and obey the one-byte commands written to it (several: switch with 0-9) (repeatable)')
            [CompletionResult]::new('--uid', '--uid', [CompletionResultType]::ParameterName, 'Drop to this user after binding sockets')
            [CompletionResult]::new('--gid', '--gid', [CompletionResultType]::ParameterName, 'Drop to this group after binding sockets')
            [CompletionResult]::new('--auto-procname', '--auto-procname', [CompletionResultType]::ParameterName, 'Name processes `uWSGI master`, `uWSGI worker N` in ps [default: false]')
            [CompletionResult]::new('--procname', '--procname', [CompletionResultType]::ParameterName, 'Name every process TEXT in ps (turns auto-procname on)')
            [CompletionResult]::new('--procname-master', '--procname-master', [CompletionResultType]::ParameterName, 'Name the master TEXT in ps (turns auto-procname on)')
            [CompletionResult]::new('--procname-prefix', '--procname-prefix', [CompletionResultType]::ParameterName, 'Put TEXT before every process name (turns auto-procname on)')
            [CompletionResult]::new('--procname-prefix-spaced', '--procname-prefix-spaced', [CompletionResultType]::ParameterName, 'Put TEXT and a space before every process name (turns auto-procname on)')
            [CompletionResult]::new('--procname-append', '--procname-append', [CompletionResultType]::ParameterName, 'Put TEXT after every process name (turns auto-procname on)')
            [CompletionResult]::new('--pidfile', '--pidfile', [CompletionResultType]::ParameterName, 'Write the master pid to this file')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'Detach and log to this file')
            [CompletionResult]::new('--daemonize', '--daemonize', [CompletionResultType]::ParameterName, 'Detach and log to this file')
            [CompletionResult]::new('--vacuum', '--vacuum', [CompletionResultType]::ParameterName, 'Remove unix sockets and the pidfile at exit [default: false]')
            [CompletionResult]::new('--logto', '--logto', [CompletionResultType]::ParameterName, 'Log to this file')
            [CompletionResult]::new('-L', '-L ', [CompletionResultType]::ParameterName, 'Do not log requests [default: false]')
            [CompletionResult]::new('--disable-logging', '--disable-logging', [CompletionResultType]::ParameterName, 'Do not log requests [default: false]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Request log line format with %(var) variables')
            [CompletionResult]::new('--logformat', '--logformat', [CompletionResultType]::ParameterName, 'Request log line format with %(var) variables')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Sample and log worker memory after each request [default: false]')
            [CompletionResult]::new('--memory-report', '--memory-report', [CompletionResultType]::ParameterName, 'Sample and log worker memory after each request [default: false]')
            [CompletionResult]::new('--log-4xx', '--log-4xx', [CompletionResultType]::ParameterName, 'With disable-logging, still log requests answered 4xx [default: false]')
            [CompletionResult]::new('--log-5xx', '--log-5xx', [CompletionResultType]::ParameterName, 'With disable-logging, still log requests answered 5xx [default: false]')
            [CompletionResult]::new('--log-slow', '--log-slow', [CompletionResultType]::ParameterName, 'With disable-logging, still log requests taking at least N milliseconds [default: 0]')
            [CompletionResult]::new('--log-big', '--log-big', [CompletionResultType]::ParameterName, 'With disable-logging, still log responses of at least BYTES of body [default: 0]')
            [CompletionResult]::new('--log-zero', '--log-zero', [CompletionResultType]::ParameterName, 'With disable-logging, still log responses without a body [default: false]')
            [CompletionResult]::new('--log-sendfile', '--log-sendfile', [CompletionResultType]::ParameterName, 'With disable-logging, still log responses sent with sendfile [default: false]')
            [CompletionResult]::new('--log-ioerror', '--log-ioerror', [CompletionResultType]::ParameterName, 'With disable-logging, still log requests that had both a read and a write error (as uWSGI 2.0) [default: false]')
            [CompletionResult]::new('--log-micros', '--log-micros', [CompletionResultType]::ParameterName, 'Request lines give the response time in micros instead of msecs [default: false]')
            [CompletionResult]::new('--log-x-forwarded-for', '--log-x-forwarded-for', [CompletionResultType]::ParameterName, 'Request lines show the X-Forwarded-For header instead of the peer address [default: false]')
            [CompletionResult]::new('--log-date', '--log-date', [CompletionResultType]::ParameterName, 'Stamp server log lines with the date, or with strftime(TEXT) when TEXT is given')
            [CompletionResult]::new('--logdate', '--logdate', [CompletionResultType]::ParameterName, 'Stamp server log lines with the date, or with strftime(TEXT) when TEXT is given')
            [CompletionResult]::new('--log-prefix', '--log-prefix', [CompletionResultType]::ParameterName, 'Stamp server log lines with the date, or with strftime(TEXT) when TEXT is given')
            [CompletionResult]::new('--logformat-strftime', '--logformat-strftime', [CompletionResultType]::ParameterName, '%(ftime) in log-format uses the log-date strftime format [default: false]')
            [CompletionResult]::new('--log-format-strftime', '--log-format-strftime', [CompletionResultType]::ParameterName, '%(ftime) in log-format uses the log-date strftime format [default: false]')
            [CompletionResult]::new('--logto2', '--logto2', [CompletionResultType]::ParameterName, 'Log to this file, opened after privileges are dropped')
            [CompletionResult]::new('--log-reopen', '--log-reopen', [CompletionResultType]::ParameterName, 'Reopen the log file after a reload [default: false] (accepted; rw reopens the log file after every reload)')
            [CompletionResult]::new('--touch-logreopen', '--touch-logreopen', [CompletionResultType]::ParameterName, 'Reopen the log file (every process) when this file changes (logrotate without copytruncate) (repeatable)')
            [CompletionResult]::new('--touch-logrotate', '--touch-logrotate', [CompletionResultType]::ParameterName, 'Rotate the log file when this file changes (repeatable)')
            [CompletionResult]::new('--log-maxsize', '--log-maxsize', [CompletionResultType]::ParameterName, 'Rotate the log file when it grows past BYTES [default: 0]')
            [CompletionResult]::new('--log-backupname', '--log-backupname', [CompletionResultType]::ParameterName, 'Name of the rotated log file (default: the log file''s name + .UNIXTIME)')
            [CompletionResult]::new('--logfile-chmod', '--logfile-chmod', [CompletionResultType]::ParameterName, 'Mode of the log file, three octal digits (e.g. 640)')
            [CompletionResult]::new('--logfile-chown', '--logfile-chown', [CompletionResultType]::ParameterName, 'Give the log file to uid/gid before dropping privileges [default: false]')
            [CompletionResult]::new('--log-master', '--log-master', [CompletionResultType]::ParameterName, 'Workers hand their log lines to the master, the only writer of the log (no line mixes with another) [default: false]')
            [CompletionResult]::new('--log-truncate', '--log-truncate', [CompletionResultType]::ParameterName, 'Empty the log file when rw starts (not on reloads) [default: false]')
            [CompletionResult]::new('--log-syslog', '--log-syslog', [CompletionResultType]::ParameterName, 'Send server lines to syslog with ident TEXT (default uwsgi): logger = syslog:TEXT')
            [CompletionResult]::new('--threaded-logger', '--threaded-logger', [CompletionResultType]::ParameterName, 'Write log-master lines from a thread of the master [default: false] (accepted; the master writes log-master lines in bounded batches from its loop; no thread is needed)')
            [CompletionResult]::new('--log-master-bufsize', '--log-master-bufsize', [CompletionResultType]::ParameterName, 'Largest log-master line [default: 8192] (accepted; rw passes log-master lines of up to 256 KiB whole; uWSGI cuts them at this size)')
            [CompletionResult]::new('--log-master-stream', '--log-master-stream', [CompletionResultType]::ParameterName, 'Make the log-master pipe a stream [default: false] (accepted; rw''s log-master pipe keeps each line one message, so lines cannot mix)')
            [CompletionResult]::new('--log-master-req-stream', '--log-master-req-stream', [CompletionResultType]::ParameterName, 'Make the log-master request pipe a stream [default: false] (accepted; rw''s log-master pipe keeps each line one message, so lines cannot mix)')
            [CompletionResult]::new('--log-drain', '--log-drain', [CompletionResultType]::ParameterName, 'Drop log lines (server lines, and request lines without req-logger) matching this regexp (repeatable)')
            [CompletionResult]::new('--log-filter', '--log-filter', [CompletionResultType]::ParameterName, 'Keep only the log lines matching one of these regexps (repeatable)')
            [CompletionResult]::new('--log-route', '--log-route', [CompletionResultType]::ParameterName, 'Send server lines matching REGEXP to the named logger ID instead: ID REGEXP (repeatable)')
            [CompletionResult]::new('--logger', '--logger', [CompletionResultType]::ParameterName, 'Send server lines to a logger: file:PATH, fd:N, stdio, syslog[:IDENT[,FACILITY]] (repeatable)')
            [CompletionResult]::new('--req-logger', '--req-logger', [CompletionResultType]::ParameterName, 'Send request lines to a logger (same backends as logger) (repeatable)')
            [CompletionResult]::new('--logger-req', '--logger-req', [CompletionResultType]::ParameterName, 'Send request lines to a logger (same backends as logger) (repeatable)')
            [CompletionResult]::new('--log-encoder', '--log-encoder', [CompletionResultType]::ParameterName, 'Rewrite server lines (and request lines without req-logger): prefix, suffix, nl, format, json (repeatable)')
            [CompletionResult]::new('--log-req-encoder', '--log-req-encoder', [CompletionResultType]::ParameterName, 'Rewrite req-logger lines: prefix, suffix, nl, format, json (repeatable)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Serve uWSGI-compatible stats JSON on ADDR')
            [CompletionResult]::new('--stats-server', '--stats-server', [CompletionResultType]::ParameterName, 'Serve uWSGI-compatible stats JSON on ADDR')
            [CompletionResult]::new('--stats-http', '--stats-http', [CompletionResultType]::ParameterName, 'Serve the stats over HTTP (and /metrics) [default: false]')
            [CompletionResult]::new('--cache2', '--cache2', [CompletionResultType]::ParameterName, 'Create a shared cache: name=NAME,items=N[,blocksize=BYTES,keysize=BYTES,hashsize=N,math_initial=N,ignore_full=1] (repeatable)')
            [CompletionResult]::new('--cache', '--cache', [CompletionResultType]::ParameterName, 'Create the legacy cache `default` with N item slots [default: 0]')
            [CompletionResult]::new('--cache-blocksize', '--cache-blocksize', [CompletionResultType]::ParameterName, 'Block (largest value) size of the legacy cache; 0 means 65536 [default: 0]')
            [CompletionResult]::new('--locks', '--locks', [CompletionResultType]::ParameterName, 'Create N more user locks for uwsgi.lock(n) (lock 0 always exists), shared by every worker [default: 0]')
            [CompletionResult]::new('-Q', '-Q ', [CompletionResultType]::ParameterName, 'Run a spooler on this directory (created if missing; repeatable): uwsgi.spool() jobs run in its own process (repeatable)')
            [CompletionResult]::new('--spooler', '--spooler', [CompletionResultType]::ParameterName, 'Run a spooler on this directory (created if missing; repeatable): uwsgi.spool() jobs run in its own process (repeatable)')
            [CompletionResult]::new('--spooler-external', '--spooler-external', [CompletionResultType]::ParameterName, 'Write uwsgi.spool() jobs to this directory too (select it with the `spooler` key): another instance runs them (repeatable)')
            [CompletionResult]::new('--spooler-processes', '--spooler-processes', [CompletionResultType]::ParameterName, 'Spooler processes per spooler directory (0 means 1) [default: 0]')
            [CompletionResult]::new('--spooler-frequency', '--spooler-frequency', [CompletionResultType]::ParameterName, 'Seconds a spooler sleeps between two scans of its directory (a new job wakes it at once) [default: 30]')
            [CompletionResult]::new('--spooler-freq', '--spooler-freq', [CompletionResultType]::ParameterName, 'Seconds a spooler sleeps between two scans of its directory (a new job wakes it at once) [default: 30]')
            [CompletionResult]::new('--spooler-import', '--spooler-import', [CompletionResultType]::ParameterName, 'Import this Python module (or .py file) in each spooler process (repeatable)')
            [CompletionResult]::new('--spooler-pyimport', '--spooler-pyimport', [CompletionResultType]::ParameterName, 'Import this Python module (or .py file) in each spooler process (repeatable)')
            [CompletionResult]::new('--spooler-py-import', '--spooler-py-import', [CompletionResultType]::ParameterName, 'Import this Python module (or .py file) in each spooler process (repeatable)')
            [CompletionResult]::new('--spooler-python-import', '--spooler-python-import', [CompletionResultType]::ParameterName, 'Import this Python module (or .py file) in each spooler process (repeatable)')
            [CompletionResult]::new('--spooler-max-tasks', '--spooler-max-tasks', [CompletionResultType]::ParameterName, 'Recycle a spooler process after N tasks (0: never) [default: 0]')
            [CompletionResult]::new('--spooler-harakiri', '--spooler-harakiri', [CompletionResultType]::ParameterName, 'Kill a spooler process whose task runs longer than SECS (it is respawned; the task runs again) [default: 0]')
            [CompletionResult]::new('--spooler-ordered', '--spooler-ordered', [CompletionResultType]::ParameterName, 'Run tasks in version order, priority directories first (without it priority directories are not run, as in uWSGI) [default: false]')
            [CompletionResult]::new('--spooler-chdir', '--spooler-chdir', [CompletionResultType]::ParameterName, 'chdir() to this directory before each spooler task')
            [CompletionResult]::new('--touch-spoolers-reload', '--touch-spoolers-reload', [CompletionResultType]::ParameterName, 'Restart the spoolers (SIGKILL, then respawn) when this file is touched (repeatable)')
            [CompletionResult]::new('--spooler-quiet', '--spooler-quiet', [CompletionResultType]::ParameterName, 'Do not log each spooler task [default: false]')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;stop' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up waiting after this many seconds (the signal stays sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;reload' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Give up waiting after this many seconds (the signal stays sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;connect-and-read' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;check-config' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the fully resolved config (every variable expanded) as JSON')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Fail (exit 1) on warnings too')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;top' {
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Seconds between refreshes')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'Print one frame to stdout and exit')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one snapshot as JSON and exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;generate' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Directory that receives man/ and completions/')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'rw;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the server from uwsgi.ini files and/or uWSGI options')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the server whose master pid is in PIDFILE, and wait until it has exited')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Gracefully reload the server whose master pid is in PIDFILE (new workers re-import the app)')
            [CompletionResult]::new('connect-and-read', 'connect-and-read', [CompletionResultType]::ParameterValue, 'Print what a socket sends until it closes (e.g. the stats JSON)')
            [CompletionResult]::new('check-config', 'check-config', [CompletionResultType]::ParameterValue, 'Validate a uwsgi.ini without starting anything')
            [CompletionResult]::new('top', 'top', [CompletionResultType]::ParameterValue, 'Live view of a running server''s workers, read from its stats socket')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write man pages and shell completions (used to refresh man/ and completions/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'rw;help;serve' {
            break
        }
        'rw;help;stop' {
            break
        }
        'rw;help;reload' {
            break
        }
        'rw;help;connect-and-read' {
            break
        }
        'rw;help;check-config' {
            break
        }
        'rw;help;top' {
            break
        }
        'rw;help;generate' {
            break
        }
        'rw;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
