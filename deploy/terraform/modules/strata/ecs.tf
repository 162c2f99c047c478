# One ECS service per node, each with exactly one task. The service of node i
# runs only in the subnet of node i's zone, so the zone (STRATA_KAFKA_RACK),
# the broker id and the advertised address in its task definition are always
# right. A deployment stops the old task before starting the new one
# (maximum 100%): two processes never claim the same broker id, and the other
# nodes serve the partitions meanwhile.

resource "aws_cloudwatch_log_group" "nodes" {
  name              = local.names.log_group
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_ecs_cluster" "this" {
  name = local.names.cluster
  tags = local.tags

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

locals {
  # No password in the URL: PGPASSWORD comes from Secrets Manager. RDS
  # certificates are not signed by a public authority, so the connection is
  # encrypted (require) without verifying the server's certificate.
  db_url = "postgres://${local.db_user}@${aws_db_instance.metastore.address}:${local.db_port}/${local.db_name}?sslmode=require"

  shared_environment = merge(module.layout.common_environment, {
    STRATA_METASTORE_POSTGRES_URL = local.db_url
    STRATA_OBJSTORE_URL           = "s3://${aws_s3_bucket.segments.bucket}"
    STRATA_OBJSTORE_REGION        = local.region
    STRATA_INGEST_FLUSH_INTERVAL  = var.flush_interval
    STRATA_LOG_LEVEL              = var.log_level
  })

  node_environment = {
    for k, n in local.nodes : k => {
      for name, value in merge(
        local.shared_environment,
        module.layout.node_environment[k],
        local.security_environment[k],
        var.extra_environment,
      ) : name => value if !contains(local.replaced_by_listeners, name)
    }
  }
}

resource "aws_ecs_task_definition" "node" {
  for_each = local.nodes

  family                   = each.value.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_cpu)
  memory                   = tostring(var.task_memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = merge(local.tags, { "strata:node-id" = tostring(each.value.id) })

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name      = "strata"
    image     = var.image
    essential = true

    portMappings = [
      { name = "kafka", containerPort = local.ports.kafka, protocol = "tcp" },
      { name = "admin", containerPort = local.ports.admin, protocol = "tcp" },
    ]

    # A map iterates in key order, so the list is stable between plans.
    environment = [for k, v in local.node_environment[each.key] : { name = k, value = v }]
    # Secrets Manager values, given by ECS as environment variables
    # (security.tf).
    secrets = local.node_secrets

    # strata keeps nothing on local disk.
    readonlyRootFilesystem = true
    # Time to drain connections and commit accepted batches after SIGTERM.
    stopTimeout = 60
    ulimits = [
      { name = "nofile", softLimit = 65536, hardLimit = 65536 },
    ]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.nodes.name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "node" {
  for_each = local.nodes

  name             = each.value.service_name
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.node[each.key].arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  wait_for_steady_state              = var.wait_for_steady_state
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  tags                               = merge(local.tags, { "strata:node-id" = tostring(each.value.id) })

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = [var.subnets[each.value.zone]]
    security_groups  = [aws_security_group.node.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.bootstrap.arn
    container_name   = "strata"
    container_port   = local.ports.kafka
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.node[each.key].arn
    container_name   = "strata"
    container_port   = local.ports.kafka
  }

  # A target group must belong to a load balancer before a service uses it;
  # the task needs its permissions and its secret before it starts.
  depends_on = [
    aws_lb_listener.bootstrap,
    aws_lb_listener.node,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.task,
    aws_secretsmanager_secret_version.db_password,
    aws_secretsmanager_secret_version.admin_password,
  ]
}
