# Offline tests of the layout: no provider, no network. Run with
#   terraform init -backend=false && terraform test

variables {
  name  = "strata"
  zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

run "three_nodes_one_per_zone" {
  command = plan

  assert {
    condition     = length(output.nodes) == 3
    error_message = "want 3 nodes by default"
  }
  assert {
    condition = [for k in ["node-0", "node-1", "node-2"] : output.nodes[k].zone] == [
      "us-east-1a", "us-east-1b", "us-east-1c",
    ]
    error_message = "node i must run in zones[i]"
  }
  assert {
    condition     = [for k in ["node-0", "node-1", "node-2"] : output.nodes[k].id] == [0, 1, 2]
    error_message = "broker ids must be 0, 1, 2"
  }
  assert {
    condition     = output.load_balancer_ports == [9092, 9093, 9094, 9095]
    error_message = "bootstrap on 9092, then one port per node from 9093"
  }
  assert {
    condition     = output.nodes["node-2"].port == 9095 && output.nodes["node-2"].service_name == "strata-node-2" && output.nodes["node-2"].target_group_name == "strata-n2"
    error_message = "node-2's port or names are wrong"
  }
  assert {
    condition     = output.zones_used == ["us-east-1a", "us-east-1b", "us-east-1c"]
    error_message = "every zone runs a node"
  }
  assert {
    condition     = output.advertised_addresses["node-0"] == null && !contains(keys(output.node_environment["node-0"]), "STRATA_KAFKA_ADVERTISED_ADDRESS")
    error_message = "without advertised_host no address may be advertised"
  }
}

run "round_robin_over_fewer_zones" {
  command = plan

  variables {
    zones         = ["eu-west-1a", "eu-west-1b"]
    node_count    = 5
    first_node_id = 100
  }

  assert {
    condition     = [for i in range(5) : output.nodes["node-${i}"].zone] == ["eu-west-1a", "eu-west-1b", "eu-west-1a", "eu-west-1b", "eu-west-1a"]
    error_message = "nodes must alternate between the two zones"
  }
  assert {
    condition     = output.nodes["node-4"].id == 104 && output.node_environment["node-4"]["STRATA_KAFKA_NODE_ID"] == "104"
    error_message = "node-4 must be broker 104 and be told so"
  }
  assert {
    condition     = output.node_environment["node-3"]["STRATA_KAFKA_RACK"] == "eu-west-1b"
    error_message = "each node must be told its zone as its rack"
  }
  assert {
    condition     = length(distinct([for n in output.nodes : n.port])) == 5 && length(distinct([for n in output.nodes : n.id])) == 5
    error_message = "ports and broker ids must be unique"
  }
}

run "one_node_uses_one_zone" {
  command = plan

  variables {
    node_count = 1
  }

  assert {
    condition     = output.zones_used == ["us-east-1a"]
    error_message = "a single node runs in the first zone only"
  }
}

run "zonal_advertised_addresses" {
  command = plan

  variables {
    advertised_host = "strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com"
  }

  assert {
    condition     = output.advertised_addresses["node-1"] == "us-east-1b.strata-kafka-0123456789abcdef.elb.us-east-1.amazonaws.com:9094"
    error_message = "node-1 must be advertised at its zone's load balancer name and its own port"
  }
  assert {
    condition     = output.node_environment["node-1"]["STRATA_KAFKA_ADVERTISED_ADDRESS"] == output.advertised_addresses["node-1"]
    error_message = "the container must be told the advertised address"
  }
  assert {
    condition     = length(distinct(values(output.advertised_addresses))) == 3
    error_message = "no two nodes may share an advertised address"
  }
}

run "regional_advertised_addresses" {
  command = plan

  variables {
    advertised_host            = "kafka.example.com"
    zonal_advertised_addresses = false
    kafka_port                 = 9000
    node_port_base             = 19000
  }

  assert {
    condition     = output.advertised_addresses["node-0"] == "kafka.example.com:19000"
    error_message = "without zonal names the host is advertised as given"
  }
  assert {
    condition     = output.load_balancer_ports == [9000, 19000, 19001, 19002]
    error_message = "ports must follow kafka_port and node_port_base"
  }
}

run "sizing_from_task_memory" {
  command = plan

  assert {
    condition     = output.sizing.reader_cache_bytes == 3435973836 && output.sizing.ingest_memory_budget_bytes == 2147483648
    error_message = "8 GiB task: 40% cache, 25% ingest budget"
  }
  assert {
    condition     = output.common_environment["GOMEMLIMIT"] == "7372MiB"
    error_message = "GOMEMLIMIT must be 90% of the task memory"
  }
  assert {
    condition     = output.common_environment["STRATA_READER_CACHE_BYTES"] == "3435973836" && output.common_environment["STRATA_INGEST_MEMORY_BUDGET"] == "2147483648"
    error_message = "sizes must reach the container as plain integers"
  }
  assert {
    condition     = output.common_environment["STRATA_KAFKA_LISTEN_ADDRESS"] == ":9092" && output.common_environment["STRATA_ADMIN_LISTEN_ADDRESS"] == ":9644"
    error_message = "the container listens on 9092 and 9644"
  }
}

run "sizing_overrides" {
  command = plan

  variables {
    task_cpu                   = 1024
    task_memory                = 4096
    reader_cache_bytes         = 1073741824
    ingest_memory_budget_bytes = 536870912
  }

  assert {
    condition     = output.sizing.reader_cache_bytes == 1073741824 && output.sizing.ingest_memory_budget_bytes == 536870912 && output.sizing.gomemlimit_mib == 3686
    error_message = "explicit sizes must be used as given"
  }
}

run "longest_names_fit_aws_limits" {
  command = plan

  variables {
    name       = "abcdefghij-klmnopqrs"
    node_count = 48
  }

  assert {
    condition     = alltrue([for n in output.nodes : length(n.target_group_name) <= 32])
    error_message = "target group names are limited to 32 characters"
  }
  assert {
    condition     = length(output.names.load_balancer) <= 32 && length(output.names.bootstrap_target_group) <= 32
    error_message = "load balancer names are limited to 32 characters"
  }
  assert {
    condition     = length(output.names.bucket_prefix) <= 37
    error_message = "S3 bucket prefixes are limited to 37 characters"
  }
  assert {
    condition     = length(output.load_balancer_ports) <= 50
    error_message = "a load balancer has at most 50 listeners"
  }
}

run "rejects_upper_case_name" {
  command = plan
  variables {
    name = "Strata"
  }
  expect_failures = [var.name]
}

run "rejects_long_name" {
  command = plan
  variables {
    name = "a-name-that-is-too-long"
  }
  expect_failures = [var.name]
}

run "rejects_double_hyphen" {
  command = plan
  variables {
    name = "strata--prod"
  }
  expect_failures = [var.name]
}

run "rejects_repeated_zone" {
  command = plan
  variables {
    zones = ["us-east-1a", "us-east-1a"]
  }
  expect_failures = [var.zones]
}

run "rejects_region_as_zone" {
  command = plan
  variables {
    zones = ["us-east-1"]
  }
  expect_failures = [var.zones]
}

run "rejects_no_zone" {
  command = plan
  variables {
    zones = []
  }
  expect_failures = [var.zones]
}

run "rejects_zero_nodes" {
  command = plan
  variables {
    node_count = 0
  }
  expect_failures = [var.node_count]
}

run "rejects_more_nodes_than_listeners" {
  command = plan
  variables {
    node_count = 49
  }
  expect_failures = [var.node_count]
}

run "rejects_node_port_overlapping_bootstrap" {
  command = plan
  variables {
    kafka_port     = 9094
    node_port_base = 9093
  }
  expect_failures = [var.node_port_base]
}

run "rejects_memory_fargate_does_not_offer" {
  command = plan
  variables {
    task_cpu    = 2048
    task_memory = 2048
  }
  expect_failures = [var.task_memory]
}

run "rejects_unknown_cpu" {
  command = plan
  variables {
    task_cpu = 3000
  }
  expect_failures = [var.task_cpu]
}

run "rejects_tiny_cache" {
  command = plan
  variables {
    reader_cache_bytes = 1024
  }
  expect_failures = [var.reader_cache_bytes]
}

run "rejects_caches_that_fill_the_task" {
  command = plan
  variables {
    reader_cache_bytes         = 6442450944
    ingest_memory_budget_bytes = 2147483648
  }
  expect_failures = [output.sizing]
}

run "rejects_advertised_host_with_port" {
  command = plan
  variables {
    advertised_host = "kafka.example.com:9092"
  }
  expect_failures = [var.advertised_host]
}
