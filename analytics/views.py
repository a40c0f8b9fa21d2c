"""The streamer's analytics pages: the channel over 7/30/90 days with its past broadcasts,
one broadcast's charts, numbers and highlights, and its series as CSV. Thin: the numbers
come from analytics.selectors, the charts are drawn in the browser (static/js/analytics.js,
uPlot) from data embedded in the page."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from analytics import selectors
from analytics.selectors import AnalyticsQueryError


def _int_param(request, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise AnalyticsQueryError(f"{name}: a whole number.", code="invalid") from None


@login_required
def channel(request):
    try:
        days = _int_param(request, "days") or 30
        data = selectors.channel_analytics(owner=request.user, days=days)
    except AnalyticsQueryError as exc:
        return render(request, "analytics/channel.html", {"error": exc.message, "days": None}, status=400)
    return render(
        request, "analytics/channel.html", {"data": data, "days": days, "choices": selectors.CHANNEL_DAYS}
    )


@login_required
def stream(request, stream_id: str):
    broadcast = selectors.analytics_stream_get(stream_id=stream_id, user=request.user)
    try:
        window = selectors.analytics_window(
            stream=broadcast, start=None, end=None, resolution=_int_param(request, "resolution")
        )
    except AnalyticsQueryError as exc:
        return render(
            request, "analytics/stream.html", {"stream": broadcast, "error": exc.message}, status=400
        )
    data = selectors.stream_analytics(stream=broadcast, window=window)
    return render(
        request,
        "analytics/stream.html",
        {
            "stream": broadcast,
            "data": data,
            "summary": data["summary"],
            "highlights": data["highlights"],
            "resolutions": selectors.RESOLUTIONS,
        },
    )


@login_required
def stream_csv(request, stream_id: str):
    broadcast = selectors.analytics_stream_get(stream_id=stream_id, user=request.user)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="socialflow-{broadcast.pk}-series.csv"'
    writer = csv.writer(response)
    for row in selectors.series_csv_rows(stream=broadcast):
        writer.writerow(row)
    return response
