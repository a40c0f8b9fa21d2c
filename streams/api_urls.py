from django.urls import path

from streams import apis

urlpatterns = [
    path("streams/eligibility/", apis.StreamEligibilityApi.as_view(), name="api-stream-eligibility"),
]
