"""Turn a source's payload into a normalized deal or order, following the source's mapping (data, not code).

A mapping is a JSON object whose keys are revops fields and whose values say where the field is found in
the payload:

    {"external_id": "Id",
     "require": {"StageName": "Closed Won"},
     "customer.external_id": "Account.Id",
     "customer.name": "Account.Name",
     "contacts[].email": "OpportunityContactRoles.records[].Contact.Email",
     "lines[].sku": "OpportunityLineItems.records[].Product2.ProductCode",
     "lines[].quantity": "OpportunityLineItems.records[].Quantity",
     "billing_frequency": {"path": "Billing_Frequency__c", "map": {"Monthly": "month"}, "default": "month"},
     "term_months": {"const": 12}}

A value is one of:
- a path: dot-separated keys, `[]` once to walk every element of a list, a number to pick one element
  ("line_items[].sku", "Account.Name", "addresses.0.country_code");
- a list of such values: the first that gives a non-empty value wins (fallbacks);
- an object: {"path" | "const" | "template": ..., "map": {source value: revops value}, "default": ...,
  "transform": "date" | "lower" | "upper" | "str"}. A template fills "{a.b}" placeholders with paths.

`require` lists path -> expected value pairs the payload must satisfy (a closed-won stage, a paid order).
Fields with `[]` on the revops side ("lines[].sku") build one item per element of the payload list named
on the right; all fields of one revops list must walk the same payload list.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from revops.kernel.errors import ValidationFailed

CUSTOMER_FIELDS = ("external_id", "name", "currency", "billing_email", "country", "industry", "acquisition_channel")
CONTACT_FIELDS = ("name", "email", "title", "phone")
LINE_FIELDS = ("sku", "quantity", "unit_price")
TOP_FIELDS = ("external_id", "currency", "start_date", "term_months", "billing_frequency", "owner_email", "buyer_name")
FREQUENCIES = ("month", "quarter", "year")
_MISSING = object()
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class MappingFailed(ValidationFailed):
    """The payload does not give what the mapping needs (a missing field, a bad value, an unmet condition)."""

    code = "mapping_failed"


@dataclass(frozen=True)
class NormalizedLine:
    sku: str
    quantity: Decimal
    unit_price: Decimal | None  # per billing period of the price book's price; None: take the price book's


@dataclass(frozen=True)
class NormalizedContact:
    name: str
    email: str
    title: str = ""
    phone: str = ""


@dataclass(frozen=True)
class NormalizedDeal:
    """What revops needs from a deal or an order, whatever the source called it."""

    external_id: str
    customer: dict
    contacts: list[NormalizedContact] = field(default_factory=list)
    lines: list[NormalizedLine] = field(default_factory=list)
    currency: str = ""
    start_date: date | None = None
    term_months: int = 12
    billing_frequency: str = "month"
    owner_email: str = ""
    buyer_name: str = ""


# --- paths -------------------------------------------------------------------------------------------

def resolve(payload, path: str):
    """The value at `path` (no `[]`), or _MISSING."""
    value = payload
    for key in [k for k in path.split(".") if k != ""]:
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list) and key.isdigit():
            value = value[int(key)] if int(key) < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _split_list_path(path: str) -> tuple[str, str]:
    head, _, tail = path.partition("[]")
    return head.rstrip("."), tail.lstrip(".")


def _list_paths(spec) -> set[str]:
    """The payload lists (left of `[]`) a spec walks."""
    if isinstance(spec, str):
        return {_split_list_path(spec)[0]} if "[]" in spec else set()
    if isinstance(spec, list):
        return set().union(*(_list_paths(s) for s in spec)) if spec else set()
    if isinstance(spec, dict):
        found = set()
        for key in ("path", "template"):
            if key in spec:
                text = spec[key]
                paths = _PLACEHOLDER.findall(text) if key == "template" else [text]
                found |= {_split_list_path(p)[0] for p in paths if "[]" in p}
        return found
    return set()


def _strip_list(spec, prefix: str):
    """The spec relative to one element of the list at `prefix`."""
    def strip(path: str) -> str:
        head, tail = _split_list_path(path)
        return tail if "[]" in path and head == prefix else path

    if isinstance(spec, str):
        return strip(spec)
    if isinstance(spec, list):
        return [_strip_list(s, prefix) for s in spec]
    if isinstance(spec, dict):
        out = dict(spec)
        if "path" in out:
            out["path"] = strip(out["path"])
        if "template" in out:
            out["template"] = _PLACEHOLDER.sub(lambda m: "{" + strip(m.group(1)) + "}", out["template"])
        return out
    return spec


def _empty(value) -> bool:
    return value is _MISSING or value is None or (isinstance(value, str) and not value.strip())


def evaluate(payload, spec):
    """The value `spec` (a path, fallbacks, or an object) gives for `payload`, or _MISSING."""
    if isinstance(spec, str):
        return resolve(payload, spec)
    if isinstance(spec, list):
        for option in spec:
            value = evaluate(payload, option)
            if not _empty(value):
                return value
        return _MISSING
    if not isinstance(spec, dict):
        raise MappingFailed(f"mapping values must be paths, lists or objects, not {spec!r}")
    if "const" in spec:
        value = spec["const"]
    elif "template" in spec:
        parts = {}
        for name in _PLACEHOLDER.findall(spec["template"]):
            got = resolve(payload, name)
            parts[name] = "" if _empty(got) else str(got)
        value = _PLACEHOLDER.sub(lambda m: parts[m.group(1)], spec["template"]).strip()
        value = re.sub(r"\s{2,}", " ", value) or _MISSING
    else:
        value = resolve(payload, spec.get("path", ""))
    if not _empty(value) and "map" in spec:
        value = spec["map"].get(str(value), spec.get("default", _MISSING) if "default" in spec else value)
    if _empty(value) and "default" in spec:
        value = spec["default"]
    if not _empty(value) and spec.get("transform"):
        value = _transform(value, spec["transform"])
    return value


def _transform(value, name: str):
    if name == "date":
        text = str(value)
        try:
            return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text[:10])
        except ValueError:
            return _MISSING
    if name == "lower":
        return str(value).strip().lower()
    if name == "upper":
        return str(value).strip().upper()
    if name == "str":
        return str(value)
    raise MappingFailed(f"unknown transform {name!r} (use date, lower, upper or str)")


# --- the normalized deal -----------------------------------------------------------------------------

def _decimal(value, name: str, errors: dict) -> Decimal | None:
    if isinstance(value, float):
        value = repr(value)  # JSON numbers: the shortest text that round-trips, never binary float maths
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(name, []).append(f"{value!r} is not a number")
        return None
    if not result.is_finite():
        errors.setdefault(name, []).append(f"{value!r} is not a number")
        return None
    return result


def _list_items(payload, mapping: dict, target: str, fields: tuple[str, ...], errors: dict) -> list[dict]:
    specs = {name: mapping[f"{target}[].{name}"] for name in fields if f"{target}[].{name}" in mapping}
    if not specs:
        return []
    lists = set().union(*(_list_paths(s) for s in specs.values()))
    if len(lists) != 1:
        raise MappingFailed(f"the {target}[] fields must all walk one payload list (found {sorted(lists) or 'none'})",
                            fields={f"mapping.{target}": ["walk exactly one payload list with []"]})
    source = lists.pop()
    elements = resolve(payload, source)
    if _empty(elements):
        return []
    if isinstance(elements, dict):
        elements = [elements]  # one object where the mapping walks a list (e.g. an order's single customer)
    if not isinstance(elements, list):
        errors.setdefault(target, []).append(f"{source} is not a list")
        return []
    return [{name: evaluate(element, _strip_list(spec, source)) for name, spec in specs.items()}
            for element in elements]


def external_id_of(payload, mapping: dict) -> str:
    """The source's own id of the deal or order (the idempotency key)."""
    if not isinstance(payload, dict):
        raise MappingFailed("the payload must be a JSON object", fields={"payload": ["must be a JSON object"]})
    spec = mapping.get("external_id")
    if spec is None:
        raise MappingFailed("the mapping has no external_id", fields={"mapping.external_id": ["required"]})
    value = evaluate(payload, spec)
    if _empty(value):
        raise MappingFailed(f"the payload has no id at {spec!r}", fields={"external_id": [f"missing at {spec!r}"]})
    return str(value).strip()


def normalize(payload, mapping: dict) -> NormalizedDeal:
    """The normalized deal, or MappingFailed naming every field that is missing or wrong."""
    external_id = external_id_of(payload, mapping)
    errors: dict[str, list[str]] = {}
    for path, expected in (mapping.get("require") or {}).items():
        got = resolve(payload, path)
        allowed = expected if isinstance(expected, list) else [expected]
        if got is _MISSING or got not in allowed:
            shown = "missing" if got is _MISSING else repr(got)
            errors.setdefault(path, []).append(f"must be {' or '.join(repr(a) for a in allowed)}, is {shown}")

    customer = {}
    for name in CUSTOMER_FIELDS:
        spec = mapping.get(f"customer.{name}")
        if spec is not None:
            value = evaluate(payload, spec)
            if not _empty(value):
                customer[name] = str(value).strip()
    for name in ("external_id", "name"):
        if name not in customer:
            errors.setdefault(f"customer.{name}", []).append(
                f"missing at {mapping.get(f'customer.{name}')!r}" if f"customer.{name}" in mapping
                else "the mapping does not say where to find it")
    if "country" in customer:
        customer["country"] = customer["country"].upper()
    if "billing_email" in customer:
        customer["billing_email"] = customer["billing_email"].lower()

    top = {}
    for name in TOP_FIELDS[1:]:
        if name in mapping:
            value = evaluate(payload, mapping[name])
            if not _empty(value):
                top[name] = value

    contacts = []
    for item in _list_items(payload, mapping, "contacts", CONTACT_FIELDS, errors):
        email = "" if _empty(item.get("email", _MISSING)) else str(item["email"]).strip().lower()
        if not email:
            continue  # a contact without an email cannot be matched again: left out, not an error
        name = "" if _empty(item.get("name", _MISSING)) else str(item["name"]).strip()
        contacts.append(NormalizedContact(
            name=name or email, email=email,
            **{k: str(item[k]).strip() for k in ("title", "phone") if not _empty(item.get(k, _MISSING))}))

    lines = []
    raw_lines = _list_items(payload, mapping, "lines", LINE_FIELDS, errors)
    if not raw_lines:
        errors.setdefault("lines", []).append("the deal has no line items")
    for i, item in enumerate(raw_lines):
        sku = item.get("sku", _MISSING)
        if _empty(sku):
            errors.setdefault(f"lines[{i}].sku", []).append("missing")
        quantity = item.get("quantity", _MISSING)
        qty = None
        if _empty(quantity):
            errors.setdefault(f"lines[{i}].quantity", []).append("missing")
        else:
            qty = _decimal(quantity, f"lines[{i}].quantity", errors)
            if qty is not None and qty <= 0:
                errors.setdefault(f"lines[{i}].quantity", []).append("must be greater than 0")
        unit_price = item.get("unit_price", _MISSING)
        price = None if _empty(unit_price) else _decimal(unit_price, f"lines[{i}].unit_price", errors)
        if price is not None and price < 0:
            errors.setdefault(f"lines[{i}].unit_price", []).append("must not be negative")
        if not _empty(sku) and qty is not None:
            lines.append(NormalizedLine(sku=str(sku).strip(), quantity=qty, unit_price=price))

    term = 12
    if "term_months" in top:
        value = _decimal(top["term_months"], "term_months", errors)
        if value is not None and (value != value.to_integral_value() or value < 1):
            errors.setdefault("term_months", []).append("must be a whole number of months, at least 1")
        elif value is not None:
            term = int(value)
    frequency = str(top.get("billing_frequency", "month"))
    if frequency not in FREQUENCIES:
        errors.setdefault("billing_frequency", []).append(f"{frequency!r} is not month, quarter or year")
    start = top.get("start_date")
    if start is not None and not isinstance(start, date):
        errors.setdefault("start_date", []).append(f"{start!r} is not a date (add \"transform\": \"date\")")
        start = None
    if errors:
        first = next(iter(errors))
        raise MappingFailed(f"{first}: {errors[first][0]}", fields=errors)
    currency = str(top.get("currency") or customer.get("currency") or "").upper()
    if currency and "currency" not in customer:
        customer["currency"] = currency
    return NormalizedDeal(
        external_id=external_id, customer=customer, contacts=contacts, lines=lines, currency=currency,
        start_date=start, term_months=term, billing_frequency=frequency,
        owner_email=str(top.get("owner_email", "")).strip().lower(), buyer_name=str(top.get("buyer_name", "")).strip())
