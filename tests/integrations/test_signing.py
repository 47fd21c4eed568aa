"""Revops-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>; verify rejects tampering and age."""
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.services.signing import SignatureError, secret_generate, sign, verify

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","type":"invoice.issued"}'
T = 1_800_000_000


def test_the_header_is_the_documented_hmac_of_t_dot_body():
    # computed apart with the openssl CLI:
    # printf '1800000000.{"id":"evt_1","type":"invoice.issued"}' | openssl dgst -sha256 -hmac whsec_test_secret
    expected = "25ad42bf96717605da25068729da847e808b157ca19aedb92d304e4c1c623dcf"
    assert sign(BODY, SECRET, timestamp=T) == f"t=1800000000,v1={expected}"
    assert hmac.new(SECRET.encode(), b"1800000000." + BODY, hashlib.sha256).hexdigest() == expected


def test_a_valid_signature_verifies_and_returns_its_timestamp():
    header = sign(BODY, SECRET, timestamp=T)
    assert verify(header, BODY, SECRET, now=T + 10) == T
    assert verify(header, BODY.decode(), SECRET, now=T - 10) == T  # str body, receiver clock a bit behind


def test_a_tampered_body_is_rejected():
    header = sign(BODY, SECRET, timestamp=T)
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, BODY.replace(b"issued", b"voided"), SECRET, now=T)


def test_a_changed_timestamp_is_rejected():
    header = sign(BODY, SECRET, timestamp=T).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, BODY, SECRET, now=T)


def test_an_old_timestamp_is_rejected_even_with_a_correct_signature():
    header = sign(BODY, SECRET, timestamp=T)
    assert verify(header, BODY, SECRET, now=T + 300) == T  # exactly at the tolerance: still fine
    with pytest.raises(SignatureError, match="tolerance"):
        verify(header, BODY, SECRET, now=T + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(header, BODY, SECRET, tolerance=60, now=T + 61)


def test_the_wrong_secret_is_rejected():
    header = sign(BODY, SECRET, timestamp=T)
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, BODY, "whsec_someone_else", now=T)


@pytest.mark.parametrize("header", ["", "v1=abc", f"t={T}", "t=soon,v1=abc", "garbage"])
def test_malformed_headers_are_rejected(header):
    with pytest.raises(SignatureError):
        verify(header, BODY, SECRET, now=T)


def test_any_of_several_v1_values_may_match_during_a_secret_rotation():
    old = sign(BODY, "whsec_old", timestamp=T)
    new = sign(BODY, SECRET, timestamp=T).split(",")[1]
    assert verify(f"{old},{new}", BODY, SECRET, now=T) == T


def test_generated_secrets_are_prefixed_and_distinct():
    a, b = secret_generate(), secret_generate()
    assert a.startswith("whsec_") and b.startswith("whsec_") and a != b and len(a) >= 40


@given(body=st.binary(max_size=200), flip=st.integers(min_value=0, max_value=199))
def test_any_single_byte_change_breaks_the_signature(body, flip):
    header = sign(body, SECRET, timestamp=T)
    assert verify(header, body, SECRET, now=T) == T
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        with pytest.raises(SignatureError):
            verify(header, changed, SECRET, now=T)


# The receiver-side snippet of the README ("Webhooks out"), copied verbatim: it must accept what revops signs.
def revops_signature_ok(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """header: the Revops-Signature value; body: the raw request body (bytes, before any JSON parsing)."""
    import time

    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [v for k, v in fields if k == "t"]
    signatures = [v for k, v in fields if k == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return False
    if abs(time.time() - int(timestamps[0])) > tolerance:
        return False  # too old (or from the future): a replayed request
    expected = hmac.new(secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


def test_the_readme_snippet_accepts_what_revops_signs_and_nothing_else():
    header = sign(BODY, SECRET)
    assert revops_signature_ok(header, BODY, SECRET)
    assert not revops_signature_ok(header, BODY + b" ", SECRET)
    assert not revops_signature_ok(header, BODY, "whsec_wrong")
    import time

    assert not revops_signature_ok(sign(BODY, SECRET, timestamp=int(time.time()) - 301), BODY, SECRET)
