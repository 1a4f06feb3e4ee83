from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=64)
    price_cents = models.IntegerField()
    stock = models.IntegerField()

    class Meta:
        app_label = "djangoapp"
        ordering = ["id"]
