"""The baseline for bench/ingest.py: the least a FastAPI endpoint can do with the same request.

Run: .venv/bin/uvicorn bench.trivial_app:app --host 127.0.0.1 --port 8001 --workers 1 \
         --log-level warning

`POST /echo` parses the urlencoded Mailgun form (python-multipart, as Sportello does) and answers
`{"ok": true}`: no signature check, no database. `GET /readyz` answers when the process is up.
"""

from fastapi import FastAPI, Request

app = FastAPI(title="trivial", openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/echo")
async def echo(request: Request) -> dict[str, bool]:
    """Parse the form, answer ok."""
    form = await request.form()
    await form.close()
    return {"ok": True}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ready"}
