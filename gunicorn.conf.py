"""gunicorn reads this file from its working directory on every start (`make run`, the Docker
image): request limits set above the proxy's, so that an oversized request line or header is
refused by the proxy with a problem+json answer (docs/OPERATIONS.md, "Errors answered before
Django"), never by gunicorn, whose own 400/414/431 pages are plain HTML that no setting changes.
"""

# The largest gunicorn accepts; the proxy refuses request lines and header fields over 4 KiB.
limit_request_line = 8190
limit_request_field_size = 8190
# The proxy holds all headers of a request in 4 buffers of 4 KiB: at most ~4000 minimal fields.
limit_request_fields = 4096
