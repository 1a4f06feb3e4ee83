from django.urls import path

from . import views

urlpatterns = [
    path("", views.api),
    path("items/", views.items),
    path("api/", views.api),
]
