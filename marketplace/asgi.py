"""ASGI entry point (uvicorn): the whole API, and the live auction stream.

``GET /api/v1/auctions/{id}/stream/`` is answered by the stream's own small ASGI application
(``bidding.stream.app``: an open stream costs one waiting coroutine, no thread); every other
path goes to Django. Like ``urls.py``, this module wires the domain apps in.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django_application = get_asgi_application()

from bidding.stream.app import with_stream  # noqa: E402  (needs the apps loaded, above)

application = with_stream(django_application)
