"""Realistic campaign leads, generated deterministically (same seed, same leads, same emails).

Names, companies, titles, places and industries are drawn from fixed lists with one seeded RNG. Emails are
``first.last@company-domain.com``-style, unique case-insensitively, ASCII only, and about 30 characters
long, like B2B exports; that length matters because Salesforce lookups chunk ``IN`` lists by characters.
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm.mapping import FieldMapping
from crm.model import LeadRecord

FIRST_NAMES = (
    "Emily", "José", "Zoë", "Chloé", "Liam", "Olivia", "Noah", "Ava", "Mateo", "Sofia", "Lukas", "Mia",
    "Jonas", "Lea", "Ahmed", "Fatima", "Wei", "Mei", "Hiroshi", "Yuki", "Arjun", "Priya", "Kwame", "Amara",
    "Sean", "Aoife", "Pierre", "Camille", "Giulia", "Marco", "Ingrid", "Erik", "Nadia", "Omar", "Elena",
    "Dmitri", "Sara", "David", "Laura", "Michael", "Jessica", "Daniel", "Hannah", "James", "Grace",
    "Benjamin", "Isabella", "Samuel", "Charlotte", "Ethan", "Amelia", "Lucas", "Harper", "Henry", "Ella",
    "Jack", "Lily", "Owen", "Nora", "Ryan", "Zara", "Felix", "Clara", "Max", "Emma", "Leon", "Anna",
    "Tobias", "Marie", "Jan", "Katarzyna", "Piotr", "Björn", "Søren", "Åsa", "Rafael", "Lucía", "Diego",
    "Valentina", "Tomás", "Inês", "Chen", "Jia", "Ravi", "Ananya", "Kofi", "Ngozi", "Oliver", "Ruby",
)  # fmt: skip
LAST_NAMES = (
    "Carter", "García", "Thompson", "Tremblay", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller",
    "Davis", "Martínez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Pérez", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Roberts", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
    "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Dubois",
    "Lefèvre", "Moreau", "Laurent", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Kowalski",
    "Nowak", "Wiśniewski", "Johansson", "Andersson", "Nielsen", "Hansen", "O'Brien", "Murphy", "Kelly",
    "Byrne", "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Choi", "Wang", "Li", "Zhang", "Liu", "Patel",
    "Sharma", "Singh", "Gupta", "Okafor", "Mensah", "Silva", "Santos", "Costa", "Oliveira", "Haddad",
    "Khan", "Ali", "Cohen", "Levi", "Novak", "Horvat", "Popescu", "Ivanova", "Petrov", "Fernández",
)  # fmt: skip
COMPANY_WORDS = (
    "Bluefin", "Cedar", "Harbor", "Summit", "Northwind", "Granite", "Silver", "Maple", "Iron", "Pioneer",
    "Atlas", "Beacon", "Crescent", "Evergreen", "Falcon", "Horizon", "Juniper", "Keystone", "Lakeside",
    "Meridian", "Nimbus", "Orchid", "Pinnacle", "Quantum", "Redwood", "Sterling", "Tidal", "Union",
    "Vertex", "Willow", "Apex", "Bright", "Copper", "Delta", "Ember", "Frontier", "Golden", "Hudson",
)  # fmt: skip
COMPANY_KINDS = (
    "Logistics", "Health", "Financial", "Outdoor", "Software", "Analytics", "Manufacturing", "Energy",
    "Retail", "Foods", "Robotics", "Systems", "Labs", "Partners", "Media", "Insurance", "Capital",
    "Networks", "Motors", "Bio",
)  # fmt: skip
SUFFIXES = ("", "", "", " Inc.", " LLC", " GmbH", " Ltd", " AG", " Group", " Co.")
TLDS = ("com", "com", "com", "io", "co", "de", "net", "co.uk")
TITLES = (
    "CTO", "CEO", "CFO", "VP of Sales", "VP Marketing", "Head of Marketing Operations",
    "Head of Data & Analytics", "Senior Manager, Sales Operations", "Director of Engineering",
    "IT Manager", "Procurement Lead", "Operations Manager", "Product Manager", "Software Engineer",
    "Data Scientist", "Account Executive", "Marketing Manager", "Head of Growth", "COO",
    "Revenue Operations Manager", "Business Development Representative", "Chief Digital Officer",
)  # fmt: skip
PLACES = (
    ("San Francisco", "CA", "United States", "+1 (415) 555-"),
    ("Atlanta", "GA", "United States", "+1 (404) 555-"),
    ("Portland", "OR", "United States", "+1 (503) 555-"),
    ("Austin", "TX", "United States", "+1 (512) 555-"),
    ("New York", "NY", "United States", "+1 (212) 555-"),
    ("Chicago", "IL", "United States", "+1 (312) 555-"),
    ("Boston", "MA", "United States", "+1 (617) 555-"),
    ("Seattle", "WA", "United States", "+1 (206) 555-"),
    ("Toronto", "ON", "Canada", "+1 (416) 555-"),
    ("Montréal", "QC", "Canada", "+1 (514) 555-"),
    ("München", "Bayern", "Germany", "+49 89 5550"),
    ("Berlin", "Berlin", "Germany", "+49 30 5550"),
    ("Zürich", "ZH", "Switzerland", "+41 44 555 "),
    ("Wien", "Wien", "Austria", "+43 1 5550"),
    ("London", "England", "United Kingdom", "+44 20 7946 "),
    ("Dublin", "Leinster", "Ireland", "+353 1 555 "),
)
# Salesforce's Lead.Industry picklist values (recorded describe), so the same leads fit both CRMs.
INDUSTRIES = (
    "Banking", "Biotechnology", "Communications", "Consulting", "Education", "Electronics", "Energy",
    "Engineering", "Finance", "Food & Beverage", "Healthcare", "Insurance", "Manufacturing", "Media",
    "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
)  # fmt: skip

# Header row of the CSV written for the import benchmark: spelled like the demo exports.
CSV_HEADERS = {
    "first_name": "First Name", "last_name": "Last Name", "email": "Email", "company": "Company Name",
    "title": "Job Title", "phone": "Phone Number", "website": "Website URL", "city": "City",
    "state": "State/Region", "country": "Country/Region", "industry": "Industry", "score": "Lead Score",
    "tier": "Lead Tier",
}  # fmt: skip


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalnum())


def _companies(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(company name, domain) pairs, each domain distinct."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < count:
        word, kind = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_KINDS)
        domain = f"{_ascii(word)}{_ascii(kind)}.{rng.choice(TLDS)}"
        if domain in seen:
            domain = f"{_ascii(word)}-{_ascii(kind)}{len(out) % 97}.{rng.choice(TLDS)}"
            if domain in seen:
                continue
        seen.add(domain)
        out.append((f"{word} {kind}{rng.choice(SUFFIXES)}", domain))
    return out


def generate_leads(n: int, seed: int = 2024) -> list[dict[str, Any]]:
    """``n`` lead dicts with every lead field (``crm.mapping.LEAD_FIELDS``); emails unique."""
    rng = random.Random(seed)
    companies = _companies(rng, max(50, n // 20))  # about 20 people per company
    seen: set[str] = set()
    leads: list[dict[str, Any]] = []
    for i in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain = companies[rng.randrange(len(companies))]
        f, la = _ascii(first), _ascii(last)
        local = rng.choice((f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la}", f"{f}{la[0]}", f"{f}.{la}"))
        email, k = f"{local}@{domain}", 1
        while email in seen:
            k += 1
            email = f"{local}{k}@{domain}"
        seen.add(email)
        city, state, country, phone_prefix = rng.choice(PLACES)
        score = rng.randint(0, 100)
        leads.append(
            {
                "email": email,
                "first_name": first,
                "last_name": last,
                "company": company,
                "title": rng.choice(TITLES),
                "phone": f"{phone_prefix}{i % 10_000:04d}",
                "website": f"https://www.{domain}",
                "city": city,
                "state": state,
                "country": country,
                "industry": rng.choice(INDUSTRIES),
                "score": score,
                "tier": "HOT" if score >= 70 else "WARM" if score >= 40 else "COOL",
            }
        )
    return leads


def lead_records(leads: Sequence[Mapping[str, Any]], mapping: FieldMapping) -> list[LeadRecord]:
    """The engine's rows: key = position, properties = the mapping applied (as the service does)."""
    return [LeadRecord(str(i), str(lead["email"]), mapping.apply(lead)) for i, lead in enumerate(leads, 1)]


def to_csv(leads: Iterable[Mapping[str, Any]]) -> bytes:
    """The leads as a CSV export (UTF-8, header row spelled like the demo files)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADERS.values())
    for lead in leads:
        writer.writerow([lead[name] for name in CSV_HEADERS])
    return buf.getvalue().encode("utf-8")


def mean_email_length(leads: Sequence[Mapping[str, Any]]) -> float:
    return sum(len(str(lead["email"])) for lead in leads) / max(len(leads), 1)
