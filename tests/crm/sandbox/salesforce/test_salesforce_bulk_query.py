"""Bulk API 2.0 query jobs: progression, CSV pages with locators, queryAll, refusals."""

from __future__ import annotations

import csv
import io

import httpx
from salesforce_helpers import API, collection, lead

from crm.sandbox.salesforce import SalesforceSandbox

JOBS = f"{API}/jobs/query"


def seed(client: httpx.Client, count: int) -> list[str]:
    body = collection(
        [lead(LastName=f"Q{i:02d}", Email=f"q{i}@x.com", NumberOfEmployees=i) for i in range(count)]
    )
    return [r["id"] for r in client.post(f"{API}/composite/sobjects", json=body).json()]


def test_query_job_runs_over_polls_and_pages_with_locators(client: httpx.Client) -> None:
    ids = seed(client, 7)
    soql = "SELECT Id, Email, NumberOfEmployees, IsConverted, Title FROM Lead WHERE NumberOfEmployees >= 2"
    job = client.post(JOBS, json={"operation": "query", "query": soql}).json()
    assert job["state"] == "UploadComplete" and job["object"] == "Lead" and job["id"].startswith("750")
    not_ready = client.get(f"{JOBS}/{job['id']}/results")
    assert not_ready.status_code == 400
    states = [client.get(f"{JOBS}/{job['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    assert client.get(f"{JOBS}/{job['id']}").json()["numberRecordsProcessed"] == 5

    rows: list[dict[str, str]] = []
    locator = None
    pages = []
    while True:
        params = {"maxRecords": "2", **({"locator": locator} if locator else {})}
        page = client.get(f"{JOBS}/{job['id']}/results", params=params)
        pages.append(int(page.headers["Sforce-NumberOfRecords"]))
        rows += list(csv.DictReader(io.StringIO(page.text)))
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == [2, 2, 1]
    assert [r["Id"] for r in rows] == ids[2:]
    assert rows[0] == {
        "Id": ids[2],
        "Email": "q2@x.com",
        "NumberOfEmployees": "2",
        "IsConverted": "false",
        "Title": "",
    }
    first_line = client.get(f"{JOBS}/{job['id']}/results").text.splitlines()[0]
    assert first_line == '"Id","Email","NumberOfEmployees","IsConverted","Title"'


def test_query_all_jobs_include_deleted_records(client: httpx.Client, app: SalesforceSandbox) -> None:
    kept, gone = seed(client, 2)
    client.delete(f"{API}/sobjects/Lead/{gone}")
    for operation, expected in (("query", [kept]), ("queryAll", [kept, gone])):
        job = client.post(
            JOBS, json={"operation": operation, "query": "SELECT Id, IsDeleted FROM Lead"}
        ).json()
        client.get(f"{JOBS}/{job['id']}")
        client.get(f"{JOBS}/{job['id']}")
        text = client.get(f"{JOBS}/{job['id']}/results").text
        assert [r["Id"] for r in csv.DictReader(io.StringIO(text))] == expected
    assert [j["operation"] for j in client.get(JOBS).json()["records"]] == ["query", "queryAll"]


def test_bad_statements_are_refused_when_the_job_is_created(client: httpx.Client) -> None:
    bad = client.post(JOBS, json={"operation": "query", "query": "SELECT Nope FROM Lead"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    count = client.post(JOBS, json={"operation": "query", "query": "SELECT COUNT() FROM Lead"})
    assert count.status_code == 400 and count.json()[0]["errorCode"] == "INVALIDJOB"
    job = client.post(JOBS, json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()
    assert client.patch(f"{JOBS}/{job['id']}", json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert client.delete(f"{JOBS}/{job['id']}").status_code == 204
    assert client.get(f"{JOBS}/{job['id']}").status_code == 404
