"""schemathesis checks of our own, loaded with SCHEMATHESIS_HOOKS=hooks."""
import schemathesis

ERROR_KEYS = {"code", "details", "hint", "message"}


@schemathesis.check
def error_in_postgrest_shape(ctx, response, case):
    """Every refusal of /rest/v1 is PostgREST's error object: code, details, hint, message."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"{response.status_code} without a JSON error body: {response.text[:200]!r}")
    if not isinstance(body, dict) or set(body) != ERROR_KEYS or not isinstance(body.get("code"), str):
        raise AssertionError(f"{response.status_code} error not in PostgREST's shape: {str(body)[:200]}")
    return None
