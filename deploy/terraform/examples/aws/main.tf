# A complete Strata deployment in a new VPC: private subnets for the nodes and
# the database in zone_count zones, public subnets for one NAT gateway (image
# pulls, Secrets Manager, CloudWatch Logs) and, when internet_facing, for the
# load balancer. S3 traffic goes through a gateway endpoint, which is free and
# keeps segment uploads off the NAT gateway.

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  zones = slice(sort(data.aws_availability_zones.available.names), 0, var.zone_count)
  tags  = { "strata:deployment" = var.name }
}

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "private" {
  for_each = { for i, z in local.zones : z => i }

  vpc_id            = aws_vpc.main.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, each.value)
  tags              = merge(local.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_subnet" "public" {
  for_each = { for i, z in local.zones : z => i }

  vpc_id            = aws_vpc.main.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, 240 + each.value)
  tags              = merge(local.tags, { Name = "${var.name}-public-${each.key}" })
}

resource "aws_eip" "nat" {
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.name}-nat" })
}

# One NAT gateway keeps the example cheap; use one per zone when losing a
# zone must not stop new tasks from starting elsewhere.
resource "aws_nat_gateway" "main" {
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[local.zones[0]].id
  tags          = merge(local.tags, { Name = var.name })

  depends_on = [aws_internet_gateway.main]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  tags   = merge(local.tags, { Name = "${var.name}-public" })

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  tags   = merge(local.tags, { Name = "${var.name}-private" })

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main.id
  }
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private.id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id, aws_route_table.public.id]
  tags              = merge(local.tags, { Name = "${var.name}-s3" })
}

# A new password is generated on every run, but it is only written to the
# database and the secret when db_password_version changes.
ephemeral "aws_secretsmanager_random_password" "db" {
  password_length     = 40
  exclude_punctuation = true
}

# The SCRAM password of the Kafka super user "admin", generated the same
# way and written, write-only, to its own secret by the module.
ephemeral "aws_secretsmanager_random_password" "admin" {
  password_length     = 40
  exclude_punctuation = true
}

module "strata" {
  source = "../../modules/strata"

  name                = var.name
  vpc_id              = aws_vpc.main.id
  subnets             = { for z, s in aws_subnet.private : z => s.id }
  lb_subnets          = var.internet_facing ? { for z, s in aws_subnet.public : z => s.id } : {}
  internal            = !var.internet_facing
  kafka_allowed_cidrs = var.kafka_allowed_cidrs

  image       = var.image
  node_count  = var.node_count
  task_cpu    = var.task_cpu
  task_memory = var.task_memory

  db_instance_class      = var.db_instance_class
  db_multi_az            = var.db_multi_az
  db_deletion_protection = var.db_deletion_protection
  db_password            = ephemeral.aws_secretsmanager_random_password.db.random_password
  db_password_version    = var.db_password_version

  tls_certificate_secret_arn = var.tls_certificate_secret_arn
  tls_private_key_secret_arn = var.tls_private_key_secret_arn
  advertised_host            = var.advertised_host
  admin_password             = ephemeral.aws_secretsmanager_random_password.admin.random_password
  admin_password_version     = var.admin_password_version

  tags = local.tags

  # Tasks must be able to pull their image and reach S3 when they start.
  depends_on = [
    aws_route_table_association.private,
    aws_vpc_endpoint.s3,
  ]
}
