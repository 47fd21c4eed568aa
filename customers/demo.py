"""Demo customers for `manage.py seed_demo`: companies across industries, sizes, regions, channels and
currencies, each with 1–3 contacts, all created through customers.services (so every one records its
outbox events and audit entries like a real one).

Reads ctx.shared["reps"] (revops/kernel/demo.py). Leaves in ctx.shared:
- "customers": [Customer] in creation order (ids ascend with the acquisition date);
- "customer_since": {customer id: date} when each became a customer, between ctx.start and ctx.today;
  about a quarter were already customers when the history begins (ctx.start);
- "portal_customer_id", "portal_contact_id": the customer whose billing contact has the portal login.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import timedelta

from revops.kernel.demo import DEMO_PASSWORD

from .models import Contact, Customer
from .services import contact_create, customer_create, portal_access_grant

PORTAL_EMAIL = "customer@example.com"

# (username, password, role, what to look at first): read by `manage.py demo_logins`.
LOGINS = [
    (PORTAL_EMAIL, DEMO_PASSWORD, "portal (customer)",
     "The customer portal: only this customer's own records"),
]

INDUSTRIES = {  # industry: (weight, name endings)
    "software": (25, ["Software", "Labs", "Systems", "Cloud", "Data"]),
    "fintech": (15, ["Pay", "Capital", "Ledger", "Finance", "Payments"]),
    "healthcare": (12, ["Health", "Care", "Medical", "Clinics", "Diagnostics"]),
    "retail": (12, ["Goods", "Outfitters", "Market", "Stores", "Supply Co."]),
    "manufacturing": (10, ["Industries", "Manufacturing", "Works", "Fabrication", "Components"]),
    "media": (9, ["Media", "Studios", "Publishing", "Broadcasting", "Pictures"]),
    "education": (8, ["Learning", "Academy", "Education", "Schools", "Institute"]),
    "logistics": (9, ["Logistics", "Freight", "Shipping", "Transport", "Couriers"]),
}
NAME_STARTS = [
    "Northwind", "Bluepeak", "Ironwood", "Silverline", "Redwood", "Brightwater", "Cedar", "Harbor", "Summit",
    "Evergreen", "Granite", "Lumen", "Nimbus", "Orchid", "Pioneer", "Quartz", "Riverbend", "Sterling", "Tidal",
    "Vertex", "Willow", "Zephyr", "Aurora", "Beacon", "Cobalt", "Ember", "Falcon", "Glacier", "Horizon",
    "Juniper", "Keystone", "Lakeshore", "Maple", "Meridian", "Oakridge", "Pinnacle", "Prairie", "Sapphire",
    "Sequoia", "Solstice", "Stonebridge", "Sunrise", "Trident", "Vanguard", "Westbrook", "Atlas", "Copper",
    "Crescent", "Driftwood", "Fjord", "Halcyon", "Kestrel", "Larkspur", "Mosaic", "Nova", "Onyx", "Paragon",
    "Radiant", "Saffron", "Tamarack", "Upland", "Verdant", "Wildflower", "Alder", "Basalt", "Clearwater",
]
REGIONS = {  # region: (weight, [(country, weight, currency, legal form, cities)])
    Customer.Region.NA: (55, [
        ("US", 85, "USD", ["Inc.", "LLC", "Corp."], ["Austin", "Chicago", "Denver", "Boston", "Seattle", "Atlanta"]),
        ("CA", 15, "USD", ["Inc.", "Ltd."], ["Toronto", "Vancouver", "Montreal"]),
    ]),
    Customer.Region.EMEA: (28, [
        ("GB", 30, "GBP", ["Ltd"], ["London", "Manchester", "Edinburgh", "Bristol"]),
        ("DE", 25, "EUR", ["GmbH", "AG"], ["Berlin", "Munich", "Hamburg", "Cologne"]),
        ("FR", 15, "EUR", ["SAS", "SA"], ["Paris", "Lyon", "Toulouse"]),
        ("NL", 10, "EUR", ["B.V."], ["Amsterdam", "Rotterdam", "Utrecht"]),
        ("SE", 10, "EUR", ["AB"], ["Stockholm", "Gothenburg"]),
        ("IE", 5, "EUR", ["Ltd"], ["Dublin", "Cork"]),
        ("ES", 5, "EUR", ["S.L."], ["Madrid", "Barcelona"]),
    ]),
    Customer.Region.APAC: (11, [
        ("JP", 40, "JPY", ["K.K."], ["Tokyo", "Osaka", "Fukuoka"]),
        ("AU", 25, "USD", ["Pty Ltd"], ["Sydney", "Melbourne", "Brisbane"]),
        ("SG", 20, "USD", ["Pte. Ltd."], ["Singapore"]),
        ("IN", 15, "USD", ["Pvt. Ltd."], ["Bengaluru", "Pune", "Hyderabad"]),
    ]),
    Customer.Region.LATAM: (6, [
        ("BR", 40, "USD", ["Ltda."], ["São Paulo", "Rio de Janeiro", "Curitiba"]),
        ("MX", 35, "USD", ["S.A. de C.V."], ["Mexico City", "Monterrey", "Guadalajara"]),
        ("CL", 15, "USD", ["SpA"], ["Santiago"]),
        ("AR", 10, "USD", ["S.A."], ["Buenos Aires", "Córdoba"]),
    ]),
}
VAT_COUNTRIES = {"GB", "DE", "FR", "NL", "SE", "IE", "ES"}
STREETS = ["Market Street", "Harbour Road", "King Street", "Station Road", "Park Avenue", "Mill Lane",
           "Bridge Street", "High Street", "Lake Drive", "Commerce Way"]
SIZES = {  # size: (weight, (min contacts, max contacts), channel weights)
    Customer.Size.SMB: (55, (1, 2), {"self_serve": 30, "inbound": 25, "paid_search": 20, "referral": 10,
                                     "partner": 10, "outbound": 3, "events": 2}),
    Customer.Size.MID_MARKET: (30, (2, 3), {"inbound": 25, "outbound": 25, "partner": 15, "events": 15,
                                            "referral": 10, "paid_search": 10}),
    Customer.Size.ENTERPRISE: (15, (3, 3), {"outbound": 45, "events": 20, "partner": 20, "referral": 10,
                                            "inbound": 5}),
}
FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Ethan", "Amara", "Kenji",
    "Priya", "Arjun", "Chloe", "Hugo", "Ingrid", "Lars", "Aisha", "Omar", "Yuki", "Hana", "Diego", "Lucia",
    "Felix", "Clara", "Jonas", "Elena", "Tomás", "Nora", "Ravi", "Mei", "Daniel", "Grace", "Samuel", "Zoe",
]
LAST_NAMES = [
    "Smith", "Johnson", "Garcia", "Müller", "Schmidt", "Dubois", "Martin", "Rossi", "Tanaka", "Suzuki",
    "Patel", "Sharma", "Kim", "Nguyen", "Silva", "Santos", "Andersson", "Nilsson", "O'Brien", "Murphy",
    "Kowalski", "Novak", "Jansen", "de Vries", "Fernández", "López", "Cohen", "Okafor", "Mensah", "Chen",
    "Wang", "Brown", "Taylor", "Wilson", "Clarke", "Evans",
]
TITLES = {
    Contact.Role.BILLING: ["Accounts Payable Manager", "Controller", "Finance Manager", "Billing Specialist"],
    Contact.Role.DECISION_MAKER: ["CTO", "VP Engineering", "COO", "Head of Operations", "CFO"],
    Contact.Role.TECHNICAL: ["Platform Engineer", "IT Director", "Solutions Architect", "DevOps Lead"],
    Contact.Role.CHAMPION: ["Product Manager", "Operations Lead", "Revenue Operations Manager"],
}
LATER_ROLES = [Contact.Role.DECISION_MAKER, Contact.Role.TECHNICAL, Contact.Role.CHAMPION]


def _weighted(rng, options: dict):
    keys = list(options)
    return rng.choices(keys, weights=[options[k] if isinstance(options[k], int) else options[k][0]
                                      for k in keys])[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _email_local(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", ".", plain).strip(".")


def _company_name(rng, industry: str, used: set[str]) -> str:
    endings = INDUSTRIES[industry][1]
    for _ in range(40):
        name = f"{rng.choice(NAME_STARTS)} {rng.choice(endings)}"
        if name not in used:
            break
    else:  # the word lists are exhausted for this industry: make it unique with a second word
        name = f"{rng.choice(NAME_STARTS)} {rng.choice(NAME_STARTS)} {rng.choice(endings)}"
        while name in used:
            name = f"{name} {len(used)}"
    used.add(name)
    return name


def _profile(rng, used_names: set[str], *, showcase: bool = False) -> dict:
    """Everything about one customer, drawn from the seeded Random (no database access)."""
    if showcase:  # the portal customer: a plain US mid-market software company, easy to follow
        region, industry, size = Customer.Region.NA, "software", Customer.Size.MID_MARKET
        country, _weight, currency, forms, cities = REGIONS[region][1][0]  # US
        channel = Customer.Channel.INBOUND
    else:
        region = _weighted(rng, REGIONS)
        industry = _weighted(rng, INDUSTRIES)
        size = _weighted(rng, SIZES)
        countries = REGIONS[region][1]
        country, _weight, currency, forms, cities = rng.choices(countries, weights=[c[1] for c in countries])[0]
        channel = _weighted(rng, SIZES[size][2])
    base = _company_name(rng, industry, used_names)
    domain = f"{_slug(base)}.example"
    return {
        "name": f"{base} {rng.choice(forms)}",
        "domain": domain,
        "currency": currency,
        "country": country,
        "region": region,
        "industry": industry,
        "size": size,
        "acquisition_channel": channel,
        "billing_email": f"billing@{domain}",
        "address": f"{rng.randint(1, 999)} {rng.choice(STREETS)}, {rng.choice(cities)}",
        "tax_id": f"{country}{rng.randint(100_000_000, 999_999_999)}" if country in VAT_COUNTRIES else "",
        "tax_exempt": industry == "education" and rng.random() < 0.4,
        "contacts": rng.randint(*SIZES[size][1]),
    }


def _since(rng, ctx) -> object:
    """Acquisition date: a quarter were customers before the history starts; the rest arrive at a
    growing rate (density rising linearly), as a growing business's customers do."""
    span = (ctx.today - ctx.start).days
    if rng.random() < 0.25:
        return ctx.start
    return ctx.start + timedelta(days=int(span * rng.random() ** 0.5))


def seed(ctx) -> None:
    rng = ctx.rng
    reps = ctx.shared.get("reps") or [None]
    used_names: set[str] = set()
    profiles = []
    for index in range(ctx.customers):
        showcase = index == 0
        profile = _profile(rng, used_names, showcase=showcase)
        profile["since"] = ctx.start if showcase else _since(rng, ctx)
        profile["owner"] = reps[0] if showcase else rng.choice(reps)
        profiles.append(profile)
    profiles.sort(key=lambda p: p["since"])  # stable: the showcase customer stays first

    customers, since, contacts = [], {}, 0
    portal_contact = None
    for number, p in enumerate(profiles, start=1):
        customer = customer_create(
            name=p["name"], external_id=f"CRM-{number:05d}", currency=p["currency"],
            billing_email=p["billing_email"], country=p["country"], tax_exempt=p["tax_exempt"],
            tax_id=p["tax_id"], industry=p["industry"], size=p["size"], region=p["region"],
            acquisition_channel=p["acquisition_channel"], address=p["address"], owner=p["owner"],
        )
        customers.append(customer)
        since[customer.pk] = p["since"]
        emails: set[str] = set()
        for i in range(p["contacts"]):
            role = Contact.Role.BILLING if i == 0 else LATER_ROLES[(i - 1) % len(LATER_ROLES)]
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            email = f"{_email_local(name)}@{p['domain']}"
            if number == 1 and role == Contact.Role.BILLING:
                email = PORTAL_EMAIL
            while email in emails:
                email = email.replace("@", f"{len(emails)}@", 1)
            emails.add(email)
            contact = contact_create(customer=customer, name=name, email=email, role=role,
                                     title=rng.choice(TITLES[role]))
            contacts += 1
            if email == PORTAL_EMAIL:
                portal_contact = contact

    portal_access_grant(contact=portal_contact, password=DEMO_PASSWORD)
    ctx.shared.update(
        customers=customers, customer_since=since,
        portal_customer_id=portal_contact.customer_id, portal_contact_id=portal_contact.pk,
    )
    ctx.log(f"  customers: {len(customers)} with {contacts} contacts; portal login {PORTAL_EMAIL} "
            f"for {portal_contact.customer.name}")
