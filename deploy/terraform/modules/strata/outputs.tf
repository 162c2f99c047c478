output "bootstrap_servers" {
  description = "Bootstrap address for Kafka clients (bootstrap.servers)."
  value       = "${local.advertised_host}:${var.kafka_port}"
}

output "advertised_addresses" {
  description = "The address each broker advertises, keyed by broker id."
  value       = { for k, n in local.nodes : tostring(n.id) => module.layout.advertised_addresses[k] }
}

output "nodes" {
  description = "Each node's broker id, zone, load balancer port and ECS service name, keyed node-<i>."
  value       = local.nodes
}

output "load_balancer_dns_name" {
  description = "DNS name of the Network Load Balancer."
  value       = aws_lb.kafka.dns_name
}

output "load_balancer_zone_id" {
  description = "Route 53 zone id of the load balancer, for an alias record."
  value       = aws_lb.kafka.zone_id
}

output "bucket_name" {
  description = "Name of the segment bucket."
  value       = aws_s3_bucket.segments.bucket
}

output "bucket_arn" {
  description = "ARN of the segment bucket."
  value       = aws_s3_bucket.segments.arn
}

output "database_endpoint" {
  description = "host:port of the PostgreSQL metastore."
  value       = "${aws_db_instance.metastore.address}:${local.db_port}"
}

output "database_url" {
  description = "Connection URL of the metastore without the password (PGPASSWORD supplies it)."
  value       = local.db_url
}

output "database_password_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the metastore password."
  value       = aws_secretsmanager_secret.db_password.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS service name of each node, keyed node-<i>."
  value       = { for k, s in aws_ecs_service.node : k => s.name }
}

output "log_group_name" {
  description = "CloudWatch log group of the nodes."
  value       = aws_cloudwatch_log_group.nodes.name
}

output "task_role_arn" {
  description = "IAM role the nodes run as."
  value       = aws_iam_role.task.arn
}

output "node_security_group_id" {
  description = "Security group of the nodes, e.g. to let a Prometheus server in another group scrape them."
  value       = aws_security_group.node.id
}

output "security_protocol" {
  description = "Security protocol of the Kafka listener (security.protocol of the clients)."
  value       = var.kafka_security_protocol
}

output "admin_password_secret_arn" {
  description = "ARN of the secret holding admin_user's SCRAM password; null with PLAINTEXT."
  value       = local.sasl_ssl ? aws_secretsmanager_secret.admin_password[0].arn : null
}

output "dns_records" {
  description = "With advertised_host: the CNAME records to create, name => the load balancer name it points to (the bootstrap name and, with zonal_advertised_addresses, each zone's). Empty without advertised_host."
  value = var.advertised_host == null ? {} : merge(
    { (var.advertised_host) = aws_lb.kafka.dns_name },
    var.zonal_advertised_addresses ? { for z in module.layout.zones_used : "${z}.${var.advertised_host}" => "${z}.${aws_lb.kafka.dns_name}" } : {},
  )
}
