#!/usr/bin/env python3
"""RabbitMQ tutorial 2 ("Work Queues"), the worker, with pika: our copy of worker.py.

Takes one task at a time (prefetch 1) from the durable queue, sleeps one second per '.' in it,
then acks it. Ctrl+C stops it; the broker then redelivers an unacked task to another worker.

    python3 worker.py

The broker is $AMQP_URL (default amqp://guest:guest@localhost:5672/%2f), the queue $TASK_QUEUE
(default task_queue), and $DOT_SECONDS (default 1) how long one '.' takes. The demo's interop
test (demo/tests/interop.rs) runs it against our new_task and next to our worker.
"""
import os
import signal
import sys
import time

import pika

url = os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/%2f"
queue = os.environ.get("TASK_QUEUE") or "task_queue"
dot_seconds = float(os.environ.get("DOT_SECONDS") or "1")


def main():
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True)

    def callback(ch, method, properties, body):
        print(
            f" [x] Received {body.decode()} (delivery_mode={properties.delivery_mode}, "
            f"redelivered={method.redelivered})",
            flush=True,
        )
        time.sleep(body.count(b".") * dot_seconds)
        print(" [x] Done", flush=True)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=queue, on_message_callback=callback)
    # Printed once basic.consume-ok is in (the tutorial prints it a little earlier), so that a
    # test reading this line knows the worker is registered.
    print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    # A process started in the background by a script inherits an ignored SIGINT: take it back,
    # so that Ctrl+C (or `kill -INT`) always stops the worker.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        sys.exit(0)
