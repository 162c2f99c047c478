output "name" {
  description = "The deployment name."
  value       = var.name
}

output "names" {
  description = "Names of the resources of the deployment, all derived from name."
  value = {
    cluster                = var.name
    load_balancer          = "${var.name}-kafka"
    bootstrap_target_group = "${var.name}-boot"
    db_identifier          = "${var.name}-metastore"
    db_subnet_group        = "${var.name}-metastore"
    db_secret              = "${var.name}/metastore-password"
    bucket_prefix          = "${var.name}-segments-"
    log_group              = "/ecs/${var.name}"
    task_role              = "${var.name}-task"
    execution_role         = "${var.name}-execution"
    lb_security_group      = "${var.name}-kafka-lb"
    node_security_group    = "${var.name}-node"
    db_security_group      = "${var.name}-metastore"
  }
}

output "nodes" {
  description = "One entry per node, keyed node-<i>: index, broker id, zone, load balancer port, service and target group names. Independent of advertised_host."
  value       = local.nodes
}

output "advertised_addresses" {
  description = "The host:port each node advertises to clients, keyed like nodes; null values while advertised_host is null."
  value       = local.advertised_addresses
}

output "zones_used" {
  description = "The zones that run at least one node, in the order of var.zones."
  value       = [for z in var.zones : z if contains([for n in local.nodes : n.zone], z)]
}

output "load_balancer_ports" {
  description = "Every listener port of the load balancer: the bootstrap port, then one per node."
  value       = concat([var.kafka_port], [for i in range(var.node_count) : var.node_port_base + i])
}

output "container_ports" {
  description = "Ports the strata container listens on."
  value = {
    kafka = local.container_kafka_port
    admin = local.container_admin_port
  }
}

output "sizing" {
  description = "Memory split of one node: fetch cache, ingest budget, and GOMEMLIMIT in MiB."
  value = {
    reader_cache_bytes         = local.reader_cache_bytes
    ingest_memory_budget_bytes = local.ingest_memory_budget_bytes
    gomemlimit_mib             = local.gomemlimit_mib
  }

  precondition {
    condition     = local.reader_cache_bytes + local.ingest_memory_budget_bytes <= floor(local.memory_bytes * 0.8)
    error_message = "reader_cache_bytes + ingest_memory_budget_bytes must leave at least 20% of task_memory for the rest of the process."
  }
}

output "common_environment" {
  description = "Environment variables every node's container gets."
  value       = local.common_environment
}

output "node_environment" {
  description = "Environment variables of each node (broker id, rack, advertised address), keyed like nodes."
  value       = local.node_environment
}
