#!/usr/bin/env python3
"""Publishes N persistent messages of SIZE bytes to a RabbitMQ quorum queue with
publisher confirms, at most IN_FLIGHT unconfirmed, while a consumer on a second
connection takes them with manual acks. Prints the confirmed-publish rate and the
end-to-end rate (first publish -> last message consumed and acked).

Usage: rabbitmq_publish.py N SIZE IN_FLIGHT [amqp-url]
"""
import sys
import threading
import time

import pika


def main():
    n, size, in_flight = (int(a) for a in sys.argv[1:4])
    url = sys.argv[4] if len(sys.argv) > 4 else "amqp://guest:guest@127.0.0.1:5672/%2F"
    queue = "liaison-compare"
    params = pika.URLParameters(url)

    setup = pika.BlockingConnection(params)
    channel = setup.channel()
    channel.queue_delete(queue=queue)
    channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
    setup.close()

    consumed = threading.Event()
    times = {}

    def consume():
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=in_flight)
        count = [0]

        def on_message(ch, method, _props, _body):
            count[0] += 1
            ch.basic_ack(method.delivery_tag)
            if count[0] == n:
                times["consumed"] = time.monotonic()
                ch.stop_consuming()

        ch.basic_consume(queue, on_message)
        ch.start_consuming()
        conn.close()
        consumed.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()

    body = b"x" * size
    props = pika.BasicProperties(delivery_mode=2)
    state = {"sent": 0, "confirmed": 0, "outstanding": 0}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        state["ch"] = ch
        ch.confirm_delivery(on_confirm)
        times["start"] = time.monotonic()
        publish_more()

    def publish_more():
        ch = state["ch"]
        while state["sent"] < n and state["outstanding"] < in_flight:
            ch.basic_publish("", queue, body, props)
            state["sent"] += 1
            state["outstanding"] += 1

    def on_confirm(frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            raise SystemExit("broker refused a message")
        tag = method.delivery_tag
        done = tag - state["confirmed"] if method.multiple else 1
        state["confirmed"] += done
        state["outstanding"] -= done
        if state["confirmed"] >= n:
            times["confirmed"] = time.monotonic()
            connection.close()
        else:
            publish_more()

    connection = pika.SelectConnection(
        params,
        on_open_callback=on_open,
        on_close_callback=lambda conn, _reason: conn.ioloop.stop(),
    )
    connection.ioloop.start()
    consumed.wait(timeout=600)
    start = times["start"]
    confirmed = n / (times["confirmed"] - start)
    end_to_end = n / (times["consumed"] - start) if "consumed" in times else 0.0
    print(f"rabbitmq quorum queue: {n} x {size} B, {in_flight} in flight: "
          f"{confirmed:.0f} msg/s confirmed, {end_to_end:.0f} msg/s published and consumed")


if __name__ == "__main__":
    main()
