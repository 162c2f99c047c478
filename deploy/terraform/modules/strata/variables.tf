variable "name" {
  description = "Name of the deployment, used as the prefix of every resource name (3 to 20 lower-case letters, digits and hyphens)."
  type        = string
}

variable "vpc_id" {
  description = "VPC that the nodes, the database and the load balancer live in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "subnets" {
  description = "Subnets of the nodes and the database, keyed by availability zone: { \"us-east-1a\" = \"subnet-...\" }. Private subnets with a route to S3 (a gateway endpoint) and to ECR, Secrets Manager and CloudWatch Logs (NAT or endpoints)."
  type        = map(string)

  validation {
    condition     = length(var.subnets) >= 2
    error_message = "subnets must cover at least two availability zones (an RDS subnet group needs two)."
  }
  validation {
    condition     = alltrue([for id in values(var.subnets) : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnets values must be subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "lb_subnets" {
  description = "Subnets of the Network Load Balancer keyed by availability zone; empty: the same as subnets. Public subnets when internal is false. Every zone that runs a node needs one."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for id in values(var.lb_subnets) : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "lb_subnets values must be subnet ids."
  }
}

variable "internal" {
  description = "Whether the load balancer is internal (reachable only from the VPC and networks connected to it)."
  type        = bool
  default     = true
}

variable "kafka_allowed_cidrs" {
  description = "IPv4 networks allowed to connect to the Kafka listeners. Nothing else is exposed."
  type        = list(string)

  validation {
    condition     = length(var.kafka_allowed_cidrs) >= 1 && alltrue([for c in var.kafka_allowed_cidrs : can(cidrnetmask(c))])
    error_message = "kafka_allowed_cidrs must list at least one IPv4 CIDR block such as 10.0.0.0/16."
  }
}

variable "assign_public_ip" {
  description = "Give each task a public IP address (only for subnets whose route to the internet is an internet gateway). Inbound traffic is still limited by the security groups."
  type        = bool
  default     = false
}

variable "image" {
  description = "Container image of strata, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/strata:v0.1.0 (built from the repository's Dockerfile)."
  type        = string

  validation {
    condition     = length(var.image) > 0 && !can(regex("\\s", var.image))
    error_message = "image must be a container image reference without spaces."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the tasks: ARM64 (Graviton, cheaper) or X86_64. The image must be built for it."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "node_count" {
  description = "Number of Strata nodes, each its own ECS service with one task, spread over the zones of subnets."
  type        = number
  default     = 3
}

variable "first_node_id" {
  description = "Broker id of the first node; node i gets first_node_id + i."
  type        = number
  default     = 0
}

variable "kafka_port" {
  description = "Load balancer port of the bootstrap listener."
  type        = number
  default     = 9092
}

variable "node_port_base" {
  description = "Load balancer port of node 0; node i is advertised on node_port_base + i."
  type        = number
  default     = 9093
}

variable "zonal_advertised_addresses" {
  description = "Advertise each node at the load balancer's zonal DNS name of its own zone, so that traffic to it does not cross zones inside the load balancer."
  type        = bool
  default     = true
}

variable "task_cpu" {
  description = "CPU units of one node (1024 = 1 vCPU)."
  type        = number
  default     = 2048
}

variable "task_memory" {
  description = "Memory of one node in MiB; must be a size Fargate offers for task_cpu."
  type        = number
  default     = 8192
}

variable "reader_cache_bytes" {
  description = "Fetch cache of each node in bytes; null: 40% of task_memory."
  type        = number
  default     = null
}

variable "ingest_memory_budget_bytes" {
  description = "Bytes of open and uploading segments per node before produce is throttled; null: 25% of task_memory."
  type        = number
  default     = null
}

variable "flush_interval" {
  description = "Longest time a produced batch waits before its segment is uploaded (STRATA_INGEST_FLUSH_INTERVAL). Lower means lower latency and more PUT requests."
  type        = string
  default     = "250ms"

  validation {
    condition     = can(regex("^[0-9]+(ms|s)$", var.flush_interval))
    error_message = "flush_interval must be a duration in ms or s, such as 250ms."
  }
}

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until each node's service is stable. With -parallelism=1 an image change then restarts one node at a time."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Log level of the nodes."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "extra_environment" {
  description = "More environment variables for every node, e.g. { STRATA_METASTORE_POSTGRES_MAX_CONNS = \"32\" }. They override the module's own."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^[A-Z_][A-Z0-9_]*$", k))])
    error_message = "extra_environment keys must be environment variable names in upper case."
  }
  validation {
    condition     = !contains(keys(var.extra_environment), "PGPASSWORD")
    error_message = "PGPASSWORD comes from Secrets Manager and cannot be set in extra_environment."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the nodes' logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "container_insights" {
  description = "Enable CloudWatch Container Insights on the ECS cluster (billed as custom metrics)."
  type        = bool
  default     = false
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL metastore."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.m7g.large."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major (or major.minor) version."
  type        = string
  default     = "17"

  validation {
    condition     = can(regex("^1[4-9](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 14 or later, such as 17 or 17.4."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage of the database in GiB (gp3)."
  type        = number
  default     = 50

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 65536
    error_message = "db_allocated_storage must be 20 to 65536 GiB."
  }
}

variable "db_max_allocated_storage" {
  description = "Upper bound of storage autoscaling in GiB; 0 disables autoscaling."
  type        = number
  default     = 200

  validation {
    condition     = var.db_max_allocated_storage == 0 || (var.db_max_allocated_storage >= var.db_allocated_storage && var.db_max_allocated_storage <= 65536)
    error_message = "db_max_allocated_storage must be 0 or between db_allocated_storage and 65536."
  }
}

variable "db_multi_az" {
  description = "Run a synchronous standby of the database in a second zone. Strongly advised: the metastore is on the produce path."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups (point-in-time recovery)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be 1 to 35."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until this is turned off."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Delete the database without a final snapshot (for throwaway deployments only)."
  type        = bool
  default     = false
}

variable "db_password" {
  description = "Password of the metastore user, e.g. from an ephemeral aws_secretsmanager_random_password. Ephemeral: it never enters the plan or the state, and it is only written (to the database and the secret) when db_password_version changes."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.db_password) >= 16 && can(regex("^[A-Za-z0-9]+$", var.db_password))
    error_message = "db_password must be at least 16 letters and digits."
  }
}

variable "db_password_version" {
  description = "Increase to generate a new database password: it is written to the database and to Secrets Manager, then the nodes must be redeployed."
  type        = number
  default     = 1

  validation {
    condition     = var.db_password_version >= 1 && floor(var.db_password_version) == var.db_password_version
    error_message = "db_password_version must be a whole number, at least 1."
  }
}

variable "bucket_name" {
  description = "Name of the segment bucket; null: a unique name starting with <name>-segments-."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)."
  }
}

variable "bucket_force_destroy" {
  description = "Let terraform destroy delete the bucket with every segment in it."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for the bucket's SSE-KMS encryption; null: SSE-S3 (AES-256, no per-request KMS cost)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which incomplete multipart uploads are aborted and their parts deleted."
  type        = number
  default     = 1

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1 && var.abort_incomplete_multipart_days <= 365
    error_message = "abort_incomplete_multipart_days must be 1 to 365."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "kafka_security_protocol" {
  description = "Security protocol of the Kafka listener: SASL_SSL (TLS and SCRAM, with ACLs) or PLAINTEXT (no encryption, no authentication: only for networks where every client is trusted)."
  type        = string
  default     = "SASL_SSL"

  validation {
    condition     = contains(["SASL_SSL", "PLAINTEXT"], var.kafka_security_protocol)
    error_message = "kafka_security_protocol must be SASL_SSL or PLAINTEXT."
  }
}

variable "advertised_host" {
  description = "DNS name clients reach the load balancer by, and that the listener's certificate holds; nodes advertise <zone>.<advertised_host> with zonal_advertised_addresses. Create the records of the dns_records output. null: the load balancer's own DNS name."
  type        = string
  default     = null

  validation {
    condition     = var.advertised_host == null || can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", var.advertised_host))
    error_message = "advertised_host must be a DNS name in lower case."
  }
}

variable "tls_certificate_secret_arn" {
  description = "ARN of a Secrets Manager secret whose string is the listener's PEM certificate chain (the node's certificate first, then intermediates), for advertised_host and *.advertised_host. Required with SASL_SSL."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_security_protocol != "SASL_SSL" || var.tls_certificate_secret_arn != null
    error_message = "SASL_SSL needs tls_certificate_secret_arn: a secret holding the listener's PEM certificate chain."
  }
}

variable "tls_private_key_secret_arn" {
  description = "ARN of a Secrets Manager secret whose string is the PEM private key of the certificate. Required with SASL_SSL."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_security_protocol != "SASL_SSL" || var.tls_private_key_secret_arn != null
    error_message = "SASL_SSL needs tls_private_key_secret_arn: a secret holding the certificate's PEM private key."
  }
}

variable "admin_user" {
  description = "SCRAM user that is the Kafka listeners' super user, created by the nodes at start."
  type        = string
  default     = "admin"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.admin_user))
    error_message = "admin_user must be letters, digits, dots, dashes and underscores."
  }
}

variable "admin_password" {
  description = "Password of admin_user, e.g. from an ephemeral aws_secretsmanager_random_password. Ephemeral: it never enters the plan or the state, and it is only written to its secret when admin_password_version changes. Required with SASL_SSL."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.admin_password == null ? var.kafka_security_protocol != "SASL_SSL" : length(var.admin_password) >= 16 && can(regex("^[A-Za-z0-9]+$", var.admin_password))
    error_message = "SASL_SSL needs admin_password, at least 16 letters and digits."
  }
}

variable "admin_password_version" {
  description = "Increase to write a new admin_password to its secret. Nodes create the user only when it has none: change an existing user's password with strata users create or kafka-configs."
  type        = number
  default     = 1

  validation {
    condition     = var.admin_password_version >= 1 && floor(var.admin_password_version) == var.admin_password_version
    error_message = "admin_password_version must be a whole number, at least 1."
  }
}
