output "bootstrap_servers" {
  description = "bootstrap.servers for Kafka clients."
  value       = module.strata.bootstrap_servers
}

output "advertised_addresses" {
  description = "Address of each broker, by broker id."
  value       = module.strata.advertised_addresses
}

output "bucket_name" {
  description = "Segment bucket."
  value       = module.strata.bucket_name
}

output "database_endpoint" {
  description = "PostgreSQL metastore host:port."
  value       = module.strata.database_endpoint
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.strata.cluster_name
}

output "log_group_name" {
  description = "CloudWatch log group of the nodes."
  value       = module.strata.log_group_name
}

output "security_protocol" {
  description = "security.protocol for Kafka clients."
  value       = module.strata.security_protocol
}

output "admin_password_secret_arn" {
  description = "Secret holding the SCRAM password of the user admin."
  value       = module.strata.admin_password_secret_arn
}

output "dns_records" {
  description = "CNAME records to create for advertised_host, name => target."
  value       = module.strata.dns_records
}
