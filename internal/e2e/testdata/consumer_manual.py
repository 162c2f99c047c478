# The article's second consumer: reads from the earliest offset, commits by
# hand after each poll with a metadata string, and, when asked, rereads the
# topic with seek_to_beginning(). Usage:
#   consumer_manual.py GROUP [--from-beginning]
# It stops after three seconds without new records and prints each record as
# the first example does.
import sys

from kafka import KafkaConsumer, OffsetAndMetadata

group = sys.argv[1]
from_beginning = '--from-beginning' in sys.argv[2:]

consumer = KafkaConsumer(
    'my-topic',
    group_id=group,
    bootstrap_servers=['localhost:9092'],
    auto_offset_reset='earliest',
    enable_auto_commit=False,
)

if from_beginning:
    # Partitions are assigned on the first polls; then start over.
    while not consumer.assignment():
        consumer.poll(timeout_ms=1000)
    consumer.seek_to_beginning()

idle = 0
while idle < 3:
    batches = consumer.poll(timeout_ms=1000)
    if not batches:
        idle += 1
        continue
    idle = 0
    for tp, records in batches.items():
        for message in records:
            print("%s:%d:%d: key=%s value=%s" % (message.topic, message.partition,
                                                 message.offset, message.key,
                                                 message.value))
        last = records[-1].offset
        consumer.commit({tp: OffsetAndMetadata(last + 1, 'read by %s' % group)})
    sys.stdout.flush()

consumer.close()
