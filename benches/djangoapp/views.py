from django.http import JsonResponse
from django.shortcuts import render

from .models import Item


def items(request):
    """Template view: 20 rows of a query on sqlite, rendered with a loop and filters."""
    rows = Item.objects.filter(stock__gt=0)[:20]
    return render(request, "items.html", {"items": rows, "title": "Items in stock"})


def api(request):
    """JSON view: a small document, no database."""
    return JsonResponse({"status": "ok", "items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]}
                                                   for i in range(10)]})
