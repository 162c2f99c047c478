variable "name" {
  description = "Name of the deployment. Every resource name is derived from it, so it must be unique per account and region."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3 to 20 characters of lower-case letters, digits and single hyphens, start with a letter and not end with a hyphen (it prefixes load balancer and target group names, which are limited to 32 characters)."
  }
}

variable "zones" {
  description = "Availability zones the nodes are spread over, in order: node i runs in zones[i % length(zones)]."
  type        = list(string)

  validation {
    condition     = length(var.zones) >= 1 && length(var.zones) <= 6
    error_message = "zones must list 1 to 6 availability zones."
  }
  validation {
    condition     = length(distinct(var.zones)) == length(var.zones)
    error_message = "zones must not repeat a zone."
  }
  validation {
    condition     = alltrue([for z in var.zones : can(regex("^[a-z]{2}(-[a-z0-9]+)*-[0-9]+[a-z]$", z))])
    error_message = "zones must be availability zone names such as us-east-1a."
  }
}

variable "node_count" {
  description = "Number of Strata nodes. Each node has its own broker id, zone and load balancer port."
  type        = number
  default     = 3

  validation {
    # A Network Load Balancer has 50 listeners by default: one bootstrap
    # listener and one per node.
    condition     = var.node_count >= 1 && var.node_count <= 48 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 48."
  }
}

variable "first_node_id" {
  description = "Broker id of node 0; node i gets first_node_id + i."
  type        = number
  default     = 0

  validation {
    condition     = var.first_node_id >= 0 && var.first_node_id <= 2147483000 && floor(var.first_node_id) == var.first_node_id
    error_message = "first_node_id must be a whole number from 0 to 2147483000."
  }
}

variable "kafka_port" {
  description = "Load balancer port of the bootstrap listener, which reaches any node."
  type        = number
  default     = 9092

  validation {
    condition     = var.kafka_port >= 1 && var.kafka_port <= 65535 && floor(var.kafka_port) == var.kafka_port
    error_message = "kafka_port must be a TCP port number."
  }
}

variable "node_port_base" {
  description = "Load balancer port of node 0's own listener; node i is reached on node_port_base + i."
  type        = number
  default     = 9093

  validation {
    condition     = var.node_port_base >= 1024 && var.node_port_base + var.node_count - 1 <= 65535 && floor(var.node_port_base) == var.node_port_base
    error_message = "node_port_base must be a whole number, at least 1024, with node_port_base + node_count - 1 at most 65535."
  }
  validation {
    condition     = var.kafka_port < var.node_port_base || var.kafka_port > var.node_port_base + var.node_count - 1
    error_message = "The node ports node_port_base .. node_port_base + node_count - 1 must not include kafka_port."
  }
}

variable "advertised_host" {
  description = "Host name clients reach the nodes through (the load balancer's DNS name); null while unknown. Node addresses are derived from it."
  type        = string
  default     = null

  validation {
    condition     = var.advertised_host == null || can(regex("^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$", var.advertised_host))
    error_message = "advertised_host must be a DNS name without a port."
  }
}

variable "zonal_advertised_addresses" {
  description = "Advertise each node as <zone>.<advertised_host>, the Network Load Balancer's zonal DNS name, so that a client's connection enters the load balancer in the node's own zone."
  type        = bool
  default     = true
}

variable "task_cpu" {
  description = "CPU units of one node's Fargate task (1024 = 1 vCPU)."
  type        = number
  default     = 2048

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be one of Fargate's sizes: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Memory of one node's Fargate task, in MiB. It must be a size Fargate offers for task_cpu."
  type        = number
  default     = 8192

  validation {
    condition = contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = [1024, 2048, 3072, 4096]
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }, tostring(var.task_cpu), []), var.task_memory)
    error_message = "task_memory is not a memory size Fargate offers for task_cpu (for example 2048 CPU units take 4096 to 16384 MiB in steps of 1024)."
  }
}

variable "reader_cache_bytes" {
  description = "Bytes of the fetch cache of each node (STRATA_READER_CACHE_BYTES); null: 40% of the task's memory."
  type        = number
  default     = null

  validation {
    condition     = var.reader_cache_bytes == null || try(var.reader_cache_bytes >= 16777216, false)
    error_message = "reader_cache_bytes must be at least 16 MiB (16777216)."
  }
}

variable "ingest_memory_budget_bytes" {
  description = "Bytes of open and uploading segments before produce is throttled (STRATA_INGEST_MEMORY_BUDGET); null: 25% of the task's memory."
  type        = number
  default     = null

  validation {
    condition     = var.ingest_memory_budget_bytes == null || try(var.ingest_memory_budget_bytes >= 16777216, false)
    error_message = "ingest_memory_budget_bytes must be at least 16 MiB (16777216)."
  }
}
