"""schemathesis against every running service, driven by the service's own
``/api/openapi.json``: no 5xx, and every answer (status, media type, headers, body) is one the
document describes. Valid requests (positive) and requests that break the description
(negative) are both generated. A finding is a bug in the service or in its description.

schemathesis's pytest plugin does not run under this pytest, so the operations are driven
here: one hypothesis run per operation and mode, every failing operation reported at the end
with its minimal example. The number of examples per operation is bounded so that the five
services together take about four minutes of CI on SQLite.
"""
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from pacifica.common.openapi import OPENAPI_PATH

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# Examples per operation and mode: metadata has about 280 operations, the others a handful.
EXAMPLES = {'metadata': 1, 'uniqueid': 15, 'cartd': 12, 'proxy': 12, 'archiveinterface': 12}
# metadata's 35 or so query endpoints (tag "queries") each parse arguments of their own:
# more examples than the 45 objects' generic operations, which share one parser.
QUERY_EXAMPLES = 12


def examples_of(name, operation):
    """How many examples one operation gets."""
    if 'queries' in operation.definition.raw.get('tags', ()):
        return QUERY_EXAMPLES
    return EXAMPLES[name]


def run_operation(operation, mode, examples, session):
    """Every generated case of one operation through all CHECKS; the failure text or None."""
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(checks=CHECKS, session=session, timeout=30)

    try:
        run()
    except Exception as exc:  # pylint: disable=broad-except
        return '{} {} ({}): {}'.format(operation.method.upper(), operation.path, mode.value,
                                       exc)
    return None


def breakable(raw):
    """Whether an operation has anything a request could get wrong: parameters, or a JSON
    body with a schema. Without either (a body described as any JSON, an XML text) there is
    no negative example to make: hypothesis would give up as Unsatisfiable."""
    if raw.get('parameters'):
        return True
    content = raw.get('requestBody', {}).get('content', {})
    return any(media.endswith(('json', 'javascript')) and entry.get('schema')
               for media, entry in content.items())


@pytest.mark.parametrize('name', sorted(EXAMPLES))
def test_every_answer_is_described(suite, name):
    schema = schemathesis.openapi.from_url(suite[name] + OPENAPI_PATH, timeout=60)
    session = requests.Session()
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE,) + (
                (GenerationMode.NEGATIVE,) if breakable(operation.definition.raw) else ()):
            failure = run_operation(operation, mode, examples_of(name, operation), session)
            if failure:
                failures.append(failure)
    assert not failures, '\n\n'.join(failures)


def documented_server_error(response, case):
    """The one 5xx upstream answers on purpose: ``HEAD /<uid>`` of a cart whose staging
    failed is a 500 carrying ``X-Pacifica-Status: error`` (the downloader reads exactly
    that), so not_a_server_error does not apply to it; every other check still does."""
    return (case.operation.method.upper() == 'HEAD' and case.operation.path == '/{uid}'
            and response.status_code == 500
            and response.headers.get('X-Pacifica-Status') == 'error')


# Stateful runs: the scenarios the documents' links describe (create a cart, then read its
# status, download and delete it; PUT a metadata row with an _id, then GET it back), with the
# paths they run on (metadata: a few objects, so that a bounded run reaches the links among
# its 280 operations) and the number of scenarios.
STATEFUL = {'cartd': (None, 15), 'metadata': (['/journals', '/keywords', '/users'], 15)}


@pytest.mark.parametrize('name', sorted(STATEFUL))
def test_linked_operations_keep_their_promises(suite, name):
    schema = schemathesis.openapi.from_url(suite[name] + OPENAPI_PATH, timeout=60)
    paths, scenarios = STATEFUL[name]
    if paths:
        schema = schema.include(path=paths)
    base = schema.as_state_machine()
    steps = []

    class Machine(base):  # pylint: disable=too-few-public-methods
        """The five checks on every step."""

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            steps.append((case.operation.method.upper(), response.status_code))
            checks = CHECKS[1:] if documented_server_error(response, case) else CHECKS
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

    Machine.run(settings=settings(max_examples=scenarios, stateful_step_count=4,
                                  deadline=None, derandomize=True, database=None,
                                  suppress_health_check=list(HealthCheck)))
    # The runs did create something and follow it up (a run that only sent refused
    # requests would prove nothing about the links).
    created = {'cartd': ('POST', 201), 'metadata': ('PUT', 200)}[name]
    assert created in steps, steps
    assert any(method in ('GET', 'HEAD') for method, _status in steps[steps.index(created):])
