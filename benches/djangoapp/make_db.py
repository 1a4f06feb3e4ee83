"""Creates the bench project's sqlite database at $BENCH_DJANGO_DB (tables of the installed
apps, 200 items) once, before any server starts, so no two workers race to create it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.db import connection  # noqa: E402

with connection.schema_editor() as editor:
    for model in apps.get_models():
        editor.create_model(model)

from djangoapp.models import Item  # noqa: E402

Item.objects.bulk_create(
    Item(name=f"item {i}", price_cents=100 + 7 * i, stock=i % 5) for i in range(200)
)
print(Item.objects.count())
