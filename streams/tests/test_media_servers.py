"""The media-server adapters against their APIs.

nginx-rtmp runs for real here. SRS needs Docker, which this machine lacks, so its HTTP API
is stood in for by a loopback server answering the shapes from SRS's own docs and source
(srs_payloads.json): SRS is the outside world for these tests.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from streams.media_servers import MediaServerError, NginxRtmp, Srs

API = json.loads((Path(__file__).parent / "srs_payloads.json").read_text())["api"]


@pytest.fixture
def fake_srs():
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            requests.append(("GET", self.path))
            self._send(API["clients_list_example"])

        def do_DELETE(self):
            requests.append(("DELETE", self.path))
            known = self.path.rstrip("/").endswith("/341w361a")
            example = API["client_delete_example"]
            self._send(example["response_ok" if known else "response_client_not_found"]["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_srs_lists_publishers_from_its_clients_api(fake_srs):
    url, requests = fake_srs
    assert Srs(url).publishing_client_ids() == {"341w361a"}  # the flv-play client is not a publisher
    assert requests[0][1].startswith("/api/v1/clients/?")


def test_srs_kick_reads_the_code_in_the_body(fake_srs):
    url, requests = fake_srs
    assert Srs(url).drop_publisher(client_id="341w361a") is True
    assert Srs(url).drop_publisher(client_id="gone0000") is False  # HTTP 200 with code 2049
    assert requests == [("DELETE", "/api/v1/clients/341w361a"), ("DELETE", "/api/v1/clients/gone0000")]


def test_unreachable_media_server():
    with pytest.raises(MediaServerError):
        Srs("http://127.0.0.1:9").drop_publisher(client_id="x")
    assert NginxRtmp("http://127.0.0.1:9").publishing_client_ids() is None
    with pytest.raises(MediaServerError):
        NginxRtmp("http://127.0.0.1:9").drop_publisher(client_id="1")
