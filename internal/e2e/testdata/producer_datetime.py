from datetime import datetime, timedelta

from kafka import KafkaProducer


def serialize(dt):
    return dt.strftime('%Y-%m-%dT%H:%M:%S.%fZ').encode('utf-8')


producer = KafkaProducer(bootstrap_servers='localhost:9092',
                         key_serializer=serialize,
                         value_serializer=serialize)
start = datetime(2024, 3, 1, 12, 30, 0, 250000)
for _ in range(5):
    key = start + timedelta(days=_)
    value = key + timedelta(seconds=1.5)
    future = producer.send('datetime-topic', key=key, value=value)
    record_metadata = future.get(timeout=10)
    print (record_metadata.topic)
    print (record_metadata.partition)
    print (record_metadata.offset)
