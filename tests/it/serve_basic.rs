//! `rw serve` end to end: a real server on a free port, driven over real sockets.

use crate::util::Server;

pub const HELLO_APP: &str = "def application(environ, start_response):\n    body = b'Hello, World!'\n    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n    return [body]\n";

pub fn hello_ini(extra: &str) -> String {
    format!("[uwsgi]\nhttp-socket = 127.0.0.1:{{port}}\nwsgi-file = {{dir}}/app.py\nprocesses = 2\ndie-on-term = true\n{extra}\n")
}

#[test]
fn serves_hello_and_logs_the_uwsgi_request_line() {
    let s = Server::start(&hello_ini(""), &[("app.py", HELLO_APP)]);
    let (status, body) = s.get("/hello?x=1");
    assert_eq!((status, body.as_slice()), (200, &b"Hello, World!"[..]));
    let log = s.wait_log("GET /hello?x=1 => generated 13 bytes", 10);
    assert!(log.contains("(HTTP/1.1 200) 2 headers in"), "{log}");
    assert_eq!(s.workers(2).len(), 2);
}
