"""Every answer under /api/ (and /hooks/) is JSON `{detail, code}`, with DEBUG on as under
`make run` too: issue 14 found Django's HTML debug page for an unknown id."""

import pytest

pytestmark = pytest.mark.django_db


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_addresses_methods_and_a_missing_slash_answer_json(client, settings, debug):
    settings.DEBUG = debug
    assert_json_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_json_error(client.delete("/api/v1/streams/%C2%84/"), 404, "not_found")
    assert_json_error(client.get("/hooks/srs/"), 405, "method_not_allowed")
    # A missing trailing slash: no redirect (under DEBUG a POST's was a 500), and the way.
    body = assert_json_error(client.post("/api/v1/streams", {}), 404, "not_found")
    assert "/api/v1/streams/" in body["detail"]
    assert_json_error(client.get("/api/v1/streams/live"), 404, "not_found")


def test_pages_keep_their_html(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/at-all/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
