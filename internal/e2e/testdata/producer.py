from kafka import KafkaProducer
producer = KafkaProducer(bootstrap_servers='localhost:9092')
for _ in range(10):
    msg = b'message %d' % _
    future = producer.send('my-topic', msg)
    record_metadata = future.get(timeout=10)
    print (record_metadata.topic)
    print (record_metadata.partition)
    print (record_metadata.offset)
