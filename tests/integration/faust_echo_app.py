"""A minimal Faust app for the round-trip test: IN -> upper-case + "!" -> OUT (raw bytes).

Run by tests/integration/test_faust_roundtrip.py as
`python -m faust -A faust_echo_app worker --without-web -l warn` with its settings in env vars.
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ["ECHO_APP_ID"],
    broker=f"kafka://{os.environ['ECHO_BROKER']}",
    store="memory://",
    datadir=os.environ.get("ECHO_DATADIR", "faust-data"),
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    web_tables_enabled=False,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(os.environ["ECHO_IN"], key_type=bytes, value_type=bytes)
sink = app.topic(os.environ["ECHO_OUT"], key_type=bytes, value_type=bytes)


@app.agent(source)
async def echo(stream):  # type: ignore[no-untyped-def]
    async for key, value in stream.items():
        await sink.send(key=key, value=value.upper() + b"!")
