# Produces three records to a topic and reads them back, over TLS and/or
# SASL, with kafka-python or confluent-kafka. Usage:
#   secure_client.py kafka-python|confluent BOOTSTRAP TOPIC
# The security settings come from the environment: SECURITY_PROTOCOL
# (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), CA_FILE, CERT_FILE and
# KEY_FILE (a client certificate), SASL_MECHANISM, SASL_USER and
# SASL_PASSWORD (confluent-kafka only: OAUTHBEARER with the token of
# OAUTH_TOKEN, or else librdkafka's unsecured token for SASL_USER). Prints "produced 3" and "consumed 3"; on failure prints
# "error: ..." to stderr and exits 1.
import logging
import os
import sys
import time

# The clients' own error logs say why a connection failed.
logging.basicConfig(level=logging.ERROR)

lib, bootstrap, topic = sys.argv[1:4]
env = os.environ.get
protocol = env('SECURITY_PROTOCOL', 'PLAINTEXT')
values = ['%s-%d' % (lib, i) for i in range(3)]


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    conf = {'bootstrap_servers': bootstrap, 'security_protocol': protocol}
    if env('CA_FILE'):
        conf['ssl_cafile'] = env('CA_FILE')
    if env('CERT_FILE'):
        conf['ssl_certfile'] = env('CERT_FILE')
        conf['ssl_keyfile'] = env('KEY_FILE')
    if env('SASL_MECHANISM'):
        conf['sasl_mechanism'] = env('SASL_MECHANISM')
        conf['sasl_plain_username'] = env('SASL_USER')
        conf['sasl_plain_password'] = env('SASL_PASSWORD')
    producer = KafkaProducer(**conf)
    for v in values:
        producer.send(topic, v.encode(), partition=0).get(timeout=30)
    producer.close()
    print('produced 3', flush=True)
    consumer = KafkaConsumer(**conf, consumer_timeout_ms=20000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    for msg in consumer:
        if msg.value.decode() in values:
            got.append(msg.value.decode())
        if len(got) == 3:
            break
    consumer.close()
    return got


def confluent():
    from confluent_kafka import Consumer, Producer, TopicPartition, KafkaException
    conf = {'bootstrap.servers': bootstrap, 'security.protocol': protocol}
    if env('CA_FILE'):
        conf['ssl.ca.location'] = env('CA_FILE')
    if env('CERT_FILE'):
        conf['ssl.certificate.location'] = env('CERT_FILE')
        conf['ssl.key.location'] = env('KEY_FILE')
    if env('SASL_MECHANISM') == 'OAUTHBEARER' and env('OAUTH_TOKEN'):
        # A token signed by the test's issuer, handed over as an
        # application's token provider would.
        conf['sasl.mechanisms'] = 'OAUTHBEARER'
        conf['oauth_cb'] = lambda _config: (env('OAUTH_TOKEN'), time.time() + 3600)
    elif env('SASL_MECHANISM') == 'OAUTHBEARER':
        # librdkafka's own unsecured (alg none) token for the user.
        conf['sasl.mechanisms'] = 'OAUTHBEARER'
        conf['enable.sasl.oauthbearer.unsecure.jwt'] = True
        conf['sasl.oauthbearer.config'] = 'principal=%s' % env('SASL_USER')
    elif env('SASL_MECHANISM'):
        conf['sasl.mechanisms'] = env('SASL_MECHANISM')
        conf['sasl.username'] = env('SASL_USER')
        conf['sasl.password'] = env('SASL_PASSWORD')
    errors = []
    conf['error_cb'] = lambda err: errors.append(err)
    producer = Producer(conf)
    delivered = []

    def report(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append(msg)

    for v in values:
        producer.produce(topic, v.encode(), partition=0, on_delivery=report)
    deadline = time.time() + 30
    while len(delivered) < 3 and time.time() < deadline:
        producer.poll(0.2)
        if errors:
            raise Exception(str(errors[0]))
    if len(delivered) < 3:
        raise Exception('delivered %d of 3' % len(delivered))
    print('produced 3', flush=True)
    c = Consumer(dict(conf, **{'group.id': 'secure-client', 'enable.auto.commit': False}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < 3 and time.time() < deadline:
        msg = c.poll(0.5)
        if errors:
            raise Exception(str(errors[0]))
        if msg is None or msg.error():
            continue
        if msg.value().decode() in values:
            got.append(msg.value().decode())
    c.close()
    return got


try:
    got = kafka_python() if lib == 'kafka-python' else confluent()
except Exception as e:
    print('error: %s' % e, file=sys.stderr, flush=True)
    sys.exit(1)
if got != values:
    print('error: consumed %r, want %r' % (got, values), file=sys.stderr, flush=True)
    sys.exit(1)
print('consumed 3', flush=True)
