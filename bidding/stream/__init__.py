"""The live auction stream, ``GET /api/v1/auctions/{id}/stream/`` (API.md "Live stream").

- ``events``: the messages, made from the auction's audit events (pure);
- ``access``: the database reads (who calls, what it may see, what it missed);
- ``publish``: after a commit, wake the streaming processes through Redis;
- ``hub``: per process, one Redis subscription and one shared feed per watched auction;
- ``app``: the ASGI application of the path, served by uvicorn (``marketplace/asgi.py``);
- ``api``: what gunicorn answers on the path (the stream is served by the ASGI process).

docs/ARCHITECTURE.md "Live stream" says how the pieces fit and why.
"""
