#!/usr/bin/env python3
"""Decimal message headers with pika, for tests/tests/interop_pika.rs.

    python3 decimal_headers.py publish QUEUE
        Publishes one message (body "decimals") to QUEUE through the default exchange, with
        decimal.Decimal headers: negative, positive, in a nested table and in an array. The
        queue must exist; the publish is confirmed and mandatory, so an unroutable one fails.
        Prints " [x] Sent".

    python3 decimal_headers.py get QUEUE
        Takes one message from QUEUE (basic.get, auto-ack) and prints its headers, one
        `name=repr(value)` line each, sorted by name. Exits 1 if the queue is empty.

The broker is $AMQP_URL (default amqp://guest:guest@localhost:5672/%2f).
"""
import os
import sys
from decimal import Decimal

import pika

url = os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/%2f"

# What `publish` sends. pika encodes a Decimal as scale = digits after the point, value = the
# signed 32-bit unscaled integer: Decimal("-1.5") is scale 1, value -15.
HEADERS = {
    "neg": Decimal("-1.5"),
    "pos": Decimal("12.34"),
    "neg_int": Decimal("-100"),
    "nested": {"neg": Decimal("-0.001")},
    "list": [Decimal("-2.5"), Decimal("7")],
}


def publish(channel, queue):
    channel.confirm_delivery()
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=b"decimals",
        properties=pika.BasicProperties(headers=HEADERS),
        mandatory=True,
    )
    print(" [x] Sent", flush=True)


def get(channel, queue):
    method, properties, _body = channel.basic_get(queue=queue, auto_ack=True)
    if method is None:
        print(f"queue {queue!r} is empty", file=sys.stderr)
        sys.exit(1)
    for name, value in sorted((properties.headers or {}).items()):
        print(f"{name}={value!r}", flush=True)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("publish", "get"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    action, queue = sys.argv[1], sys.argv[2]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        if action == "publish":
            publish(channel, queue)
        else:
            get(channel, queue)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
