"""The smallest WSGI app: what `rw serve --ini examples/hello/uwsgi.ini` runs."""


def application(environ, start_response):
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
