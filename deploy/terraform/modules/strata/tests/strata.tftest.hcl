# Tests of the AWS module against a mocked AWS provider: nothing is created
# and no AWS account is needed, but `terraform init` must find the AWS
# provider (from the registry, or a local mirror with -plugin-dir) for its
# schema.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  # Only the statements are checked below; the roles need a JSON object.
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/strata-kafka/0123456789abcdef"
      dns_name = "strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/strata-node/0123456789abcdef"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/strata"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/strata-node:1"
    }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:cluster/strata"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      bucket = "strata-segments-20250101"
      arn    = "arn:aws:s3:::strata-segments-20250101"
      region = "us-east-1"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address = "strata-metastore.abcdefghijkl.us-east-1.rds.amazonaws.com"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/metastore-password-AbCdEf"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/strata"
    }
  }
}

# Distinct ARNs, so that a node wired to the wrong target group is seen.
override_resource {
  target = aws_lb_target_group.bootstrap
  values = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/strata-boot/0123456789abcdef"
  }
}

override_resource {
  target = aws_lb_target_group.node["node-1"]
  values = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/strata-n1/0123456789abcdef"
  }
}

override_resource {
  target = aws_secretsmanager_secret.admin_password
  values = {
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-admin-password-AbCdEf"
  }
}

variables {
  name   = "strata"
  vpc_id = "vpc-0123456789abcdef0"
  subnets = {
    "us-east-1a" = "subnet-0aaaaaaaaaaaaaaa1"
    "us-east-1b" = "subnet-0bbbbbbbbbbbbbbb2"
    "us-east-1c" = "subnet-0ccccccccccccccc3"
  }
  kafka_allowed_cidrs = ["10.20.0.0/16", "192.168.10.0/24"]
  image               = "123456789012.dkr.ecr.us-east-1.amazonaws.com/strata:v0.1.0"
  db_password         = "0123456789abcdefABCDEF"

  tls_certificate_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-cert-AbCdEf"
  tls_private_key_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-key-AbCdEf"
  admin_password             = "fedcba9876543210FEDCBA"
}

run "nodes_are_told_who_and_where_they_are" {
  command = apply

  assert {
    condition     = length(aws_ecs_service.node) == 3 && length(aws_ecs_task_definition.node) == 3
    error_message = "one service and one task definition per node"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_NODE_ID"] == "1"
    error_message = "node-1 must run as broker 1"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_RACK"] == "us-east-1b"
    error_message = "node-1 must be told its zone"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://us-east-1b.strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com:9094"
    error_message = "node-1 must advertise its zone's load balancer name and its own port"
  }
  assert {
    condition     = aws_ecs_service.node["node-1"].network_configuration[0].subnets == toset(["subnet-0bbbbbbbbbbbbbbb2"])
    error_message = "node-1 must run only in the subnet of its zone"
  }
  assert {
    condition     = aws_lb_listener.node["node-1"].port == 9094 && aws_lb_listener.node["node-1"].default_action[0].target_group_arn == aws_lb_target_group.node["node-1"].arn
    error_message = "node-1's listener must forward to node-1's target group"
  }
  assert {
    condition     = toset([for lb in aws_ecs_service.node["node-1"].load_balancer : lb.target_group_arn]) == toset([aws_lb_target_group.bootstrap.arn, aws_lb_target_group.node["node-1"].arn])
    error_message = "node-1 must be in the bootstrap target group and in its own"
  }
  assert {
    condition     = aws_lb_listener.bootstrap.port == 9092
    error_message = "the bootstrap listener must be on 9092"
  }
  assert {
    condition     = output.bootstrap_servers == "strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com:9092"
    error_message = "bootstrap_servers must be the load balancer name and the bootstrap port"
  }
  assert {
    condition     = output.advertised_addresses["2"] == "us-east-1c.strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com:9095"
    error_message = "advertised_addresses must be keyed by broker id"
  }
}

run "stores_are_wired_without_secrets_in_plain_text" {
  command = apply

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_OBJSTORE_URL"] == "s3://strata-segments-20250101"
    error_message = "nodes must use the segment bucket"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_OBJSTORE_REGION"] == "us-east-1"
    error_message = "nodes must be told the bucket's region"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_METASTORE_POSTGRES_URL"] == "postgres://strata@strata-metastore.abcdefghijkl.us-east-1.rds.amazonaws.com:5432/strata?sslmode=require"
    error_message = "the metastore URL must name the database and carry no password"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].secrets, { name = "PGPASSWORD", valueFrom = aws_secretsmanager_secret.db_password.arn })
    error_message = "the password must come from Secrets Manager as PGPASSWORD"
  }
  assert {
    condition     = !contains([for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name], "PGPASSWORD")
    error_message = "the password must not be a plain environment variable"
  }
  assert {
    condition     = aws_db_instance.metastore.multi_az && aws_db_instance.metastore.storage_encrypted && !aws_db_instance.metastore.publicly_accessible
    error_message = "the database must be multi-AZ, encrypted and private by default"
  }
  assert {
    condition     = aws_db_instance.metastore.password_wo_version == aws_secretsmanager_secret_version.db_password.secret_string_wo_version
    error_message = "the database and the secret must get the same password version"
  }
}

run "task_role_reaches_only_its_bucket" {
  command = apply

  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.task.statement : s.actions])) == toset([
      "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
    ])
    error_message = "the task role may only list, get, put and delete"
  }
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.task.statement : s.resources])) == toset([
      "arn:aws:s3:::strata-segments-20250101", "arn:aws:s3:::strata-segments-20250101/*",
    ])
    error_message = "the task role may only touch the segment bucket"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.execution.statement : s.sid != "ReadDatabasePassword" || s.resources == toset([aws_secretsmanager_secret.db_password.arn])])
    error_message = "the execution role may read only the database password secret"
  }
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.execution.statement : s.resources if s.sid == "ReadListenerSecrets"])) == toset([
      aws_secretsmanager_secret.admin_password[0].arn,
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-cert-AbCdEf",
      "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-key-AbCdEf",
    ])
    error_message = "the execution role may read the admin password, the certificate and the key, nothing else"
  }
}

run "bucket_is_private_and_encrypted" {
  command = apply

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.segments.block_public_acls,
      aws_s3_bucket_public_access_block.segments.block_public_policy,
      aws_s3_bucket_public_access_block.segments.ignore_public_acls,
      aws_s3_bucket_public_access_block.segments.restrict_public_buckets,
    ])
    error_message = "public access must be blocked"
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.segments.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "SSE-S3 by default"
  }
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.segments.rule).abort_incomplete_multipart_upload[0].days_after_initiation == 1
    error_message = "incomplete multipart uploads must be aborted after a day"
  }
}

run "kms_key_adds_kms_permissions" {
  command = apply

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.segments.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"
    error_message = "a KMS key switches the bucket to SSE-KMS"
  }
  assert {
    condition     = contains(flatten([for s in data.aws_iam_policy_document.task.statement : s.actions]), "kms:GenerateDataKey")
    error_message = "the task role needs the key to write objects"
  }
}

run "only_kafka_is_exposed" {
  command = apply

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.lb_bootstrap : r.cidr_ipv4]) == toset(["10.20.0.0/16", "192.168.10.0/24"])
    error_message = "the bootstrap listener must accept exactly kafka_allowed_cidrs"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.lb_nodes : r.from_port == 9093 && r.to_port == 9095])
    error_message = "the node listeners must be exactly 9093-9095"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.node_admin.cidr_ipv4 == "10.20.0.0/16" && aws_vpc_security_group_ingress_rule.node_admin.from_port == 9644
    error_message = "admin HTTP must be open to the VPC only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.node_kafka.referenced_security_group_id == aws_security_group.lb.id
    error_message = "nodes must accept Kafka from the load balancer only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_nodes.referenced_security_group_id == aws_security_group.node.id
    error_message = "the database must accept the nodes only"
  }
}

run "rejects_a_zone_without_load_balancer_subnet" {
  command = plan

  variables {
    lb_subnets = {
      "us-east-1a" = "subnet-0ddddddddddddddd4"
      "us-east-1b" = "subnet-0eeeeeeeeeeeeeee5"
    }
  }

  expect_failures = [aws_lb.kafka]
}

run "rejects_a_bad_cidr" {
  command = plan

  variables {
    kafka_allowed_cidrs = ["10.0.0.0/33"]
  }

  expect_failures = [var.kafka_allowed_cidrs]
}

run "rejects_a_single_subnet" {
  command = plan

  variables {
    subnets = { "us-east-1a" = "subnet-0aaaaaaaaaaaaaaa1" }
  }

  expect_failures = [var.subnets]
}

run "serves_sasl_ssl_by_default" {
  command = apply

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_LISTENERS"] == "SASL_SSL://:9092"
    error_message = "nodes must serve one SASL_SSL listener on the container's Kafka port"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://us-east-1b.strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com:9094"
    error_message = "node-1 must advertise its SASL_SSL listener at its zonal name and its own port"
  }
  assert {
    condition = length(setintersection(
      toset([for e in jsondecode(aws_ecs_task_definition.node["node-1"].container_definitions)[0].environment : e.name]),
      toset(["STRATA_KAFKA_LISTEN_ADDRESS", "STRATA_KAFKA_ADVERTISED_ADDRESS"]),
    )) == 0
    error_message = "the PLAINTEXT listener's settings must give way to the SASL_SSL listener"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_AUTH_SUPER_USERS"] == "User:admin" && { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_AUTH_BOOTSTRAP_USER"] == "admin"
    error_message = "admin must be created at start and be the super user"
  }
  assert {
    condition = toset(jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].secrets) == toset([
      { name = "PGPASSWORD", valueFrom = aws_secretsmanager_secret.db_password.arn },
      { name = "STRATA_AUTH_BOOTSTRAP_PASSWORD", valueFrom = aws_secretsmanager_secret.admin_password[0].arn },
      { name = "STRATA_CONSOLE_PASSWORD", valueFrom = aws_secretsmanager_secret.admin_password[0].arn },
      { name = "STRATA_KAFKA_TLS_CERT_PEM", valueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-cert-AbCdEf" },
      { name = "STRATA_KAFKA_TLS_KEY_PEM", valueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:strata/kafka-key-AbCdEf" },
    ])
    error_message = "the admin password, the certificate and the key must come from Secrets Manager"
  }
  assert {
    condition = length(setintersection(
      toset([for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name]),
      toset(["STRATA_AUTH_BOOTSTRAP_PASSWORD", "STRATA_CONSOLE_PASSWORD", "STRATA_KAFKA_TLS_KEY_PEM", "STRATA_KAFKA_TLS_CERT_PEM"]),
    )) == 0
    error_message = "no secret may be a plain environment variable"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.admin_password[0].secret_string_wo_version == 1
    error_message = "the admin password must be written once, write-only"
  }
  assert {
    condition     = output.security_protocol == "SASL_SSL" && output.admin_password_secret_arn == aws_secretsmanager_secret.admin_password[0].arn
    error_message = "the outputs must tell clients the protocol and where the admin password is"
  }
}

run "admin_port_is_never_public" {
  command = apply

  variables {
    internal = false
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.node_admin.cidr_ipv4 == "10.20.0.0/16"
    error_message = "admin HTTP must be open to the VPC only, even with an internet-facing load balancer"
  }
  assert {
    condition     = alltrue([for l in concat([aws_lb_listener.bootstrap], values(aws_lb_listener.node)) : l.port != 9644 && l.default_action[0].target_group_arn != null])
    error_message = "no load balancer listener may serve the admin port"
  }
  assert {
    condition     = alltrue([for tg in concat([aws_lb_target_group.bootstrap], values(aws_lb_target_group.node)) : tg.port == 9092])
    error_message = "the load balancer may forward only to the Kafka port"
  }
  assert {
    condition     = alltrue([for r in concat(values(aws_vpc_security_group_ingress_rule.lb_bootstrap), values(aws_vpc_security_group_ingress_rule.lb_nodes)) : r.from_port != 9644 && r.to_port != 9644])
    error_message = "the load balancer's security group must not admit the admin port"
  }
}

run "advertised_host_names_the_certificate" {
  command = apply

  variables {
    advertised_host = "kafka.example.com"
  }

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-2"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://us-east-1c.kafka.example.com:9095"
    error_message = "node-2 must advertise <zone>.advertised_host"
  }
  assert {
    condition     = output.bootstrap_servers == "kafka.example.com:9092"
    error_message = "bootstrap_servers must use advertised_host"
  }
  assert {
    condition     = output.dns_records["kafka.example.com"] == "strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com" && output.dns_records["us-east-1b.kafka.example.com"] == "us-east-1b.strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com"
    error_message = "dns_records must point the names at the load balancer's"
  }
}

run "plaintext_when_asked" {
  command = apply

  variables {
    kafka_security_protocol    = "PLAINTEXT"
    tls_certificate_secret_arn = null
    tls_private_key_secret_arn = null
  }

  assert {
    condition     = !contains([for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name], "STRATA_KAFKA_LISTENERS")
    error_message = "PLAINTEXT keeps the single listener"
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].environment : e.name => e.value }["STRATA_KAFKA_LISTEN_ADDRESS"] == ":9092"
    error_message = "PLAINTEXT listens on the container's Kafka port"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.node["node-0"].container_definitions)[0].secrets == [{ name = "PGPASSWORD", valueFrom = aws_secretsmanager_secret.db_password.arn }]
    error_message = "PLAINTEXT needs only the database password"
  }
  assert {
    condition     = length(aws_secretsmanager_secret.admin_password) == 0
    error_message = "PLAINTEXT keeps no admin password"
  }
}

run "rejects_sasl_ssl_without_a_certificate" {
  command = plan

  variables {
    tls_certificate_secret_arn = null
  }

  expect_failures = [var.tls_certificate_secret_arn]
}

run "rejects_sasl_ssl_without_an_admin_password" {
  command = plan

  variables {
    admin_password = null
  }

  expect_failures = [var.admin_password]
}
