"""Property-based fuzzing of our own OpenAPI schema (schemathesis), as every role.

Each generated request (valid and invalid parameters and bodies, for every operation) is sent
through the WSGI application once per role, logged in with a session and a CSRF token: no
response may be a server error, and every documented response must match its schema.
Bounded (`FUZZ_EXAMPLES` examples per operation, default 5; `make fuzz` runs 100) so that
`make test` stays short.
"""

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from .helpers import file

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ROLES = ["anonymous", "contributor_in", "operator", "operator2", "reviewer", "admin"]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # As Django's test client does: requests must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def sessions(world):
    """Cookies and headers of one logged-in session per role, and data to act on."""
    cache.clear()  # rate-limit counters
    file(world)
    file(world, user="colleague")
    out = {}
    for role in ROLES:
        token = _get_new_csrf_string()
        cookies, headers = {"csrftoken": token}, {"X-CSRFToken": token}
        if world["users"][role] is not None:
            client = Client()
            client.force_login(world["users"][role])
            cookies["sessionid"] = client.cookies["sessionid"].value
        out[role] = (cookies, headers)
    return out


# The schema as served at /api/schema/ (generated without a database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run: a failure is reproducible
    print_blob=True,
    # Generated examples only: the schema's explicit examples (every enum combination, some
    # 500 per operation) would multiply the run time by a hundred.
    phases=[Phase.generate, Phase.shrink] if EXAMPLES > 20 else [Phase.generate],
)
def test_api_never_fails_and_matches_its_schema_for_every_role(case, sessions):
    for role, (cookies, headers) in sessions.items():
        response = case.call(cookies=cookies, headers=headers)
        assert response.status_code < 500, (role, case.method, case.path, response.text[:2000])
        case.validate_response(
            response, checks=[response_schema_conformance, content_type_conformance]
        )


@pytest.mark.django_db
def test_dates_with_offsets_postgresql_refuses_are_brought_to_utc_or_refused(client, world):
    """Found by the fuzzer: ISO 8601 allows offsets PostgreSQL refuses (a 500 before)."""
    client.force_login(world["users"]["operator"])
    ok = client.get("/api/signalements/", {"created_after": "2954-09-22T00:02:31-23:15"})
    assert ok.status_code == 200
    bad = client.get("/api/signalements/", {"created_before": "9999-12-31T23:59:59-23:59"})
    assert bad.status_code == 400
