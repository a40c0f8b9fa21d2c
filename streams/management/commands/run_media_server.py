"""Run the local media server (nginx with the RTMP module) in the foreground.

`make run` starts it (deploy/supervisord.conf). Production uses SRS (docker-compose).
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.media_server_config import write_nginx_rtmp_conf


class Command(BaseCommand):
    help = "Run nginx-rtmp for local RTMP ingest, its hooks pointing at this web process."

    def add_arguments(self, parser):
        parser.add_argument("--prefix", default=str(settings.BASE_DIR / "var" / "nginx-rtmp"))
        parser.add_argument("--web-url", default=settings.MEDIA_HOOK_BASE_URL, help="where the hooks go")

    def handle(self, *args, prefix, web_url, **options):
        if not settings.MEDIA_HOOK_SECRET:
            raise CommandError("Set MEDIA_HOOK_SECRET (make run writes one into .env).")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise CommandError("nginx is not installed: apt-get install nginx libnginx-mod-rtmp")
        control = urlsplit(settings.MEDIA_SERVER_API_URL)
        hook_url = (
            f"{web_url.rstrip('/')}/hooks/nginx-rtmp/?{urlencode({'secret': settings.MEDIA_HOOK_SECRET})}"
        )
        conf = write_nginx_rtmp_conf(
            prefix=Path(prefix),
            rtmp_host=settings.RTMP_BIND,
            rtmp_port=settings.RTMP_PORT,
            control_port=control.port or 80,
            hook_url=hook_url,
            update_interval=settings.MEDIA_HEARTBEAT_INTERVAL,
        )
        self.stdout.write(
            f"RTMP ingest on rtmp://{settings.RTMP_BIND}:{settings.RTMP_PORT}/live (nginx-rtmp)"
        )
        self.stdout.flush()
        os.execv(nginx, [nginx, "-p", str(conf.parent), "-c", str(conf)])
