# Reads a topic back without a consumer group: assign, then the offset
# reset policy, seek_to_beginning and seek. Usage:
#   consume_assign.py BOOTSTRAP TOPIC PARTITIONS SEEK_OFFSET
# Prints "end PARTITION OFFSET" for each partition's end offset, then one
# "PHASE PARTITION OFFSET KEY VALUE" line per record read in each phase.
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
partitions, seek_offset = int(sys.argv[3]), int(sys.argv[4])

consumer = KafkaConsumer(bootstrap_servers=bootstrap,
                         auto_offset_reset='earliest',
                         enable_auto_commit=False,
                         consumer_timeout_ms=10000)
tps = [TopicPartition(topic, p) for p in range(partitions)]
consumer.assign(tps)
ends = consumer.end_offsets(tps)
for tp in tps:
    print('end %d %d' % (tp.partition, ends[tp]))


def drain(phase, want):
    got = 0
    deadline = time.time() + 30
    while got < want and time.time() < deadline:
        batches = consumer.poll(timeout_ms=1000)
        for tp in sorted(batches):
            for r in batches[tp]:
                print('%s %d %d %s %s' % (phase, r.partition, r.offset,
                                          r.key.decode('utf-8'),
                                          r.value.decode('utf-8')))
                got += 1
    if got < want:
        sys.exit('%s: read %d records, want %d' % (phase, got, want))


total = sum(ends.values())
# No position yet and no group: auto_offset_reset='earliest' applies.
drain('reset', total)
consumer.seek_to_beginning()
drain('begin', total)
for tp in tps:
    consumer.seek(tp, seek_offset)
drain('seek', sum(max(0, ends[tp] - seek_offset) for tp in tps))
consumer.close()
