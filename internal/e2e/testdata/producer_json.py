import json

from kafka import KafkaProducer


def serialize(obj):
    return json.dumps(obj).encode('utf-8')


producer = KafkaProducer(bootstrap_servers='localhost:9092',
                         key_serializer=serialize,
                         value_serializer=serialize)
for _ in range(5):
    key = {'user': _}
    value = {'user': _, 'message': 'hello %d' % _, 'tags': ['a', 'b']}
    future = producer.send('json-topic', key=key, value=value)
    record_metadata = future.get(timeout=10)
    print (record_metadata.topic)
    print (record_metadata.partition)
    print (record_metadata.offset)
