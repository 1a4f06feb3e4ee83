"""rw's ``uwsgidecorators``: the decorators of uWSGI 2.0's module of that name, over rw's
``uwsgi`` module.

Shipped inside rw (the binary and the wheel) and importable as ``uwsgidecorators`` wherever rw
runs an app. A decorator whose uWSGI backend rw does not have yet (RPC) raises ``NotImplementedError`` naming
the feature when it is applied, so an app finds out at import time, not in production.
"""

import pickle
import sys
import threading

import uwsgi

postfork_chain = []
spooler_functions = {}
mule_functions = {}


def _encode1(val):
    return val.encode("utf-8") if isinstance(val, str) else val


def _decode1(val):
    return val.decode("utf-8") if isinstance(val, bytes) else val


def _decode_from_spooler(vars):
    return dict((_decode1(k), _decode1(v)) for (k, v) in vars.items())


def manage_spool_request(vars):
    """The spooler callable this module installs: runs the decorated function a task names
    (``ud_spool_func``) and returns what it returned, or the decorator's fixed answer."""
    # Keys arrive as bytes; `args`/`kwargs` stay bytes until unpickled.
    vars = dict((_decode1(k), v) for (k, v) in vars.items())
    if "args" in vars:
        for k in ("args", "kwargs"):
            vars[k] = pickle.loads(vars.pop(k))
    vars = _decode_from_spooler(vars)
    f = spooler_functions[vars["ud_spool_func"]]
    if "args" in vars:
        ret = f(*vars["args"], **vars["kwargs"])
    else:
        ret = f(vars)
    return int(vars.get("ud_spool_ret", ret))


def _run_postfork_chain():
    for hook in postfork_chain:
        hook()


# As in uWSGI, importing this module takes over `uwsgi.post_fork_hook`: every `@postfork`
# function then runs in each new worker, in the order they were decorated.
uwsgi.post_fork_hook = _run_postfork_chain
# And `uwsgi.spooler`: every task written by a `@spool` function runs through it.
uwsgi.spooler = manage_spool_request


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


def get_free_signal():
    """The lowest signal number no handler is registered for in this process."""
    for signum in range(0, 256):
        if not uwsgi.signal_registered(signum):
            return signum
    raise Exception("No free uwsgi signal available")


class signal(object):
    """``@signal(num, target='')``: register the function as the handler of uWSGI signal
    ``num``, run in ``target`` (a worker, ``workers``, a mule, ...)."""

    def __init__(self, num, **kwargs):
        self.num = num
        self.target = kwargs.get('target', '')

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        return f


class _armed_signal(object):
    """A decorator that registers the function as the handler of a free uWSGI signal (or
    ``signum=``), run in ``target``, then arms what raises it (``_arm``)."""

    def __init__(self, **kwargs):
        self.num = kwargs.get('signum', get_free_signal())
        self.target = kwargs.get('target', '')

    def __call__(self, f):
        uwsgi.register_signal(self.num, self.target, f)
        self._arm()
        return f


class timer(_armed_signal):
    """``@timer(secs, signum=free, target='')``: run the function every ``secs`` seconds."""

    def __init__(self, secs, **kwargs):
        _armed_signal.__init__(self, **kwargs)
        self.secs = secs

    def _arm(self):
        uwsgi.add_timer(self.num, self.secs)


class cron(_armed_signal):
    """``@cron(minute, hour, day, month, dayweek)``: -1 for any, -N for every N."""

    def __init__(self, minute, hour, day, month, dayweek, **kwargs):
        _armed_signal.__init__(self, **kwargs)
        self.fields = (minute, hour, day, month, dayweek)

    def _arm(self):
        uwsgi.add_cron(self.num, *self.fields)


class rbtimer(_armed_signal):
    """``@rbtimer(secs)``: as ``@timer``, on uWSGI's red-black-tree timers."""

    def __init__(self, secs, **kwargs):
        _armed_signal.__init__(self, **kwargs)
        self.secs = secs

    def _arm(self):
        uwsgi.add_rb_timer(self.num, self.secs)


class filemon(_armed_signal):
    """``@filemon(path)``: run the function when the file or directory changes."""

    def __init__(self, fsobj, **kwargs):
        _armed_signal.__init__(self, **kwargs)
        self.fsobj = fsobj

    def _arm(self):
        uwsgi.add_file_monitor(self.num, self.fsobj)


class mulefunc(object):
    """``@mulefunc`` / ``@mulefunc(N)``: calling the function sends the call to a mule (any
    mule, mule N, or a farm by name), where ``mule_msg_dispatcher`` runs it."""

    def __init__(self, f):
        if callable(f):
            self.fname = f.__name__
            self.mule = 0
            mule_functions[f.__name__] = f
        else:
            self.mule = f
            self.fname = None

    def real_call(self, *args, **kwargs):
        uwsgi.mule_msg(pickle.dumps({
            'service': 'uwsgi_mulefunc',
            'func': self.fname,
            'args': args,
            'kwargs': kwargs,
        }), self.mule)

    def __call__(self, *args, **kwargs):
        if not self.fname:
            self.fname = args[0].__name__
            mule_functions[self.fname] = args[0]
            return self.real_call
        return self.real_call(*args, **kwargs)


def mule_msg_dispatcher(message):
    msg = pickle.loads(message)
    if msg['service'] == 'uwsgi_mulefunc':
        return mule_functions[msg['func']](*msg['args'], **msg['kwargs'])


# As in uWSGI: a bare mule hands every message to this hook.
uwsgi.mule_msg_hook = mule_msg_dispatcher


class farm_loop(object):

    def __init__(self, f, farm):
        self.f = f
        self.farm = farm

    def __call__(self):
        if uwsgi.mule_id() == 0:
            return
        if not uwsgi.in_farm(self.farm):
            return
        while True:
            message = uwsgi.farm_get_msg()
            if message:
                self.f(message)


class farm(object):
    """``@farm(name)``: the mules of farm ``name`` run the function on each farm message."""

    def __init__(self, name=None, **kwargs):
        self.name = name

    def __call__(self, f):
        postfork_chain.append(farm_loop(f, self.name))


class mule_brain(object):

    def __init__(self, f, num):
        self.f = f
        self.num = num

    def __call__(self):
        if uwsgi.mule_id() == self.num:
            try:
                self.f()
            except BaseException:
                exc = sys.exc_info()
                sys.excepthook(exc[0], exc[1], exc[2])
                sys.exit(1)


class mule_brainloop(mule_brain):

    def __call__(self):
        if uwsgi.mule_id() == self.num:
            while True:
                try:
                    self.f()
                except BaseException:
                    exc = sys.exc_info()
                    sys.excepthook(exc[0], exc[1], exc[2])
                    sys.exit(1)


class mule(object):
    """``@mule(N)``: mule N runs the function after its fork."""

    def __init__(self, num):
        self.num = num

    def __call__(self, f):
        postfork_chain.append(mule_brain(f, self.num))


class muleloop(mule):
    """``@muleloop(N)``: mule N runs the function over and over."""

    def __call__(self, f):
        postfork_chain.append(mule_brainloop(f, self.num))


class mulemsg_loop(object):

    def __init__(self, f, num):
        self.f = f
        self.num = num

    def __call__(self):
        if uwsgi.mule_id() == self.num:
            while True:
                message = uwsgi.mule_get_msg()
                if message:
                    self.f(message)


class mulemsg(object):
    """``@mulemsg(N)``: mule N runs the function on each message it receives."""

    def __init__(self, num):
        self.num = num

    def __call__(self, f):
        postfork_chain.append(mulemsg_loop(f, self.num))


# The keywords a `pass_arguments` call gives to the spooler itself, not to the function.
_SPOOLER_KEYS = ("message_dict", "spooler", "priority", "at", "body")


class _Spooled(object):
    """A function whose calls become spooler tasks. Without ``pass_arguments`` a call takes
    one dict and/or keywords of str or bytes, and the function later gets them as one dict of
    str; with it, any picklable arguments (pickled into the task), plus the spooler's own
    keywords ``spooler``, ``priority``, ``at``, ``body``. ``fixed_ret`` is the answer given
    to the spooler whatever the function returns (None: the function's own)."""

    fixed_ret = None

    def __init__(self, f, pass_arguments):
        if "spooler" not in uwsgi.opt:
            raise Exception(
                "you have to enable the uWSGI spooler to use @%s decorator" % self.decorator_name
            )
        self.f = f
        self.pass_arguments = pass_arguments
        spooler_functions[f.__name__] = f
        # Older uWSGI apps spool with `f.spool(...)` on the undecorated function.
        f.spool = self.__call__

    def _task(self, args, kwargs):
        task = {"ud_spool_func": self.f.__name__}
        if self.fixed_ret is not None:
            task["ud_spool_ret"] = str(self.fixed_ret)
        if self.pass_arguments:
            for key in _SPOOLER_KEYS:
                if key in kwargs:
                    task[key] = kwargs.pop(key)
            task["args"] = pickle.dumps(args)
            task["kwargs"] = pickle.dumps(kwargs)
        else:
            if args:
                task.update(args[0])
            task.update(kwargs)
        return dict((_encode1(k), _encode1(v)) for (k, v) in task.items())

    def __call__(self, *args, **kwargs):
        return uwsgi.spool(self._task(args, kwargs))

    def spool(self, *args, **kwargs):
        return self(*args, **kwargs)


class _spoolraw(_Spooled):
    """``@spoolraw``: the function's return value (``uwsgi.SPOOL_OK``, ``SPOOL_RETRY``,
    ``SPOOL_IGNORE``) decides what becomes of the task."""

    decorator_name = "_spoolraw"


class _spool(_Spooled):
    """``@spool``: the task is done once the function returns, whatever it returns; an
    exception leaves it for the next scan."""

    decorator_name = "_spool"
    fixed_ret = uwsgi.SPOOL_OK


class _spoolforever(_Spooled):
    """``@spoolforever``: the task runs again at every scan, forever."""

    decorator_name = "_spoolforever"
    fixed_ret = uwsgi.SPOOL_RETRY


def _spool_decorator(cls):
    def decorate(f=None, pass_arguments=False):
        if f is None:
            return lambda g: cls(g, pass_arguments)
        return cls(f, pass_arguments)

    return decorate


spoolraw = _spool_decorator(_spoolraw)
spool = _spool_decorator(_spool)
spoolforever = _spool_decorator(_spoolforever)


def _missing(decorator, feature):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            "uwsgidecorators.%s needs uWSGI %s, which rw does not implement yet" % (decorator, feature)
        )

    refuse.__name__ = decorator
    return refuse


rpc = _missing("rpc", "RPC")
erlang = _missing("erlang", "the Erlang plugin")


class harakiri(object):
    """``@harakiri(secs)``: the master kills the worker if a call runs longer than ``secs``."""

    def __init__(self, seconds):
        self.s = seconds

    def real_call(self, *args, **kwargs):
        uwsgi.set_user_harakiri(self.s)
        r = self.f(*args, **kwargs)
        uwsgi.set_user_harakiri(0)
        return r

    def __call__(self, f):
        self.f = f
        return self.real_call
