# A transactional producer with confluent-kafka (librdkafka). Usage:
#   confluent_txn.py BOOTSTRAP TOPIC PARTITIONS TRANSACTIONAL_ID GROUP
# Commits one transaction (two records per partition, "commit-P-I", and
# offset 7 of TOPIC partition 0 for GROUP), then aborts another
# ("abort-P-I"). Prints "done" at the end.
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, topic, partitions, txid, group = sys.argv[1:6]
partitions = int(partitions)

producer = Producer({
    'bootstrap.servers': bootstrap,
    'transactional.id': txid,
    'transaction.timeout.ms': 60000,
    'compression.type': 'none',
})
producer.init_transactions(30)


def produce(prefix):
    for p in range(partitions):
        for i in range(2):
            producer.produce(topic, value='%s-%d-%d' % (prefix, p, i), partition=p)
    producer.flush(30)


producer.begin_transaction()
produce('commit')
consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group})
producer.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], consumer.consumer_group_metadata(), 30)
producer.commit_transaction(30)

producer.begin_transaction()
produce('abort')
producer.abort_transaction(30)
consumer.close()
print('done', flush=True)
