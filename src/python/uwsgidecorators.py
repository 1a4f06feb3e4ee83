"""rw's ``uwsgidecorators``: the decorators of uWSGI 2.0's module of that name, over rw's
``uwsgi`` module.

Shipped inside rw (the binary and the wheel) and importable as ``uwsgidecorators`` wherever rw
runs an app. A decorator whose uWSGI backend rw does not have yet (signals, timers, cron, file
monitors, the spooler, mules, farms, RPC, user harakiri) raises ``NotImplementedError`` naming
the feature when it is applied, so an app finds out at import time, not in production.
"""

import threading

import uwsgi

postfork_chain = []
spooler_functions = {}
mule_functions = {}


def _run_postfork_chain():
    for hook in postfork_chain:
        hook()


# As in uWSGI, importing this module takes over `uwsgi.post_fork_hook`: every `@postfork`
# function then runs in each new worker, in the order they were decorated.
uwsgi.post_fork_hook = _run_postfork_chain


class postfork(object):
    """Run the function in every worker right after it is forked (``@postfork``), or only in
    worker N (``@postfork(N)``): the place to open database connections and start threads."""

    def __init__(self, f):
        if callable(f):
            self.wid = 0
            self.f = f
        else:
            self.wid = f
            self.f = None
        postfork_chain.append(self)

    def __call__(self, *args, **kwargs):
        if self.f is None:
            # `@postfork(N)`: this call is the decoration itself.
            self.f = args[0]
            return self
        if self.wid > 0 and self.wid != uwsgi.worker_id():
            return None
        return self.f()


class lock(object):
    """Run the function holding uWSGI lock 0, so that one call at a time runs across every
    worker and thread of the instance."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args, **kwargs):
        uwsgi.lock()
        try:
            return self.f(*args, **kwargs)
        finally:
            uwsgi.unlock()


class thread(object):
    """Calling the function starts it in a daemon thread and returns at once."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args):
        t = threading.Thread(target=self.f, args=args)
        t.daemon = True
        t.start()
        return self.f


def _missing(decorator, feature):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            "uwsgidecorators.%s needs uWSGI %s, which rw does not implement yet" % (decorator, feature)
        )

    refuse.__name__ = decorator
    return refuse


timer = _missing("timer", "signals and timers")
rbtimer = _missing("rbtimer", "signals and timers")
cron = _missing("cron", "signals and cron")
filemon = _missing("filemon", "signals and file monitors")
signal = _missing("signal", "signals")
get_free_signal = _missing("get_free_signal", "signals")
spool = _missing("spool", "the spooler")
spoolraw = _missing("spoolraw", "the spooler")
spoolforever = _missing("spoolforever", "the spooler")
mulefunc = _missing("mulefunc", "mules")
mule_brain = _missing("mule_brain", "mules")
mule_brainloop = _missing("mule_brainloop", "mules")
mule = _missing("mule", "mules")
muleloop = _missing("muleloop", "mules")
mulemsg_loop = _missing("mulemsg_loop", "mules")
mulemsg = _missing("mulemsg", "mules")
mule_msg_dispatcher = _missing("mule_msg_dispatcher", "mules")
farm = _missing("farm", "mule farms")
farm_loop = _missing("farm_loop", "mule farms")
rpc = _missing("rpc", "RPC")
erlang = _missing("erlang", "the Erlang plugin")
harakiri = _missing("harakiri", "user harakiri (uwsgi.set_user_harakiri)")
