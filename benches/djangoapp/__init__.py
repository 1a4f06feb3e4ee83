"""A small real Django project for benches/compare.py (scenario 9): Django's default
middleware stack, one view that renders a template from a query on sqlite, one JSON view.
The database is made by `make_db.py` before any server starts ($BENCH_DJANGO_DB)."""
