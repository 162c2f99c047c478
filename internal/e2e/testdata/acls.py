# kafka-python's admin ACL calls against a broker: create two ACLs, read
# them back with a MATCH filter and delete them, printing what the broker
# answered. Usage: acls.py BOOTSTRAP TOPIC
import sys

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         ACLResourcePatternType, KafkaAdminClient,
                         ResourcePattern, ResourcePatternFilter, ResourceType)

bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="acls-py")

literal = ACL(principal="User:bob", host="*", operation=ACLOperation.READ,
              permission_type=ACLPermissionType.ALLOW,
              resource_pattern=ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL))
prefixed = ACL(principal="User:bob", host="*", operation=ACLOperation.WRITE,
               permission_type=ACLPermissionType.ALLOW,
               resource_pattern=ResourcePattern(ResourceType.TOPIC, topic[:3], ACLResourcePatternType.PREFIXED))
created = admin.create_acls([literal, prefixed])
print("created", len(created["succeeded"]), "failed", len(created["failed"]))

match = ACLFilter(principal="User:bob", host=None, operation=ACLOperation.ANY,
                  permission_type=ACLPermissionType.ANY,
                  resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.MATCH))
acls, err = admin.describe_acls(match)
print("describe error", err.__name__ if isinstance(err, type) else err)
for a in sorted(acls, key=lambda a: a.resource_pattern.pattern_type):
    print("acl", a.resource_pattern.resource_name, a.resource_pattern.pattern_type.name, a.operation.name)

deleted = admin.delete_acls([match])
for _flt, matches, err in deleted:
    print("deleted", len(matches), "error", err.__name__ if isinstance(err, type) else err)
admin.close()
