//! Tests of the Python boundary with inline apps, an in-memory sink and a slice body source.

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;

use super::*;
use crate::proto::Var;

// ---------------------------------------------------------------------------------------------
// Server-side test doubles.

#[derive(Default)]
struct VecSink {
    status: Option<String>,
    headers: Vec<(String, String)>,
    starts: u32,
    body: Vec<u8>,
    chunks: u32,
    files: Vec<(RawFd, u64, Option<u64>)>,
    finished: bool,
    /// Fail `body` calls once this many chunks were accepted.
    fail_after: Option<u32>,
}

impl ResponseSink for VecSink {
    fn start(&mut self, status: &str, headers: &[(String, String)]) -> io::Result<()> {
        assert_eq!(self.starts, 0, "start called twice");
        assert!(self.body.is_empty(), "start after body");
        self.starts += 1;
        self.status = Some(status.to_owned());
        self.headers = headers.to_vec();
        Ok(())
    }

    fn body(&mut self, chunk: &[u8], _last: bool) -> io::Result<()> {
        assert_eq!(self.starts, 1, "body before start");
        assert!(!chunk.is_empty(), "empty chunk sent");
        if self.fail_after.is_some_and(|n| self.chunks >= n) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.chunks += 1;
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn file(&mut self, fd: RawFd, offset: u64, len: Option<u64>) -> io::Result<u64> {
        assert_eq!(self.starts, 1, "file before start");
        self.files.push((fd, offset, len));
        let len = len.expect("call_app passes a length") as usize;
        let mut buf = vec![0u8; len];
        // SAFETY: test double: pread into our own buffer from the fd the app keeps open.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, offset as libc::off_t) };
        assert!(n >= 0);
        self.body.extend_from_slice(&buf[..n as usize]);
        Ok(n as u64)
    }

    fn finish(&mut self) -> io::Result<()> {
        assert!(!self.finished);
        if self.starts == 0 {
            panic!("finish before start");
        }
        self.finished = true;
        Ok(())
    }
}

impl VecSink {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct SliceSource {
    data: Vec<u8>,
    pos: usize,
    max: usize,
    /// None: the length is unknown (chunked). Some(x): the source claims x bytes more than
    /// it has (0: a Content-Length body).
    hint_extra: Option<usize>,
}

impl SliceSource {
    fn new(data: &[u8], max: usize) -> Self {
        SliceSource {
            data: data.to_vec(),
            pos: 0,
            max,
            hint_extra: None,
        }
    }
}

impl BodySource for SliceSource {
    fn size_hint(&self) -> Option<u64> {
        self.hint_extra
            .map(|x| (self.data.len() - self.pos + x) as u64)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Initialises the interpreter once for the whole test binary (the server's request tests
/// share it).
pub(crate) fn init() {
    static INIT: OnceLock<String> = OnceLock::new();
    INIT.get_or_init(|| {
        let opts = InterpreterOptions {
            home: None,
            pythonpath: vec![],
            program_name_fallback: option_env!("RW_BUILD_PYTHON").map(PathBuf::from),
            no_site: false,
        };
        init_interpreter(&opts).expect("init_interpreter")
    });
}

fn ctx() -> &'static WorkerContext {
    static CTX: OnceLock<WorkerContext> = OnceLock::new();
    init();
    CTX.get_or_init(|| WorkerContext::new(true, true, 3, "testnode"))
}

fn tmpdir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Write `src` to a fresh file and load it as a wsgi-file. Returns the app and its module name.
fn load(src: &str) -> (App, String) {
    init();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = tmpdir().join(format!("app{n}.py"));
    std::fs::write(&path, src).unwrap();
    let app = load_app(&AppSpec {
        source: AppSource::File { path: path.clone() },
        callable: "application".into(),
        mountpoint: String::new(),
    })
    .unwrap_or_else(|e| panic!("load failed: {e}"));
    (app, app::file_module_name(&path.to_string_lossy()))
}

fn vars(extra: &[(&str, &str)]) -> Vec<Var<'static>> {
    let mut v: Vec<Var<'static>> = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/x?a=1"),
        ("PATH_INFO", "/x"),
        ("QUERY_STRING", "a=1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SCRIPT_NAME", ""),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_HOST", "localhost"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec().into(), v.as_bytes().to_vec().into()))
    .collect();
    for (k, val) in extra {
        v.push((k.as_bytes().to_vec().into(), val.as_bytes().to_vec().into()));
    }
    v
}

fn run_with(app: &App, vars: &[Var<'_>], body: &[u8], sink: VecSink) -> (CallOutcome, VecSink) {
    run_with_source(app, vars, SliceSource::new(body, 3), sink)
}

fn run_with_source(
    app: &App,
    vars: &[Var<'_>],
    mut src: SliceSource,
    mut sink: VecSink,
) -> (CallOutcome, VecSink) {
    let out = call_app(app, ctx(), vars, &mut src, &mut sink, 2);
    (out, sink)
}

fn run(app: &App, body: &[u8]) -> (CallOutcome, VecSink) {
    run_with(app, &vars(&[]), body, VecSink::default())
}

/// `EVENTS` list of the app module, as strings.
fn events(modname: &str) -> Vec<String> {
    Python::attach(|py| {
        py.import("sys")
            .unwrap()
            .getattr("modules")
            .unwrap()
            .get_item(modname)
            .unwrap()
            .getattr("EVENTS")
            .unwrap()
            .extract()
            .unwrap()
    })
}

fn body_str(s: &VecSink) -> String {
    String::from_utf8(s.body.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn hello_world() {
    let (app, _) = load(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-A', 'b')])
    return [b'Hello World']
"#,
    );
    let (out, sink) = run(&app, b"");
    assert_eq!(sink.status.as_deref(), Some("200 OK"));
    assert_eq!(sink.header("content-type"), Some("text/plain"));
    assert_eq!(sink.header("x-a"), Some("b"));
    assert_eq!(sink.body, b"Hello World");
    assert!(sink.finished);
    assert_eq!(
        out,
        CallOutcome {
            status: 200,
            headers_sent: true,
            body_bytes: 11,
            exception: false,
            switches: 1,
            io_error: false,
            via_sendfile: false,
            finished: true,
            harakiri: false,
        }
    );
}

#[test]
fn bytes_result_and_empty_body() {
    let (app, _) = load(
        r#"
def application(environ, start_response):
    if environ['PATH_INFO'] == '/empty':
        start_response('204 No Content', [])
        return []
    start_response('200 OK', [])
    return b'whole'
"#,
    );
    let (out, sink) = run(&app, b"");
    assert_eq!(sink.body, b"whole");
    assert!(out.finished && out.status == 200);
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/empty")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.status.as_deref(), Some("204 No Content"));
    assert!(sink.body.is_empty() && sink.finished);
    assert_eq!(out.status, 204);
    assert_eq!(out.switches, 0);
}

const GEN_APP: &str = r#"
EVENTS = []

class Body:
    def __init__(self, mode):
        self.mode = mode
    def __iter__(self):
        yield b'one'
        if self.mode == 'raise-after':
            raise RuntimeError('boom after first chunk')
        yield b''
        yield b'two'
    def close(self):
        EVENTS.append('close:' + self.mode)

class RaiseFirst:
    def __iter__(self):
        return self
    def __next__(self):
        raise ValueError('boom before first chunk')
    def close(self):
        EVENTS.append('close:raise-first')

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    mode = environ['PATH_INFO'][1:]
    if mode == 'raise-first':
        return RaiseFirst()
    return Body(mode)
"#;

#[test]
fn generator_close_on_normal_end() {
    let (app, m) = load(GEN_APP);
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/normal")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.body, b"onetwo");
    assert_eq!(out.switches, 2);
    assert!(out.finished && !out.exception);
    assert_eq!(events(&m), ["close:normal"]);
}

#[test]
fn generator_close_on_exception() {
    let (app, m) = load(GEN_APP);
    // After the first chunk: response aborted (no finish), close called.
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/raise-after")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.body, b"one");
    assert!(out.exception && out.headers_sent && !out.finished && !sink.finished);
    assert_eq!(out.status, 200);
    // Before the first chunk: server-made 500.
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/raise-first")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.status.as_deref(), Some("500 Internal Server Error"));
    assert_eq!(sink.body, b"Internal Server Error");
    assert!(out.exception && out.finished && out.status == 500);
    assert_eq!(events(&m), ["close:raise-after", "close:raise-first"]);
}

#[test]
fn generator_close_on_client_disconnect() {
    let (app, m) = load(GEN_APP);
    let sink = VecSink {
        fail_after: Some(1),
        ..Default::default()
    };
    let (out, sink) = run_with(&app, &vars(&[("PATH_INFO", "/normal")]), b"", sink);
    assert_eq!(sink.body, b"one");
    assert!(out.io_error && !out.finished && !out.exception);
    assert_eq!(events(&m), ["close:normal"]);
}

#[test]
fn exception_before_start_response_gives_500() {
    let (app, _) = load(
        r#"
def application(environ, start_response):
    raise KeyError('nope')
"#,
    );
    let (out, sink) = run(&app, b"");
    assert_eq!(sink.status.as_deref(), Some("500 Internal Server Error"));
    assert_eq!(sink.header("content-type"), Some("text/plain"));
    assert!(out.exception && out.finished && out.status == 500 && out.headers_sent);
}

const BAD_HEADERS_APP: &str = r#"
EVENTS = []
CASES = {
    '/crlf': ('200 OK', [('Foo', 'a\r\nBar: b')]),
    '/lf': ('200 OK', [('Foo', 'a\nBar: b')]),
    '/nul': ('200 OK', [('Foo', 'a\x00b')]),
    '/status-lf': ('200 OK\r\nBar: b', [('Foo', 'x')]),
    '/status-bad': ('OK', []),
    '/name-space': ('200 OK', [('Foo Bar', 'x')]),
    '/name-colon': ('200 OK', [('Foo:', 'x')]),
    '/name-crlf': ('200 OK', [('Foo\r\nBar', 'x')]),
    '/not-latin1': ('200 OK', [('Foo', '\u20ac')]),
}

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/caught':
        start_response('200 OK', [('Good', 'yes')])
        try:
            start_response('200 OK', [('Foo', 'a\r\nBar: b')])
        except ValueError as e:
            EVENTS.append('caught')
        return [b'Bar: b smuggled']
    status, headers = CASES[path]
    start_response(status, headers)
    return [b'Bar: b body']
"#;

#[test]
fn invalid_status_or_headers_give_500_and_nothing_bad_is_sent() {
    let (app, m) = load(BAD_HEADERS_APP);
    for path in [
        "/crlf",
        "/lf",
        "/nul",
        "/status-lf",
        "/status-bad",
        "/name-space",
        "/name-colon",
        "/name-crlf",
        "/not-latin1",
        "/caught",
    ] {
        let (out, sink) = run_with(&app, &vars(&[("PATH_INFO", path)]), b"", VecSink::default());
        assert_eq!(
            sink.status.as_deref(),
            Some("500 Internal Server Error"),
            "{path}"
        );
        assert_eq!(out.status, 500, "{path}");
        assert!(out.finished, "{path}");
        assert_eq!(sink.body, b"Internal Server Error", "{path}");
        for (k, v) in &sink.headers {
            assert!(!k.contains(['\r', '\n', '\0']) && !v.contains(['\r', '\n', '\0']));
            assert_ne!(k, "Foo");
            assert_ne!(k, "Good");
        }
        if path != "/caught" {
            assert!(out.exception, "{path}");
        }
    }
    assert_eq!(events(&m), ["caught"]);
}

#[test]
fn start_response_type_errors() {
    let (app, m) = load(
        r#"
EVENTS = []
def application(environ, start_response):
    for args in [(200, []), ('200 OK', {}), ('200 OK', [['a', 'b']]),
                 ('200 OK', [(1, 'b')]), ('200 OK', [('a', 2)])]:
        try:
            start_response(*args)
        except TypeError as e:
            EVENTS.append(str(e))
    start_response('200 OK', [])
    return [b'ok']
"#,
    );
    let (out, sink) = run(&app, b"");
    assert_eq!(sink.body, b"ok");
    assert!(out.finished);
    assert_eq!(
        events(&m),
        [
            "http status must be a string",
            "http headers must be in a python list",
            "http header must be defined in a tuple",
            "http header key must be a string",
            "http header value must be a string",
        ]
    );
}

#[test]
fn write_callable_then_iterable() {
    let (app, m) = load(
        r#"
EVENTS = []
SAVED = []
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'written-')
    SAVED.append(write)
    try:
        write('str')
    except TypeError:
        EVENTS.append('typeerror')
    return [b'returned']
"#,
    );
    let (out, sink) = run(&app, b"");
    assert_eq!(body_str(&sink), "written-returned");
    assert_eq!(sink.starts, 1);
    assert_eq!(out.switches, 2);
    assert!(out.finished);
    assert_eq!(events(&m), ["typeerror"]);
    // The write callable is dead once the request is over.
    Python::attach(|py| {
        let module = py.import(m.as_str()).unwrap();
        let w = module.getattr("SAVED").unwrap().get_item(0).unwrap();
        let err = w
            .call1((pyo3::types::PyBytes::new(py, b"late"),))
            .unwrap_err();
        assert!(err.is_instance_of::<pyo3::exceptions::PyOSError>(py));
    });
}

#[test]
fn start_response_replaced_and_exc_info() {
    let (app, _) = load(
        r#"
import sys
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/replace':
        start_response('200 OK', [('A', '1')])
        start_response('404 Not Found', [('B', '2')])
        return [b'nf']
    if path == '/before':
        start_response('200 OK', [('A', '1')])
        try:
            raise ValueError('x')
        except ValueError:
            start_response('503 Service Unavailable', [('C', '3')], sys.exc_info())
        return [b'err']
    if path == '/after':
        def gen():
            start_response('200 OK', [('A', '1')])
            yield b'partial'
            try:
                raise ValueError('late failure')
            except ValueError:
                start_response('500 Oops', [], sys.exc_info())
            yield b'never'
        return gen()
    if path == '/again':
        w = start_response('200 OK', [])
        w(b'x')
        start_response('200 OK', [])
        return [b'never']
"#,
    );
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/replace")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.status.as_deref(), Some("404 Not Found"));
    assert_eq!(sink.headers, [("B".to_owned(), "2".to_owned())]);
    assert_eq!(out.status, 404);

    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/before")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.status.as_deref(), Some("503 Service Unavailable"));
    assert_eq!(sink.body, b"err");
    assert!(out.finished && !out.exception);

    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/after")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.status.as_deref(), Some("200 OK"));
    assert_eq!(sink.body, b"partial");
    assert!(out.exception && !out.finished && out.headers_sent);

    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/again")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.body, b"x");
    assert!(out.exception && !out.finished);
}

#[test]
fn wsgi_input_methods() {
    let (app, m) = load(
        r#"
EVENTS = []
SAVED = []
def application(environ, start_response):
    inp = environ['wsgi.input']
    SAVED.append(inp)
    path = environ['PATH_INFO']
    out = []
    if path == '/mixed':
        out.append(inp.read(0))
        out.append(inp.read(3))
        out.append(inp.readline())
        out.append(inp.readline(4))
        out.append(inp.readline())
        out.extend(inp.readlines())
        out.append(inp.read())
        out.append(inp.readline())
    elif path == '/iter':
        out.extend(list(inp))
    elif path == '/readall':
        out.append(inp.read())
        out.append(inp.read(10))
    elif path == '/hint':
        out.extend(inp.readlines(5))
        out.append(inp.read(-1))
    EVENTS.append(repr(out))
    start_response('200 OK', [])
    return [b'ok']
"#,
    );
    let body = b"line one\nline two is longer\nthree\n\nlast-no-newline";
    // The same reads over a body of unknown length (chunked: read() grows a buffer), a
    // Content-Length body (read() fills a bytes object of the final size) and one that ends
    // before its announced length.
    for hint_extra in [None, Some(0), Some(7)] {
        for path in ["/mixed", "/iter", "/readall", "/hint"] {
            let mut src = SliceSource::new(body, 3);
            src.hint_extra = hint_extra;
            let (out, _) =
                run_with_source(&app, &vars(&[("PATH_INFO", path)]), src, VecSink::default());
            assert!(out.finished, "{path} {hint_extra:?}");
        }
    }
    let ev = events(&m);
    assert_eq!(ev.len(), 12);
    for (i, e) in ev[4..].iter().enumerate() {
        assert_eq!(e, &ev[i % 4], "run {i} with a known length");
    }
    assert_eq!(
        ev[0],
        "[b'', b'lin', b'e one\\n', b'line', b' two is longer\\n', b'three\\n', b'\\n', b'last-no-newline', b'', b'']"
    );
    assert_eq!(
        ev[1],
        "[b'line one\\n', b'line two is longer\\n', b'three\\n', b'\\n', b'last-no-newline']"
    );
    assert_eq!(
        ev[2],
        "[b'line one\\nline two is longer\\nthree\\n\\nlast-no-newline', b'']"
    );
    assert_eq!(
        ev[3],
        "[b'line one\\n', b'line two is longer\\nthree\\n\\nlast-no-newline']"
    );
    // wsgi.input is unusable after its request.
    Python::attach(|py| {
        let module = py.import(m.as_str()).unwrap();
        let inp = module.getattr("SAVED").unwrap().get_item(0).unwrap();
        let err = inp.call_method0("read").unwrap_err();
        assert!(err.is_instance_of::<pyo3::exceptions::PyOSError>(py));
        assert!(inp.call_method0("readline").is_err());
    });
}

#[test]
fn wsgiref_validator_is_happy() {
    let (app, m) = load(
        r#"
import sys, warnings
from wsgiref.validate import validator
EVENTS = []

def _unraisable(u):
    EVENTS.append('unraisable: %r' % (u.exc_value,))

def inner(environ, start_response):
    n = int(environ.get('CONTENT_LENGTH') or 0)
    inp = environ['wsgi.input']
    first = inp.readline()
    rest = inp.read(n - len(first))
    environ['wsgi.errors'].write('validator app says hi\n')
    environ['wsgi.errors'].flush()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(first + rest)))])
    def gen():
        yield first
        yield rest
    return gen()

_validated = validator(inner)

def application(environ, start_response):
    old_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            return list(_run(environ, start_response))
    finally:
        sys.unraisablehook = old_hook

def _run(environ, start_response):
    it = _validated(environ, start_response)
    try:
        for x in it:
            yield x
    finally:
        it.close()
        EVENTS.append('closed')
"#,
    );
    let body = b"first line\nsecond part";
    let v = vars(&[
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_LENGTH", "22"),
        ("CONTENT_TYPE", "text/plain"),
    ]);
    let (out, sink) = run_with(&app, &v, body, VecSink::default());
    assert!(!out.exception, "validator raised");
    assert_eq!(sink.status.as_deref(), Some("200 OK"));
    assert_eq!(sink.body, body);
    assert!(out.finished);
    Python::attach(|py| py.run(c"import gc; gc.collect()", None, None).unwrap());
    assert_eq!(events(&m), ["closed"]);
}

#[test]
fn file_wrapper_uses_sendfile_for_real_files() {
    let data_path = tmpdir().join("data.bin");
    std::fs::write(&data_path, b"0123456789abcdef").unwrap();
    let src = format!(
        r#"
import io
EVENTS = []
class Tracked(io.BytesIO):
    def close(self):
        EVENTS.append('bytesio-closed')
        super().close()
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    if environ['PATH_INFO'] == '/real':
        f = open({path:?}, 'rb')
        f.seek(4)
        return environ['wsgi.file_wrapper'](f, 4096)
    return environ['wsgi.file_wrapper'](Tracked(b'in-memory data'), 4)
"#,
        path = data_path.to_string_lossy()
    );
    let (app, m) = load(&src);
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/real")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.files.len(), 1);
    assert_eq!(sink.files[0].1, 4);
    assert_eq!(sink.files[0].2, Some(12));
    assert_eq!(sink.body, b"456789abcdef");
    assert!(out.via_sendfile && out.finished && out.body_bytes == 12);

    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/mem")]),
        b"",
        VecSink::default(),
    );
    assert!(sink.files.is_empty());
    assert_eq!(sink.body, b"in-memory data");
    assert_eq!(out.switches, 4);
    assert!(!out.via_sendfile && out.finished);
    assert_eq!(events(&m), ["bytesio-closed"]);
}

#[test]
fn environ_contents() {
    let (app, m) = load(
        r#"
EVENTS = []
def application(environ, start_response):
    keys = list(environ)
    EVENTS.append(repr(environ.get('HTTP_X_LATIN')))
    EVENTS.append(repr([k for k in keys if k.startswith('HTTP_X_\xff')]))
    EVENTS.append(environ['wsgi.url_scheme'])
    EVENTS.append(repr((environ['wsgi.version'], environ['wsgi.multithread'], environ['wsgi.multiprocess'],
                        environ['wsgi.run_once'], environ['wsgi.input_terminated'],
                        environ['uwsgi.version'], environ['uwsgi.node'], environ['uwsgi.core'])))
    EVENTS.append(repr([k for k in keys if not k.startswith(('wsgi.', 'uwsgi.', 'rw.'))][:3]))
    EVENTS.append(repr(environ['wsgi.errors'] is __import__('sys').stderr))
    start_response('200 OK', [])
    return []
"#,
    );
    let mut v = vars(&[("UWSGI_SCHEME", "https")]);
    v.push((b"HTTP_X_LATIN"[..].into(), b"caf\xe9 \xff"[..].into()));
    v.push((b"HTTP_X_\xff"[..].into(), b"1"[..].into()));
    v.push((b"wsgi.input"[..].into(), b"spoofed"[..].into()));
    let (out, _) = run_with(&app, &v, b"", VecSink::default());
    assert!(out.finished && !out.exception);
    let ev = events(&m);
    assert_eq!(ev[0], "'café ÿ'");
    assert_eq!(ev[1], "['HTTP_X_ÿ']");
    assert_eq!(ev[2], "https");
    assert_eq!(
        ev[3],
        "((1, 0), True, True, False, True, b'2.0.30', b'testnode', 2)"
    );
    // The request vars keep their packet order (after the constants).
    assert_eq!(ev[4], "['REQUEST_METHOD', 'REQUEST_URI', 'PATH_INFO']");
    assert_eq!(ev[5], "True");

    // Scheme rules: HTTPS=on → https; forwarded headers are not trusted.
    for (extra, want) in [
        (vec![("HTTPS", "on")], "https"),
        (vec![("HTTPS", "1")], "https"),
        (vec![("HTTPS", "off")], "http"),
        (vec![("REQUEST_SCHEME", "https")], "https"),
        (vec![("HTTP_X_FORWARDED_PROTO", "https")], "http"),
        (vec![], "http"),
    ] {
        let (out, _) = run_with(&app, &vars(&extra), b"", VecSink::default());
        assert!(out.finished);
        assert_eq!(events(&m).last().map(String::as_str), Some("True"));
        let ev = events(&m);
        assert_eq!(ev[ev.len() - 4], want, "{extra:?}");
    }
}

#[test]
fn uwsgi_module_facts_and_logvars() {
    init();
    set_module_facts(&ModuleFacts {
        options: vec![
            ("socket".into(), Some(":3031".into())),
            ("socket".into(), Some(":3032".into())),
            ("master".into(), None),
            ("vacuum".into(), Some(String::new())),
        ],
        numproc: 4,
        cores: 2,
        buffer_size: 8192,
        is_a_reload: false,
        sockets: vec![3, 5],
        hostname: "testnode".into(),
    });
    let (app, m) = load(
        r#"
import uwsgi
EVENTS = []
def application(environ, start_response):
    EVENTS.append(repr((uwsgi.worker_id(), uwsgi.numproc, uwsgi.cores, uwsgi.has_threads,
                        uwsgi.buffer_size, uwsgi.sockets, uwsgi.hostname, uwsgi.version,
                        uwsgi.version_info, uwsgi.opt, uwsgi.applications)))
    uwsgi.set_logvar('user', 'bob')
    uwsgi.set_logvar(b'user', b'alice')
    uwsgi.set_logvar('long', 'x' * 300)
    EVENTS.append(repr((uwsgi.get_logvar('user'), uwsgi.get_logvar('nope'))))
    start_response('200 OK', [])
    return [b'x']
"#,
    );
    let (out, _) = run(&app, b"");
    assert!(out.finished && !out.exception);
    assert_eq!(
        events(&m),
        [
            "(3, 4, 2, 1, 8192, [3, 5], b'testnode', b'2.0.30', (2, 0, 30, 0, b''), \
             {'socket': b':3032', 'master': True, 'vacuum': b''}, None)",
            "(b'alice', None)"
        ]
    );
    assert_eq!(
        take_logvars(),
        [
            (b"user".to_vec(), b"alice".to_vec()),
            (b"long".to_vec(), vec![b'x'; 255])
        ]
    );

    // post_fork_hook and atexit.
    Python::attach(|py| {
        py.run(
            c"import uwsgi, atexit\nCALLS = []\nuwsgi.post_fork_hook = lambda: CALLS.append('pf')\natexit.register(lambda: CALLS.append('ax'))\nimport builtins\nbuiltins._rw_calls = CALLS",
            None,
            None,
        )
        .unwrap();
    });
    run_post_fork_hooks(3);
    run_exit_hooks();
    Python::attach(|py| {
        let calls: Vec<String> = py
            .eval(c"__import__('builtins')._rw_calls", None, None)
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(calls, ["pf", "ax"]);
        py.run(c"import uwsgi\nuwsgi.post_fork_hook = None", None, None)
            .unwrap();
    });
}

#[test]
fn bad_results() {
    let (app, _) = load(
        r#"
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/str':
        start_response('200 OK', [])
        return 'not bytes'
    if path == '/mixed':
        start_response('200 OK', [])
        return [b'ok', 42]
    if path == '/nostart':
        return [b'body without headers']
    if path == '/nostart-empty':
        return []
    if path == '/noniter':
        start_response('200 OK', [])
        return 42
"#,
    );
    for (path, exception) in [
        ("/str", true),
        ("/nostart", false),
        ("/nostart-empty", false),
        ("/noniter", true),
    ] {
        let (out, sink) = run_with(&app, &vars(&[("PATH_INFO", path)]), b"", VecSink::default());
        assert_eq!(
            sink.status.as_deref(),
            Some("500 Internal Server Error"),
            "{path}"
        );
        assert_eq!(out.status, 500, "{path}");
        assert_eq!(out.exception, exception, "{path}");
        assert!(out.finished, "{path}");
    }
    let (out, sink) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/mixed")]),
        b"",
        VecSink::default(),
    );
    assert_eq!(sink.body, b"ok");
    assert!(out.exception && !out.finished);
}

#[test]
fn load_app_variants_and_errors() {
    init();
    let dir = tmpdir().join("pkgs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rw_test_mod.py"),
        r#"
def application(e, s):
    s('200 OK', [])
    return [b'default']
def other(e, s):
    s('200 OK', [])
    return [b'other']
def make():
    def app(e, s):
        s('200 OK', [])
        return [b'factory']
    return app
notcallable = 3
"#,
    )
    .unwrap();
    Python::attach(|py| {
        let sys = py.import("sys").unwrap();
        sys.getattr("path")
            .unwrap()
            .call_method1("insert", (0, dir.to_string_lossy().as_ref()))
            .unwrap();
    });
    let spec = |s: &str| AppSpec {
        source: AppSource::Module { spec: s.into() },
        callable: "application".into(),
        mountpoint: String::new(),
    };
    for (s, want) in [
        ("rw_test_mod", &b"default"[..]),
        ("rw_test_mod:other", b"other"),
        ("rw_test_mod:make()", b"factory"),
    ] {
        let app = load_app(&spec(s)).unwrap();
        let (_, sink) = run(&app, b"");
        assert_eq!(sink.body, want);
    }
    let e = load_app(&spec("rw_test_mod:missing")).unwrap_err();
    assert!(e.contains("missing") && e.contains("AttributeError"), "{e}");
    let e = load_app(&spec("rw_test_mod:notcallable")).unwrap_err();
    assert!(e.contains("not callable"), "{e}");
    let e = load_app(&spec("rw_no_such_module")).unwrap_err();
    assert!(e.contains("ModuleNotFoundError"), "{e}");

    let bad = tmpdir().join("broken.py");
    std::fs::write(&bad, "def application(:\n").unwrap();
    let e = load_app(&AppSpec {
        source: AppSource::File { path: bad },
        callable: "application".into(),
        mountpoint: String::new(),
    })
    .unwrap_err();
    assert!(e.contains("SyntaxError"), "{e}");
    let e = load_app(&AppSpec {
        source: AppSource::File {
            path: tmpdir().join("nope.py"),
        },
        callable: "application".into(),
        mountpoint: String::new(),
    })
    .unwrap_err();
    assert!(e.starts_with("failed to open python file"), "{e}");

    // wsgi-file module name and __name__.
    assert_eq!(
        app::file_module_name("/srv/app/wsgi.py"),
        "uwsgi_file__srv_app_wsgi"
    );
    assert_eq!(app::file_module_name("app.v2.py"), "uwsgi_file_app_v2");
    let (app, m) =
        load("NAME = __name__\napplication = lambda e, s: (s('200 OK', []), [NAME.encode()])[1]\n");
    let (_, sink) = run(&app, b"");
    assert_eq!(body_str(&sink), m);
    assert!(m.starts_with("uwsgi_file_"));
}

#[test]
fn validators() {
    use super::response::{validate_header_name, validate_header_value, validate_status};
    assert_eq!(validate_status("200 OK"), Ok(200));
    assert_eq!(validate_status("404"), Ok(404));
    assert_eq!(validate_status("599 Caf\u{e9}\tx"), Ok(599));
    assert!(validate_status("20 OK").is_err());
    assert!(validate_status("200OK").is_err());
    assert!(validate_status("099 x").is_err());
    assert!(validate_status("600 X").is_err());
    assert!(validate_status("200 OK\r\n").is_err());
    assert!(validate_status("200 OK\0").is_err());
    assert!(validate_status("200 \u{20ac}").is_err());
    assert!(validate_header_name("X-Ok_1").is_ok());
    for bad in ["", "a b", "a:b", "a\r", "é", "a\0"] {
        assert!(validate_header_name(bad).is_err(), "{bad:?}");
    }
    assert!(validate_header_value("a\tb é").is_ok());
    for bad in ["a\rb", "a\nb", "a\0b", "a\x7fb", "\u{100}"] {
        assert!(validate_header_value(bad).is_err(), "{bad:?}");
    }
    let mut out = Vec::new();
    encode_latin1("café", &mut out);
    assert_eq!(out, b"caf\xe9");
}

#[test]
fn a_reused_start_response_sends_exactly_this_requests_status_and_headers() {
    // Requests on one thread reuse the responder and its strings; each response must carry
    // only what its own start_response said, whatever the previous one left behind.
    let (app, _) = load(
        r#"
def application(environ, start_response):
    n = int(environ["QUERY_STRING"])
    if n == 0:
        start_response("200 OK", [("A", "a" * 300), ("B", "b"), ("C", "c")])
    elif n == 1:
        start_response("404 Not Found", [("Z", "1")])
    elif n == 2:
        start_response("599 X", [(f"H{i}", str(i)) for i in range(40)])
    elif n == 3:
        start_response("200 OK", [("Bad", "x\r\ny")])
    else:
        start_response("201 Created", [])
    return [b""]
"#,
    );
    for round in 0..2 {
        for n in 0..5 {
            let q = n.to_string();
            let (out, sink) = run_with(
                &app,
                &vars(&[("QUERY_STRING", &q)]),
                b"",
                VecSink::default(),
            );
            let want: Vec<(String, String)> = match n {
                0 => vec![
                    ("A".into(), "a".repeat(300)),
                    ("B".into(), "b".into()),
                    ("C".into(), "c".into()),
                ],
                1 => vec![("Z".into(), "1".into())],
                2 => (0..40).map(|i| (format!("H{i}"), i.to_string())).collect(),
                3 => vec![("Content-Type".into(), "text/plain".into())],
                _ => vec![],
            };
            let status = [
                "200 OK",
                "404 Not Found",
                "599 X",
                super::response::ERROR_500_STATUS,
                "201 Created",
            ][n];
            assert_eq!(sink.status.as_deref(), Some(status), "round {round} n {n}");
            assert_eq!(sink.headers, want, "round {round} n {n}");
            assert_eq!(
                out.status,
                [200, 404, 599, 500, 201][n],
                "round {round} n {n}"
            );
        }
    }
}

#[test]
fn header_checks_judge_the_latin1_bytes_with_or_without_the_ascii_shortcut() {
    use super::response::{validate_header_name, validate_header_value};
    use crate::proto::http;
    // The reference: proto's rule applied to the Latin-1 bytes (None: not encodable).
    let latin1 = |s: &str| {
        s.chars()
            .map(|c| u8::try_from(c as u32).ok())
            .collect::<Option<Vec<u8>>>()
    };
    let mut samples: Vec<String> = ["", "Content-Type", "text/plain; charset=utf-8", "a b"]
        .map(String::from)
        .into();
    for c in (0u32..0x200).filter_map(char::from_u32) {
        samples.push(c.to_string());
        samples.push(format!("X-{c}y"));
    }
    for s in &samples {
        let name = match latin1(s) {
            None => Err("header name is not latin-1 encodable"),
            Some(b) => http::validate_header_name(&b),
        };
        assert_eq!(validate_header_name(s), name, "name {s:?}");
        let value = match latin1(s) {
            None => Err("header value is not latin-1 encodable"),
            Some(b) => http::validate_header_value(&b),
        };
        assert_eq!(validate_header_value(s), value, "value {s:?}");
    }
}

#[test]
fn concurrent_requests_with_gc_churn() {
    let (app, _) = load(
        r#"
import gc
def application(environ, start_response):
    n = environ['QUERY_STRING']
    status = '200 ' + ('R' * (len(n) % 7)) + n
    headers = [('X-N', n * 3), ('Content-Type', 'text/' + n)]
    start_response(status, headers)
    del status, headers
    junk = [bytearray(64) for _ in range(50)]
    del junk
    if int(n) % 10 == 0:
        gc.collect()
    return [n.encode(), b'-', n.encode()]
"#,
    );
    let _ = ctx();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Another thread churning allocations and the GC while responses are in flight.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                Python::attach(|py| {
                    py.run(
                        c"import gc\nx = [str(i) * 20 for i in range(200)]\ndel x\ngc.collect(0)",
                        None,
                        None,
                    )
                    .unwrap()
                });
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        let workers: Vec<_> = (0..4u32)
            .map(|t| {
                let app = &app;
                s.spawn(move || {
                    for i in 0..150u32 {
                        let n = (t * 1000 + i).to_string();
                        let v = vars(&[("QUERY_STRING", n.as_str())]);
                        let mut src = SliceSource::new(b"", 16);
                        let mut sink = VecSink::default();
                        let out = call_app(app, ctx(), &v, &mut src, &mut sink, t);
                        assert!(out.finished && !out.exception);
                        let r = "R".repeat(n.len() % 7);
                        assert_eq!(sink.status, Some(format!("200 {r}{n}")));
                        assert_eq!(sink.header("X-N"), Some(n.repeat(3).as_str()));
                        assert_eq!(
                            sink.header("Content-Type"),
                            Some(format!("text/{n}").as_str())
                        );
                        assert_eq!(sink.body, format!("{n}-{n}").as_bytes());
                    }
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        stop.store(true, Ordering::Relaxed);
        for r in results {
            r.unwrap();
        }
    });
}

#[test]
fn fork_with_gil_child_runs_python() {
    init();
    Python::attach(|py| py.run(c"import random", None, None).unwrap());
    let r = fork_with_gil(|| {
        // SAFETY: test: the child only runs Python through our API and then _exits.
        unsafe { nix::unistd::fork() }
    })
    .unwrap();
    match r {
        nix::unistd::ForkResult::Child => {
            let ok = std::panic::catch_unwind(|| {
                Python::attach(|py| {
                    let v: i64 = py.eval(c"sum(range(10))", None, None)?.extract()?;
                    PyResult::Ok(v == 45)
                })
                .unwrap_or(false)
            })
            .unwrap_or(false);
            // SAFETY: leave the forked test child without running the harness's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            let st = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            // The parent still works.
            Python::attach(|py| py.run(c"x = 1", None, None).unwrap());
        }
    }
}

#[test]
fn interpreter_basics() {
    init();
    assert_ne!(interpreter_address(), 0);
    Python::attach(|py| {
        let path: Vec<String> = py
            .import("sys")
            .unwrap()
            .getattr("path")
            .unwrap()
            .extract()
            .unwrap();
        assert!(path.iter().any(|p| p == "."));
        // No Python SIGINT handler at the C level: the master owns signals.
        py.run(c"import signal", None, None).unwrap();
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: query-only sigaction (NULL new action) into our buffer.
        let rc = unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), old.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: sigaction succeeded and filled the struct.
        let old = unsafe { old.assume_init() };
        let h = old.sa_sigaction;
        eprintln!("SIGINT disposition: {h:#x}");
        // Whatever the process inherited (SIG_IGN when started in the background by a
        // non-interactive shell), never a handler of Python's.
        assert!(
            h == libc::SIG_DFL || h == libc::SIG_IGN,
            "Python installed a SIGINT handler"
        );
    });
}

/// Runs in a child process (see `home_and_venv`): initialise with `home` from the environment
/// and print what Python ended up with.
#[test]
#[ignore = "helper run in a subprocess by home_and_venv"]
fn home_child() {
    let Some(home) = std::env::var_os("RW_TEST_HOME") else {
        return;
    };
    let opts = InterpreterOptions {
        home: Some(PathBuf::from(home)),
        pythonpath: vec![format!("{}/*", std::env::var("RW_TEST_PP").unwrap())],
        program_name_fallback: None,
        no_site: false,
    };
    init_interpreter(&opts).unwrap();
    Python::attach(|py| {
        let info: String = py
            .eval(
                c"repr((__import__('sys').prefix, __import__('sys').base_prefix, __import__('sys').path))",
                None,
                None,
            )
            .unwrap()
            .extract()
            .unwrap();
        println!("RESULT {info}");
    });
}

#[test]
fn home_and_venv() {
    let Some(python) = option_env!("RW_BUILD_PYTHON") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let st = std::process::Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(st.success());
    let pp = dir.path().join("pp");
    std::fs::create_dir_all(pp.join("b")).unwrap();
    std::fs::create_dir_all(pp.join("a")).unwrap();
    let run_child = |home: &std::path::Path| -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "python::tests::home_child",
                "--ignored",
                "--nocapture",
            ])
            .env("RW_TEST_HOME", home)
            .env("RW_TEST_PP", &pp)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no result: {stdout}\n{stderr}"))
            .to_owned();
        format!("{line}\n{stderr}")
    };
    let venv_s = venv.to_string_lossy().into_owned();
    let r = run_child(&venv);
    eprintln!("venv child: {r}");
    assert!(r.contains("PEP 405 virtualenv detected"), "{r}");
    assert!(r.starts_with(&format!("('{venv_s}', ")), "{r}");
    assert!(r.contains(&format!("{venv_s}/lib/python3")), "{r}");
    // pythonpath globs: sorted, each inserted at 0 → last match first, then '.'.
    let pp_s = pp.to_string_lossy();
    assert!(
        r.contains(&format!("['{pp_s}/b', '{pp_s}/a', '.', ")),
        "{r}"
    );

    // A home without pyvenv.cfg is PYTHONHOME.
    let base = std::path::Path::new(python)
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let r = run_child(base);
    assert!(r.contains("Set PythonHome to"), "{r}");
    let base_s = base.to_string_lossy();
    assert!(r.starts_with(&format!("('{base_s}', '{base_s}', ")), "{r}");
}

/// `cargo test --release --lib python::tests::bench_hello -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn bench_hello() {
    let (app, _) = load(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello World']
"#,
    );
    let v = vars(&[
        ("HTTP_USER_AGENT", "bench/1.0"),
        ("HTTP_ACCEPT", "*/*"),
        ("REMOTE_PORT", "40000"),
    ]);
    let n = 200_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let mut src = SliceSource::new(b"", 16);
        let mut sink = VecSink::default();
        let out = call_app(&app, ctx(), &v, &mut src, &mut sink, 0);
        assert!(out.finished);
    }
    let el = t.elapsed();
    println!(
        "{n} requests in {el:?}: {:.0} req/s, {:.2} us/req",
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / n as f64
    );
}

#[test]
fn reused_input_and_start_response_start_fresh() {
    let (app, m) = load(
        r#"
EVENTS = []
KEPT = []
def application(environ, start_response):
    inp = environ['wsgi.input']
    EVENTS.append(repr((inp.tell(), inp.read(4))))
    path = environ['PATH_INFO']
    if path == '/first':
        start_response('201 Created', [('X-First', '1')])
        return [b'one']
    if path == '/keep':
        KEPT.append(start_response)
    elif KEPT:
        try:
            KEPT[0]('200 OK', [])
            EVENTS.append('kept start_response still works')
        except OSError:
            EVENTS.append('kept start_response is dead')
    start_response('200 OK', [])
    return [b'two']
"#,
    );
    let (out1, s1) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/first")]),
        b"abcdefgh",
        VecSink::default(),
    );
    let (out2, s2) = run_with(
        &app,
        &vars(&[("PATH_INFO", "/second")]),
        b"wxyz",
        VecSink::default(),
    );
    assert!(out1.finished && out2.finished);
    assert_eq!(
        (s1.status.as_deref(), s2.status.as_deref()),
        (Some("201 Created"), Some("200 OK"))
    );
    assert_eq!(
        s2.header("X-First"),
        None,
        "headers of the last request leaked"
    );
    assert_eq!(s2.body, b"two");
    // A start_response the app keeps is not reused: it stays dead after its request.
    for path in ["/keep", "/after"] {
        let (out, _) = run_with(
            &app,
            &vars(&[("PATH_INFO", path)]),
            b"1234",
            VecSink::default(),
        );
        assert!(out.finished && !out.exception);
    }
    let ev = events(&m);
    assert_eq!(
        ev,
        [
            "(0, b'abcd')",
            "(0, b'wxyz')",
            "(0, b'1234')",
            "(0, b'1234')",
            "kept start_response is dead"
        ]
    );
}
