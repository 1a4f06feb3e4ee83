#!/usr/bin/env python3
"""Issue 17's body and close behaviours of one rw binary, as numbers (before/after a change).

    benches/bodies.py target/debug/rw [--venv target/test-venv]
    benches/bodies.py --uwsgi /path/to/uwsgi --no-frameworks    # the same against uWSGI

Prints: resets in 20 tries after refusals with input pending (oversized head 431, garbage
400, body over limit-post 413); how long a normal request waits beside four 2-byte/s
uploads of 1 MB on 2 processes x 2 threads (default socket-timeout) and beside eight
trickled bodies below post-buffering on 1 x 1; what Flask, Django, Falcon, Bottle and
Pyramid read of a 100 KB chunked body. Every wait is bounded (30 s).
"""
import argparse, hashlib, os, socket, subprocess, sys, tempfile, threading, time

APP = '''
def application(environ, start_response):
    body = environ['wsgi.input'].read() if environ['PATH_INFO'] == '/upload' else b'fast'
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
'''
FRAMEWORKS = {
    'flask': "from flask import Flask, request\napp = Flask(__name__)\n"
             "@app.post('/echo')\ndef echo():\n    return report(request.get_data(), request.environ)\n"
             "application = app\n",
    'django': "from django.conf import settings\nsettings.configure(ALLOWED_HOSTS=['*'], "
              "ROOT_URLCONF=__name__, SECRET_KEY='t', DATA_UPLOAD_MAX_MEMORY_SIZE=None)\n"
              "from django.http import HttpResponse\nfrom django.urls import path\n"
              "def echo(request):\n    return HttpResponse(report(request.body, request.META))\n"
              "urlpatterns = [path('echo', echo)]\nfrom django.core.wsgi import get_wsgi_application\n"
              "application = get_wsgi_application()\n",
    'falcon': "import falcon\nclass Echo:\n    def on_post(self, req, resp):\n"
              "        resp.text = report(req.bounded_stream.read(), req.env)\n"
              "application = falcon.App()\napplication.add_route('/echo', Echo())\n",
    'bottle': "import bottle\n@bottle.post('/echo')\ndef echo():\n"
              "    return report(bottle.request.body.read(), bottle.request.environ)\n"
              "application = bottle.default_app()\n",
    'pyramid': "from pyramid.config import Configurator\nfrom pyramid.response import Response\n"
               "def echo(request):\n    return Response(report(request.body, request.environ))\n"
               "with Configurator() as c:\n    c.add_route('echo', '/echo')\n"
               "    c.add_view(echo, route_name='echo', request_method='POST')\n"
               "    application = c.make_wsgi_app()\n",
}
REPORT = ("import hashlib\ndef report(b, env):\n    return '%d bytes, CONTENT_LENGTH=%s' % "
          "(len(b), env.get('CONTENT_LENGTH'))\n")


UWSGI = False


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, rw, ini, files):
        self.dir = tempfile.mkdtemp(prefix='rw-bodies-')
        self.port = free_port()
        for name, text in files.items():
            with open(os.path.join(self.dir, name), 'w') as f:
                f.write(text)
        with open(os.path.join(self.dir, 'u.ini'), 'w') as f:
            f.write('[uwsgi]\nhttp-socket = 127.0.0.1:%d\nchdir = %s\n%s\n' % (self.port, self.dir, ini))
        self.log = open(os.path.join(self.dir, 'rw.log'), 'w')
        cmd = [rw, '--ini', 'u.ini'] if UWSGI else [rw, 'serve', '--ini', 'u.ini']
        self.p = subprocess.Popen(['timeout', '-s', 'INT', '300'] + cmd,
                                  cwd=self.dir, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port)).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit('rw did not start: ' + open(self.log.name).read())

    def stop(self):
        self.p.send_signal(2)
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()


def attempt(port, data):
    c = socket.create_connection(('127.0.0.1', port))
    c.settimeout(30)
    got = b''
    try:
        c.sendall(data)
        while True:
            d = c.recv(65536)
            if not d:
                return got
            got += d
    except (ConnectionResetError, BrokenPipeError):
        return None
    finally:
        c.close()


def get_time(port):
    t = time.time()
    c = socket.create_connection(('127.0.0.1', port))
    c.settimeout(30)
    try:
        c.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        got = b''
        while b'fast' not in got:
            d = c.recv(4096)
            if not d:
                break
            got += d
        return '%.2f s' % (time.time() - t) if b'fast' in got else 'no answer'
    except socket.timeout:
        return 'not served in 30 s'
    finally:
        c.close()


def trickle(port, length, stop):
    c = socket.create_connection(('127.0.0.1', port))
    c.sendall(b'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % length)
    c.settimeout(0.5)
    while not stop.is_set():
        try:
            c.sendall(b'x')
            if c.recv(4096):
                break
        except socket.timeout:
            continue
        except OSError:
            break
    c.close()


def beside_tricklers(rw, ini, n, length):
    s = Server(rw, ini, {'app.py': APP})
    stop = threading.Event()
    ts = [threading.Thread(target=trickle, args=(s.port, length, stop)) for _ in range(n)]
    for t in ts:
        t.start()
    time.sleep(1)  # let them reach the workers: this is a measurement, not a test
    took = get_time(s.port)
    stop.set()
    for t in ts:
        t.join()
    s.stop()
    return took


def chunked(body):
    out = b'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    for i in range(0, len(body), 8192):
        part = body[i:i + 8192]
        out += b'%x\r\n%s\r\n' % (len(part), part)
    return out + b'0\r\n\r\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('rw')
    ap.add_argument('--venv', default='target/test-venv')
    ap.add_argument('--uwsgi', action='store_true', help='BINARY is uwsgi (uwsgi --ini)')
    ap.add_argument('--no-frameworks', action='store_true')
    a = ap.parse_args()
    global UWSGI
    UWSGI = a.uwsgi
    rw = os.path.abspath(a.rw)
    s = Server(rw, 'wsgi-file = app.py\nlimit-post = 1000\nprocesses = 1\nthreads = 2', {'app.py': APP})
    cases = {
        'oversized head (431)': b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 262144,
        'garbage (400)': b'\x16\x03\x01 not http\r\n\r\n' + b'z' * 131072,
        'body over limit-post (413)': b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n' + b'b' * 300000,
    }
    for name, data in cases.items():
        resets = sum(attempt(s.port, data) is None for _ in range(20))
        print('resets in 20 tries, %s: %d' % (name, resets))
    s.stop()
    print('normal request beside 4 slow 1 MB uploads (2 x 2, 2 B/s): ' +
          beside_tricklers(rw, 'wsgi-file = app.py\nprocesses = 2\nthreads = 2', 4, 1 << 20))
    print('normal request beside 8 slow 1000-byte bodies (1 x 1, post-buffering 65536): ' +
          beside_tricklers(rw, 'wsgi-file = app.py\nprocesses = 1\nthreads = 1\npost-buffering = 65536', 8, 1000))
    body = bytes(range(256)) * 400
    for name, code in ({} if a.no_frameworks else FRAMEWORKS).items():
        s = Server(rw, 'module = app:application\nhome = %s' % os.path.abspath(a.venv),
                   {'app.py': 'from report import report\n' + code, 'report.py': REPORT})
        got = attempt(s.port, chunked(body)) or b'reset'
        head, _, rest = got.partition(b'\r\n\r\n')
        status = head.split(b' ')[1].decode() if b' ' in head else '?'
        answer = rest.decode(errors='replace').strip()
        if b'chunked' in head.lower():
            answer = answer.split('\r\n')[1] if '\r\n' in answer else answer
        print('chunked 102400-byte body, %s: %s %s' % (name, status, answer[:60]))
        s.stop()


if __name__ == '__main__':
    main()
