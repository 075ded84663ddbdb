"""Property-based fuzzing of the whole REST API against its served OpenAPI spec, as each role.

Every operation of ``/api/v1/_openapi`` gets ``FUZZ_EXAMPLES`` generated requests (default 1,
kept small so the run stays short in CI; ``make fuzz`` raises it) with a bearer token of each role,
on a world of real rows (so generated small ids hit records). Each answer must not be a 5xx and
must agree with the spec: a documented status, the documented content type and a body valid
against the documented schema. The fuzz checks the API's contract, not the database: ``bin/test``
runs it in its PostgreSQL pass when there is one, and in the SQLite pass otherwise.

Left out of the fuzzed set, because they would end the run rather than test the API:

* ``security/login`` and ``security/refresh``: repeated wrong passwords lock accounts and trip
  the sign-in rate limits (tested in tests/test_security_endpoints.py);
* changing or deleting existing users and roles (``PUT``/``DELETE`` on ``security/users`` and
  ``security/roles``, replacing a role's permissions, users or groups, and writes on existing
  permissions, resources and groups): a changed password or a deactivated user ends that user's
  tokens, and a role stripped of its permissions or users turns the rest of the run into 403s.
  Their error answers are tested in tests/test_api_bad_input.py. Creating new security rows is
  fuzzed.
"""
import os
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.once

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
ROLES = ["hq", "manager_e", "agent_e", "auditor", "admin"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_SECURITY_CREATE = re.compile(r"^/api/v1/security/(users|roles|resources|permissions-resources|groups|permissions)/$")


def excluded(method, path):
    if path in ("/api/v1/security/login", "/api/v1/security/refresh", "/api/v1/security/logout"):
        return True
    if path.startswith("/api/v1/security/") and method.upper() != "GET":
        return not (method.upper() == "POST" and _SECURITY_CREATE.match(path))
    return False


@pytest.mark.parametrize("username", ROLES)
def test_every_operation_answers_without_server_errors_and_as_documented(app, world, api, username):
    client = api(username)  # a real login: its token is used for every generated request
    headers = dict(client.headers)
    schema = schemathesis.openapi.from_wsgi("/api/v1/_openapi", app, headers=headers)
    failures = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if excluded(operation.method, operation.path):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            fuzz()
        except Exception as exc:  # one line per failing operation, then the whole list at once
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc).strip().splitlines()[:12]
    assert operations > 150
    assert not failures, "\n".join(f"{op}: " + " | ".join(lines) for op, lines in sorted(failures.items()))
