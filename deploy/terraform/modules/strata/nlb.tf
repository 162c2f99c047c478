# One Network Load Balancer: the bootstrap listener forwards to every node,
# and node i's listener (node_port_base + i) only to node i. Cross-zone load
# balancing is on in the target groups, so each listener works through every
# zone's load balancer address; a client that uses the advertised zonal name
# enters in the node's own zone and its traffic stays there.

resource "aws_lb" "kafka" {
  name                             = local.names.load_balancer
  load_balancer_type               = "network"
  internal                         = var.internal
  security_groups                  = [aws_security_group.lb.id]
  subnets                          = [for z in sort(keys(local.lb_subnets)) : local.lb_subnets[z]]
  enable_cross_zone_load_balancing = false
  tags                             = local.tags

  lifecycle {
    precondition {
      condition     = alltrue([for z in module.layout.zones_used : contains(keys(local.lb_subnets), z)])
      error_message = "lb_subnets must have a subnet in every zone that runs a node, or nodes there get no zonal address."
    }
  }
}

resource "aws_lb_target_group" "bootstrap" {
  name                              = local.names.bootstrap_target_group
  port                              = local.ports.kafka
  protocol                          = "TCP"
  target_type                       = "ip"
  vpc_id                            = var.vpc_id
  deregistration_delay              = 30
  preserve_client_ip                = "false"
  load_balancing_cross_zone_enabled = "true"
  tags                              = local.tags

  health_check {
    protocol            = "HTTP"
    port                = tostring(local.ports.admin)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_target_group" "node" {
  for_each = local.nodes

  name                              = each.value.target_group_name
  port                              = local.ports.kafka
  protocol                          = "TCP"
  target_type                       = "ip"
  vpc_id                            = var.vpc_id
  deregistration_delay              = 30
  preserve_client_ip                = "false"
  load_balancing_cross_zone_enabled = "true"
  tags                              = merge(local.tags, { "strata:node-id" = tostring(each.value.id) })

  health_check {
    protocol            = "HTTP"
    port                = tostring(local.ports.admin)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "bootstrap" {
  load_balancer_arn = aws_lb.kafka.arn
  port              = var.kafka_port
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.bootstrap.arn
  }
}

resource "aws_lb_listener" "node" {
  for_each = local.nodes

  load_balancer_arn = aws_lb.kafka.arn
  port              = each.value.port
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.node[each.key].arn
  }
}
