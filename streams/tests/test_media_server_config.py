"""The nginx-rtmp configuration the platform writes: no log line may carry a stream key
(S-07), and nginx accepts it."""

import shutil
import subprocess

import pytest

from streams.media_server_config import write_nginx_rtmp_conf


def test_nginx_rtmp_logs_no_stream_name_or_args(tmp_path):
    path = write_nginx_rtmp_conf(
        prefix=tmp_path,
        rtmp_host="127.0.0.1",
        rtmp_port=1935,
        control_port=8081,
        hook_url="http://127.0.0.1:8000/hooks/nginx-rtmp/?secret=s",
    )
    text = path.read_text()
    rtmp = text[text.index("rtmp {") : text.index("http {")]
    http = text[text.index("http {") :]
    assert "access_log off;" in rtmp and "access_log off;" in http
    assert "access.log" not in text and "$name" not in text and "$args" not in text
    assert " warn;" in text  # the error log: at info, nginx-rtmp logs stream names
    nginx = shutil.which("nginx") or pytest.fail("nginx is installed by `make setup-test`")
    check = subprocess.run(
        [nginx, "-t", "-c", str(path), "-p", f"{tmp_path}/"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
