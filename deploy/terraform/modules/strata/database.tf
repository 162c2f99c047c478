# The PostgreSQL metastore. Its password comes in as an ephemeral variable
# (the example generates it with Secrets Manager at apply time) and is
# written, write-only, to the database and to a secret: it is never stored
# in the Terraform plan or state. ECS injects the secret into each node
# as PGPASSWORD, which the PostgreSQL driver reads when the URL has no
# password. A password rotated behind the nodes' back would break their new
# connections, so rotation is explicit: raise db_password_version, apply,
# and redeploy the services.

locals {
  db_port = 5432
  db_name = "strata"
  db_user = "strata"
}

resource "aws_db_subnet_group" "metastore" {
  name       = local.names.db_subnet_group
  subnet_ids = [for z in sort(keys(var.subnets)) : var.subnets[z]]
  tags       = local.tags
}

resource "aws_secretsmanager_secret" "db_password" {
  name                    = local.names.db_secret
  description             = "Password of the ${local.db_user} user of the Strata ${var.name} metastore"
  recovery_window_in_days = 7
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "db_password" {
  secret_id                = aws_secretsmanager_secret.db_password.id
  secret_string_wo         = var.db_password
  secret_string_wo_version = var.db_password_version
}

resource "aws_db_instance" "metastore" {
  identifier     = local.names.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name             = local.db_name
  username            = local.db_user
  password_wo         = var.db_password
  password_wo_version = var.db_password_version
  port                = local.db_port

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.metastore.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false

  backup_retention_period   = var.db_backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = var.db_skip_final_snapshot ? null : "${local.names.db_identifier}-final"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  tags = local.tags
}
