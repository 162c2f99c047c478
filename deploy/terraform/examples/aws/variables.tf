variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the deployment (prefix of every resource name)."
  type        = string
  default     = "strata"
}

variable "image" {
  description = "strata container image, built from the repository's Dockerfile and pushed to a registry the tasks can pull from (e.g. ECR)."
  type        = string
}

variable "kafka_allowed_cidrs" {
  description = "IPv4 networks allowed to reach the Kafka listeners."
  type        = list(string)
}

variable "internet_facing" {
  description = "Put the load balancer in public subnets with public addresses. Keep false unless clients outside the VPC must connect; Kafka traffic is not encrypted."
  type        = bool
  default     = false
}

variable "vpc_cidr" {
  description = "Address range of the VPC this example creates."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr must be an IPv4 CIDR block of /16 or larger."
  }
}

variable "zone_count" {
  description = "Number of availability zones to spread nodes over."
  type        = number
  default     = 3

  validation {
    condition     = var.zone_count >= 2 && var.zone_count <= 3
    error_message = "zone_count must be 2 or 3."
  }
}

variable "node_count" {
  description = "Number of Strata nodes."
  type        = number
  default     = 3
}

variable "task_cpu" {
  description = "CPU units per node (1024 = 1 vCPU)."
  type        = number
  default     = 2048
}

variable "task_memory" {
  description = "Memory per node in MiB."
  type        = number
  default     = 8192
}

variable "db_instance_class" {
  description = "RDS instance class of the metastore."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "Run a standby database in a second zone."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion. Set to false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

variable "db_password_version" {
  description = "Raise to rotate the database password, then redeploy the services."
  type        = number
  default     = 1
}

variable "advertised_host" {
  description = "DNS name clients reach the load balancer by and that the listener's certificate holds (then create the records of the dns_records output); null: the load balancer's own name."
  type        = string
  default     = null
}

variable "tls_certificate_secret_arn" {
  description = "Secrets Manager secret holding the Kafka listener's PEM certificate chain, for advertised_host and *.advertised_host."
  type        = string
}

variable "tls_private_key_secret_arn" {
  description = "Secrets Manager secret holding the certificate's PEM private key."
  type        = string
}

variable "admin_password_version" {
  description = "Raise to write a new generated admin password to its secret (nodes use it only to create the admin user when it does not exist yet)."
  type        = number
  default     = 1
}
