"""schemathesis hooks for crest (loaded by tests/scripts/schemathesis.sh).

crest's /openapi.json says what a request must look like. A few answers also
depend on what is stored, which no schema can say; each is let through here
by its exact shape, and nothing else is:

* 412 to a schema-valid request with If-Match: the revision it names is not
  the dimension's (a compare-and-swap that lost, or a dimension not there).
* 400 to a schema-valid PATCH or PUT whose message names minCapacity or
  maxCapacity: desiredCapacity outside the dimension's bounds, or bounds that
  cross, given or kept (relations between values and the stored dimension).
* 2xx to a PATCH whose only fault is a failureReason without scalingStatus
  (production mode): crest takes that with a new desiredCapacity (which
  starts a new activity and drops it) or where the dimension has already
  failed (the PATCH body's description says so); and 412 to such a PATCH
  with If-Match, since that rule needs the stored state and the
  precondition is judged before it.

And one thing schemathesis does: when it cannot draw a value for an optional
header (its coverage phase draws headers from letters and digits, and
If-Match needs quotes or *), it sends the header empty and counts it as
absent. Such a header is sent absent here.
"""

import jsonschema_rs
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData


def _header(case, name):
    return next((v for k, v in (case.headers or {}).items() if k.lower() == name.lower()), None)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.meta is None or not case.meta.generation.mode.is_positive or case.headers is None:
        return
    for name in [k for k, v in case.headers.items() if k.lower() == "if-match" and v == ""]:
        del case.headers[name]


def _message(response):
    try:
        return str(response.json().get("message", ""))
    except Exception:
        return ""


def _only_fault_is_a_lone_failure_reason(case):
    body = case.body
    if case.method != "PATCH" or not isinstance(body, dict):
        return False
    if "failureReason" not in body or "scalingStatus" in body:
        return False
    components = case.operation.schema.raw_schema.get("components", {})
    schema = {"$ref": "#/components/schemas/PatchRequest", "components": components}
    return jsonschema_rs.validator_for(schema).is_valid({**body, "scalingStatus": "Failed"})


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False drops the failure: it is one of the stateful answers above."""
    if isinstance(failure, RejectedPositiveData):
        if response.status_code == 412 and _header(case, "If-Match") is not None:
            return False
        if response.status_code == 400 and case.method in ("PATCH", "PUT"):
            message = _message(response)
            if "minCapacity" in message or "maxCapacity" in message:
                return False
    if isinstance(failure, AcceptedNegativeData) and _only_fault_is_a_lone_failure_reason(case):
        if 200 <= response.status_code < 300:
            return False
        # Whether a lone failureReason is allowed depends on the stored
        # status, so the If-Match precondition is judged first (RFC 9110,
        # 13.2.1: preconditions come after the checks that need no state).
        if response.status_code == 412 and _header(case, "If-Match") is not None:
            return False
    return True
