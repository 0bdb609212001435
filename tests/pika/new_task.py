#!/usr/bin/env python3
"""RabbitMQ tutorial 2 ("Work Queues"), the publisher, with pika: our copy of new_task.py.

Sends the words of the command line (default "Hello World!") as one task to the durable queue,
as a persistent message (delivery_mode 2), and waits for the broker's publisher confirm.

    python3 new_task.py First message.

The broker is $AMQP_URL (default amqp://guest:guest@localhost:5672/%2f), the queue $TASK_QUEUE
(default task_queue). The demo's interop test (demo/tests/interop.rs) runs it against our worker.
"""
import os
import sys

import pika

url = os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/%2f"
queue = os.environ.get("TASK_QUEUE") or "task_queue"

connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue=queue, durable=True)
channel.confirm_delivery()

message = " ".join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange="",
    routing_key=queue,
    body=message,
    properties=pika.BasicProperties(delivery_mode=2),  # persistent
)
print(f" [x] Sent {message}", flush=True)
connection.close()
