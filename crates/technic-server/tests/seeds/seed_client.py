"""The seeds' Python client flow, as 000_008f001ca2ef9f8b.txt writes it (httpx for REST, websockets
for the stream), against a real technic server.

    python3 seed_client.py BASE_URL

Asserts what the seeds assert and prints, as its last line, a JSON object of what it saw, which
tests/seeds.rs holds against the server's own record of the same scans.
"""

import asyncio
import json
import sys

import httpx
import websockets

BASE = sys.argv[1].rstrip("/")
WS_BASE = BASE.replace("http://", "ws://", 1)


async def follow_results(scan_id):
    """The seeds' loop over /ws/results/{id}, unchanged but for the collected seqs."""
    results, seqs, progress = [], [], []
    async with websockets.connect(f"{WS_BASE}/ws/results/{scan_id}") as ws:
        while True:
            msg = await ws.recv()
            data = json.loads(msg)
            seqs.append(data["metadata"]["seq"])
            if data["type"] == "result":
                results.append(data["data"])
            elif data["type"] == "progress":
                progress.append(data["data"]["overall_progress"])
            elif data["type"] == "complete":
                return results, seqs, progress, data["data"]


async def follow_progress(scan_id):
    """The deployment guide's progress socket: `progress.overall_progress` read from the top level."""
    seen = []
    async with websockets.connect(f"{WS_BASE}/scan/ws/{scan_id}") as ws:
        while True:
            progress = json.loads(await ws.recv())
            if progress["type"] == "progress":
                seen.append(
                    {
                        "overall_progress": progress["overall_progress"],
                        "current_stage": progress["current_stage"],
                        "stages": sorted(progress["stages"]),
                    }
                )
            else:
                return seen, progress["type"]


async def prioritized_streaming_scan(client):
    # The integration test of the seeds' plan (Task 3.1), with the deployment guide's
    # `async_mode` and the unified endpoint's query parameter.
    response = await client.post(
        f"{BASE}/scan/start",
        params={"enable_prioritization": "true"},
        json={
            "max_symbols": 50,
            "enable_prioritization": True,
            "enable_streaming": True,
            "termination_criteria": {"max_signals": 5},
            "async_mode": True,
        },
    )
    assert response.status_code == 202, response.text
    started = response.json()
    scan_id = started["scan_id"]
    (results, seqs, progress, complete), (progress_ws, last_type) = await asyncio.gather(
        follow_results(scan_id), follow_progress(scan_id)
    )
    # The seeds' own assertions.
    assert results[0]["priority_tier"] == "high", results[0]
    assert len(results) > 0
    assert len(results) <= 50
    polled = (await client.get(f"{BASE}/scan/progress/{scan_id}")).json()
    return {
        "scan_id": scan_id,
        "features": started["features"],
        "symbols": [r["symbol"] for r in results],
        "seqs": seqs,
        "progress_results_ws": progress,
        "progress_ws": progress_ws,
        "progress_ws_last_type": last_type,
        "status": complete["status"],
        "polled_status": polled["status"],
        "polled_overall_progress": polled["overall_progress"],
    }


async def stopped_scan(client):
    """Start, follow, stop after the first result: the seeds' manual early termination."""
    response = await client.post(
        f"{BASE}/scan/start",
        params={"enable_prioritization": "false"},
        json={"async_mode": True},
    )
    assert response.status_code == 202, response.text
    started = response.json()
    scan_id = started["scan_id"]
    results, stop_status = [], None
    async with websockets.connect(f"{WS_BASE}/ws/results/{scan_id}") as ws:
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == "result":
                results.append(data["data"]["symbol"])
                if stop_status is None:
                    stop = await client.post(f"{BASE}/scan/stop/{scan_id}")
                    stop_status = stop.status_code
            elif data["type"] == "complete":
                final = data["data"]
                break
    return {
        "scan_id": scan_id,
        "features": started["features"],
        "symbols": results,
        "stop_status": stop_status,
        "status": final["status"],
    }


async def main():
    async with httpx.AsyncClient(timeout=30.0) as client:
        health = (await client.get(f"{BASE}/health")).json()
        assert health["status"] == "ok", health
        first = await prioritized_streaming_scan(client)
        second = await stopped_scan(client)
    print(json.dumps({"prioritized": first, "stopped": second}))


asyncio.run(main())
