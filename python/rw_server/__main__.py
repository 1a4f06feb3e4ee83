"""``python -m rw_server serve --ini uwsgi.ini`` is ``rw serve --ini uwsgi.ini``."""

from rw_server import main

main()
