#!/usr/bin/python3
"""Synchronous produce latency with kafka-python: send one record, wait for
its ack (send().get()), then the next, as the kafka-python examples do.

    python3 bench/sync_produce.py --brokers 127.0.0.1:9092 --records 2000

Prints the latency percentiles of send().get() in milliseconds. The first
records (--warmup) are left out: they measure the client's metadata and
connection set-up.
"""

import argparse
import time

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="strata-bench-sync-py")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--acks", default="all")
    args = ap.parse_args()

    admin = KafkaAdminClient(bootstrap_servers=args.brokers)
    try:
        admin.create_topics([NewTopic(args.topic, 1, 1)])
    except TopicAlreadyExistsError:
        pass
    admin.close()

    acks = args.acks if args.acks == "all" else int(args.acks)
    producer = KafkaProducer(bootstrap_servers=args.brokers, acks=acks)
    value = (b'{"event":"sync"}' + b" " * args.record_size)[: args.record_size]
    lat = []
    for n in range(args.warmup + args.records):
        t0 = time.perf_counter()
        producer.send(args.topic, value).get(timeout=30)
        if n >= args.warmup:
            lat.append(time.perf_counter() - t0)
    producer.close()

    lat.sort()

    def q(p):
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))]

    print(
        "kafka-python send().get(): %d records, %.1f s, p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms"
        % (len(lat), sum(lat), q(0.5), q(0.9), q(0.99), q(0.999), 1000 * lat[-1])
    )


if __name__ == "__main__":
    main()
