"""Kernel pages: sign-in, sign-out and the home page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.selectors import home_summary


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "crm/home.html", {"summary": home_summary(user=request.user)})


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "403.html", status=403)
