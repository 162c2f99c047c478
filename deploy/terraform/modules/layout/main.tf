locals {
  # Ports inside the container; the Dockerfile exposes the same two.
  container_kafka_port = 9092
  container_admin_port = 9644

  memory_bytes = var.task_memory * 1048576

  # The fetch cache and the ingest budget are the two large consumers of
  # memory; what is left (at least 20%) covers decompression, connection
  # buffers and the Go runtime. GOMEMLIMIT makes the collector work harder
  # before the task reaches its hard limit.
  reader_cache_bytes         = coalesce(var.reader_cache_bytes, floor(local.memory_bytes * 0.4))
  ingest_memory_budget_bytes = coalesce(var.ingest_memory_budget_bytes, floor(local.memory_bytes * 0.25))
  gomemlimit_mib             = floor(var.task_memory * 0.9)

  # Node i: broker id first_node_id + i, zone zones[i % zones], and its own
  # load balancer port. Keys are stable, so adding nodes never renames the
  # existing ones. The placement does not depend on advertised_host, so a
  # caller may derive advertised_host from resources named after it.
  nodes = {
    for i in range(var.node_count) : format("node-%d", i) => {
      index             = i
      id                = var.first_node_id + i
      zone              = var.zones[i % length(var.zones)]
      port              = var.node_port_base + i
      service_name      = format("%s-node-%d", var.name, i)
      target_group_name = format("%s-n%d", var.name, i)
    }
  }

  advertised_addresses = {
    for k, n in local.nodes : k => var.advertised_host == null ? null : format("%s%s:%d",
      var.zonal_advertised_addresses ? "${n.zone}." : "",
      var.advertised_host,
      n.port,
    )
  }

  common_environment = {
    STRATA_KAFKA_LISTEN_ADDRESS = ":${local.container_kafka_port}"
    STRATA_ADMIN_LISTEN_ADDRESS = ":${local.container_admin_port}"
    STRATA_KAFKA_CLUSTER_ID     = var.name
    STRATA_READER_CACHE_BYTES   = tostring(local.reader_cache_bytes)
    STRATA_INGEST_MEMORY_BUDGET = tostring(local.ingest_memory_budget_bytes)
    STRATA_LOG_FORMAT           = "json"
    GOMEMLIMIT                  = "${local.gomemlimit_mib}MiB"
  }

  node_environment = {
    for k, n in local.nodes : k => merge(
      {
        STRATA_KAFKA_NODE_ID = tostring(n.id)
        STRATA_KAFKA_RACK    = n.zone
      },
      local.advertised_addresses[k] == null ? {} : { STRATA_KAFKA_ADVERTISED_ADDRESS = local.advertised_addresses[k] },
    )
  }
}
