"""Tools that run the project in development and CI, apart from the marketplace's own code.

``tools.embedded`` starts PostgreSQL and Redis from wheels, ``tools.stack`` runs web, worker
and beat together, ``tools.demo`` drives whole sales over HTTP. Each is a command line of the same
style (``python -m tools.<name> <command> [options]``); the product image does not contain them.
"""
