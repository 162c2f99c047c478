# A group member with confluent-kafka (librdkafka). Usage:
#   confluent_group.py BOOTSTRAP TOPIC GROUP CLIENT_ID
# Prints "assigned P P ..." on each assignment and "record P OFFSET VALUE"
# for each record, after committing it synchronously. Stops on SIGTERM,
# leaving the group.
import signal
import sys

from confluent_kafka import Consumer, KafkaException

bootstrap, topic, group, client_id = sys.argv[1:5]
running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)


def on_assign(consumer, partitions):
    print('assigned ' + ' '.join(str(p.partition) for p in partitions), flush=True)


consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': group,
    'client.id': client_id,
    'auto.offset.reset': 'earliest',
    'enable.auto.commit': False,
    'session.timeout.ms': 6000,
    'heartbeat.interval.ms': 500,
})
consumer.subscribe([topic], on_assign=on_assign)
while running:
    msg = consumer.poll(0.2)
    if msg is None:
        continue
    if msg.error():
        raise KafkaException(msg.error())
    consumer.commit(message=msg, asynchronous=False)
    print('record %d %d %s' % (msg.partition(), msg.offset(), msg.value().decode('utf-8')), flush=True)
consumer.close()
