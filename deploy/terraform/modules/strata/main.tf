# Strata on AWS: segment objects in S3, the metastore on RDS PostgreSQL, one
# ECS Fargate service per node, and a Network Load Balancer in front.
#
# Kafka clients bootstrap from any broker, then connect to each partition
# leader at the address that broker advertises. Every node therefore needs an
# address of its own that clients can reach. Here one Network Load Balancer
# has a bootstrap listener (kafka_port, any node) and one listener per node
# (node_port_base + i) whose target group holds only that node's task. Node i
# is one ECS service with one task, pinned to the subnet of its zone, so its
# broker id, rack and advertised address are fixed in its task definition and
# need no start-up script. Node i advertises <zone>.<load balancer DNS name>,
# the load balancer's zonal name, so a client enters the load balancer in the
# node's own zone.

module "layout" {
  source = "../layout"

  name                       = var.name
  zones                      = sort(keys(var.subnets))
  node_count                 = var.node_count
  first_node_id              = var.first_node_id
  kafka_port                 = var.kafka_port
  node_port_base             = var.node_port_base
  advertised_host            = local.advertised_host
  zonal_advertised_addresses = var.zonal_advertised_addresses
  task_cpu                   = var.task_cpu
  task_memory                = var.task_memory
  reader_cache_bytes         = var.reader_cache_bytes
  ingest_memory_budget_bytes = var.ingest_memory_budget_bytes
}

data "aws_caller_identity" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  names = module.layout.names
  nodes = module.layout.nodes
  ports = module.layout.container_ports

  lb_subnets = length(var.lb_subnets) > 0 ? var.lb_subnets : var.subnets
  vpc_cidrs  = [for a in data.aws_vpc.this.cidr_block_associations : a.cidr_block]

  # The bucket's region is the one every regional resource here lives in.
  region = aws_s3_bucket.segments.region

  tags = merge({ "strata:deployment" = var.name }, var.tags)
}
