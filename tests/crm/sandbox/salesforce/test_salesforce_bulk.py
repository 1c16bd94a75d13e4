"""Bulk API 2.0 ingest: the job state machine, CSV results and their order, job failures."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from salesforce_helpers import API, TOKEN

from crm.sandbox import SandboxTransport, create
from crm.sandbox.core import SandboxOptions
from crm.sandbox.salesforce import SalesforceSandbox, bulk_jobs

JOBS = f"{API}/jobs/ingest"


def new_job(client: httpx.Client, operation: str = "insert", **extra: Any) -> dict[str, Any]:
    response = client.post(
        JOBS, json={"object": "Lead", "operation": operation, "contentType": "CSV", **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def upload_and_close(client: httpx.Client, job: dict[str, Any], data: str) -> None:
    put = client.put(f"/{job['contentUrl']}", content=data.encode(), headers={"Content-Type": "text/csv"})
    assert put.status_code == 201 and put.content == b""
    closed = client.patch(f"{JOBS}/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"


def poll_until_done(client: httpx.Client, job_id: str) -> list[tuple[str, int]]:
    seen = []
    for _ in range(50):
        info = client.get(f"{JOBS}/{job_id}").json()
        seen.append((info["state"], info["numberRecordsProcessed"]))
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return seen
    raise AssertionError(f"job never finished: {seen}")


def results(client: httpx.Client, job_id: str, kind: str) -> list[dict[str, str]]:
    response = client.get(f"{JOBS}/{job_id}/{kind}")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def rows(count: int, start: int = 0) -> str:
    body = "".join(f"Lead{i:03d},Acme,lead{i}@x.com\n" for i in range(start, start + count))
    return "LastName,Company,Email\n" + body


def test_job_states_progress_over_successive_polls(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_jobs, "CHUNK_SIZE", 3)
    job = new_job(client)
    assert job["state"] == "Open" and job["id"].startswith("750") and job["apiVersion"] == 68.0
    assert job["contentUrl"] == f"services/data/v68.0/jobs/ingest/{job['id']}/batches"
    upload_and_close(client, job, rows(7))
    assert poll_until_done(client, job["id"]) == [
        ("InProgress", 0), ("InProgress", 3), ("InProgress", 6), ("JobComplete", 7),
    ]  # fmt: skip
    final = client.get(f"{JOBS}/{job['id']}").json()
    assert (
        final["numberRecordsFailed"] == 0 and final["jobType"] == "V2Ingest" and "errorMessage" not in final
    )
    count = client.get(f"{API}/query", params={"q": "SELECT COUNT() FROM Lead"}).json()["totalSize"]
    assert count == 7


def test_results_are_complete_but_not_in_input_order(client: httpx.Client) -> None:
    job = new_job(client)
    data = rows(20) + ",NoName,nameless@x.com\n"
    upload_and_close(client, job, data)
    poll_until_done(client, job["id"])
    ok = results(client, job["id"], "successfulResults")
    assert [r["Email"] for r in ok] != [f"lead{i}@x.com" for i in range(20)]
    assert sorted(r["Email"] for r in ok) == sorted(f"lead{i}@x.com" for i in range(20))
    assert all(r["sf__Id"].startswith("00Q") and r["sf__Created"] == "true" for r in ok)
    assert results(client, job["id"], "successfulResults") == ok  # stable across reads
    header = client.get(f"{JOBS}/{job['id']}/successfulResults").text.splitlines()[0]
    assert header == '"sf__Id","sf__Created",LastName,Company,Email'
    (failed,) = results(client, job["id"], "failedResults")
    assert failed["sf__Id"] == "" and failed["Email"] == "nameless@x.com"
    assert failed["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    assert results(client, job["id"], "unprocessedrecords") == []


def test_result_order_repeats_with_a_seed() -> None:
    def emails(seed: int) -> list[str]:
        app = create("salesforce", SandboxOptions(seed=seed))
        with httpx.Client(
            transport=SandboxTransport(app),
            base_url=app.base_url,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            job = new_job(client)
            upload_and_close(client, job, rows(12))
            poll_until_done(client, job["id"])
            return [r["Email"] for r in results(client, job["id"], "successfulResults")]

    assert emails(3) == emails(3)


def test_unknown_column_fails_the_job_like_salesforce(client: httpx.Client) -> None:
    job = new_job(client)
    upload_and_close(client, job, "LastName,Company,Foo__c\nA,B,c\nD,E,f\n")
    assert poll_until_done(client, job["id"])[-1] == ("Failed", 0)
    info = client.get(f"{JOBS}/{job['id']}").json()
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Foo__c"
    unprocessed = results(client, job["id"], "unprocessedRecords")  # simple-salesforce's spelling
    assert [r["LastName"] for r in unprocessed] == ["A", "D"]


def test_line_ending_must_match_the_job(client: httpx.Client) -> None:
    job = new_job(client)
    upload_and_close(client, job, rows(2).replace("\n", "\r\n"))
    poll_until_done(client, job["id"])
    info = client.get(f"{JOBS}/{job['id']}").json()
    assert info["state"] == "Failed" and "LineEnding is invalid" in info["errorMessage"]
    crlf = new_job(client, lineEnding="CRLF", columnDelimiter="PIPE")
    upload_and_close(client, crlf, "LastName|Company\r\nPiped|Co\r\n")
    assert poll_until_done(client, crlf["id"])[-1] == ("JobComplete", 1)


def test_update_upsert_delete_and_null_marker(client: httpx.Client) -> None:
    insert = new_job(client)
    upload_and_close(
        client, insert, "LastName,Company,Title,Email\nKeep,Co,Boss,keep@x.com\nGone,Co,,gone@x.com\n"
    )
    poll_until_done(client, insert["id"])
    ids = {r["LastName"]: r["sf__Id"] for r in results(client, insert["id"], "successfulResults")}

    update = new_job(client, "update")
    upload_and_close(client, update, f"Id,Company,Title\n{ids['Keep']},,#N/A\n,Co,x\n")
    poll_until_done(client, update["id"])
    (kept,) = client.get(
        f"{API}/query", params={"q": "SELECT Company, Title FROM Lead WHERE LastName = 'Keep'"}
    ).json()["records"]
    assert kept["Company"] == "Co" and kept["Title"] is None  # empty cell: unchanged; #N/A: null
    (no_id,) = results(client, update["id"], "failedResults")
    assert no_id["sf__Error"] == "MISSING_ARGUMENT:Id not specified in an update call:--"

    upsert = new_job(client, "upsert", externalIdFieldName="Email")
    upload_and_close(client, upsert, "Email,LastName,Company\nKEEP@x.com,Keep,New Co\nnew@x.com,New,Co\n")
    poll_until_done(client, upsert["id"])
    created = {r["Email"]: r["sf__Created"] for r in results(client, upsert["id"], "successfulResults")}
    assert created == {"KEEP@x.com": "false", "new@x.com": "true"}

    delete = new_job(client, "delete")
    upload_and_close(client, delete, f"Id\n{ids['Gone']}\n{ids['Gone']}\n")
    poll_until_done(client, delete["id"])
    assert len(results(client, delete["id"], "successfulResults")) == 1
    (twice,) = results(client, delete["id"], "failedResults")
    assert twice["sf__Error"].startswith("ENTITY_IS_DELETED:entity is deleted:")


def test_abort_delete_list_and_refusals(client: httpx.Client, app: SalesforceSandbox) -> None:
    job = new_job(client)
    client.put(f"/{job['contentUrl']}", content=rows(3).encode(), headers={"Content-Type": "text/csv"})
    again = client.put(
        f"/{job['contentUrl']}", content=rows(3).encode(), headers={"Content-Type": "text/csv"}
    )
    assert again.status_code == 400 and "Found multiple contents for job" in again.json()[0]["message"]
    assert client.delete(f"{JOBS}/{job['id']}").status_code == 400  # still Open
    assert client.patch(f"{JOBS}/{job['id']}", json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert len(results(client, job["id"], "unprocessedrecords")) == 3
    assert app.store.count("Lead") == 0
    assert client.patch(f"{JOBS}/{job['id']}", json={"state": "UploadComplete"}).status_code == 400

    other = new_job(client)
    listed = client.get(JOBS).json()
    assert listed["done"] is True and [j["id"] for j in listed["records"]] == [job["id"], other["id"]]
    assert client.delete(f"{JOBS}/{job['id']}").status_code == 204
    assert client.get(f"{JOBS}/{job['id']}").status_code == 404

    for body in ({"object": "Leed", "operation": "insert"}, {"object": "Lead", "operation": "merge"},
                 {"object": "Lead", "operation": "upsert"}, {"object": "Lead", "operation": "upsert",
                                                             "externalIdFieldName": "Title"}):  # fmt: skip
        refused = client.post(JOBS, json=body)
        assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALIDJOB"
