"""Schemathesis against the served OpenAPI schema, every operation, as each role and anonymously:
no server error, every status code documented, every response of its documented content type,
headers and schema."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.world import ANONYMOUS, ROLES, World

SCHEMA_PATH = "/api/v1/schema/"
# Bounded for `make test`; `make fuzz` raises it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
# The coverage phase (boundary values of every parameter) is part of the long campaign only.
PHASES = [*os.environ.get("FUZZ_PHASES", "examples,fuzzing").split(","), "stateful"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Path prefix -> the kind of object its {id} names (World.ids).
ID_KINDS = {
    "/api/v1/organizations/": "organization",
    "/api/v1/packages/": "package",
    "/api/v1/auctions/": "auction",
    "/api/v1/registrations/": "registration",
    "/api/v1/settlements/": "settlement",
    "/api/v1/transfers/": "transfer",
    "/api/v1/ledger/entries/": "ledger-entry",
}
# Statuses answered, per operation ("GET /api/v1/me/" -> {"200": n, ...}).
STATS: dict[str, Counter[str]] = {}
# The ids of the world under test, for the path-parameter hook (filled by the `world` fixture).
REAL_IDS: dict[str, list[int]] = {}

schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())
schema.config.generation.update(
    modes=["positive", "negative"], max_examples=EXAMPLES, deterministic=True
)
schema.config.seed = SEED
# Each test runs its examples against the world of its module: that is the point, not a surprise.
schema.config.update(suppress_health_check=[HealthCheck.all])
schema.config.phases.update(phases=PHASES)


@schema.hook
def before_generate_path_parameters(context, strategy):
    """Ids in paths name real objects three times out of four."""
    kind = next((k for p, k in ID_KINDS.items() if context.operation.path.startswith(p)), "")
    if kind not in ID_KINDS.values():
        return strategy
    real = st.deferred(lambda: st.fixed_dictionaries({"id": st.sampled_from(REAL_IDS[kind])}))
    return st.one_of(real, real, real, strategy)


@schema.hook
def map_case(context, case):
    """Generated Idempotency-Keys are short and repeat, so about one POST in eight was a 422
    (or a replay): in three cases of four the key is made unique to the request (deterministically);
    the fourth keeps it, so replays and `idempotency_key_reused` stay exercised."""
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if key:
        digest = hashlib.sha256(repr((case.path_parameters, case.query, case.body)).encode())
        if digest.digest()[0] % 4:
            case.headers["Idempotency-Key"] = f"{key[:190]}-{digest.hexdigest()[:32]}"
    return case


@schema.hook
def after_call(context, case, response):
    STATS.setdefault(case.operation.label, Counter())[str(response.status_code)] += 1


@pytest.fixture(scope="module", autouse=True)
def _write_stats():
    """With FUZZ_STATS set (`make fuzz`), the statuses answered per operation go to that file."""
    STATS.clear()
    yield
    if os.environ.get("FUZZ_STATS"):
        with open(os.environ["FUZZ_STATS"], "w") as out:
            json.dump(STATS, out, indent=1, sort_keys=True)


@pytest.fixture
def world(fuzz_world: World, in_process_requests: None, db) -> World:
    REAL_IDS.clear()
    REAL_IDS.update(fuzz_world.ids)
    return fuzz_world


@schema.parametrize()
@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_api(case, role, world):
    headers = {}
    if role != ANONYMOUS:
        headers["Authorization"] = f"Token {world.tokens[role]}"
    case.call_and_validate(headers=headers, checks=CHECKS)


# Stateful: chains of calls along the schema's OpenAPI links (create or list, then act on what
# was created or listed), as each role.
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "3"))
STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "6"))


@pytest.mark.parametrize("role", ROLES)
def test_stateful(role, world):
    token = world.tokens[role]

    class Workflow(schema.as_state_machine()):
        # Each scenario starts from the same world (a savepoint rolled back at its end): the
        # calls a scenario chooses depend on the answers, so a world changed by the previous
        # scenario would make a failing one impossible to replay.
        def setup(self):
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Token {token}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
