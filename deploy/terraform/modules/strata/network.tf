# Security groups. From outside only the Kafka listeners of the load balancer
# are reachable, and only from kafka_allowed_cidrs. The nodes accept Kafka
# traffic from the load balancer and admin HTTP (metrics, health) from inside
# the VPC. The database accepts connections from the nodes only.

resource "aws_security_group" "lb" {
  name        = local.names.lb_security_group
  description = "Strata ${var.name}: Kafka listeners of the load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = local.names.lb_security_group })
}

resource "aws_vpc_security_group_ingress_rule" "lb_bootstrap" {
  for_each = toset(var.kafka_allowed_cidrs)

  security_group_id = aws_security_group.lb.id
  description       = "Kafka bootstrap"
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "lb_nodes" {
  for_each = toset(var.kafka_allowed_cidrs)

  security_group_id = aws_security_group.lb.id
  description       = "Kafka, one port per node"
  ip_protocol       = "tcp"
  from_port         = var.node_port_base
  to_port           = var.node_port_base + var.node_count - 1
  cidr_ipv4         = each.value
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "lb_to_kafka" {
  security_group_id            = aws_security_group.lb.id
  description                  = "Kafka to the nodes"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.kafka
  to_port                      = local.ports.kafka
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_egress_rule" "lb_to_health" {
  security_group_id            = aws_security_group.lb.id
  description                  = "Health checks of the nodes (/readyz)"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.admin
  to_port                      = local.ports.admin
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}

resource "aws_security_group" "node" {
  name        = local.names.node_security_group
  description = "Strata ${var.name}: nodes"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = local.names.node_security_group })
}

resource "aws_vpc_security_group_ingress_rule" "node_kafka" {
  security_group_id            = aws_security_group.node.id
  description                  = "Kafka from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.ports.kafka
  to_port                      = local.ports.kafka
  referenced_security_group_id = aws_security_group.lb.id
  tags                         = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "node_admin" {
  security_group_id = aws_security_group.node.id
  description       = "Admin HTTP (metrics, health) from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = local.ports.admin
  to_port           = local.ports.admin
  cidr_ipv4         = data.aws_vpc.this.cidr_block
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "node_https" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS: S3, ECR, Secrets Manager, CloudWatch Logs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "node_postgres" {
  security_group_id            = aws_security_group.node.id
  description                  = "PostgreSQL metastore"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.db.id
  tags                         = local.tags
}

resource "aws_security_group" "db" {
  name        = local.names.db_security_group
  description = "Strata ${var.name}: PostgreSQL metastore"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = local.names.db_security_group })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_nodes" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the nodes"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.node.id
  tags                         = local.tags
}
