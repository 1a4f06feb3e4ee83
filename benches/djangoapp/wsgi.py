"""WSGI entry of the bench project (`wsgi-file` for rw and uWSGI, `djangoapp.wsgi:application`
for the others): makes benches/ importable, then Django's own get_wsgi_application."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
