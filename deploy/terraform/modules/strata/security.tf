# Kafka security. By default every node serves one SASL_SSL listener (the
# container's Kafka port, behind the load balancer's TCP listeners, which
# pass TLS through untouched): TLS with the certificate and key of two
# Secrets Manager secrets, SCRAM-SHA-512 and SCRAM-SHA-256, and ACLs, with
# one super user, admin_user, whose password Terraform writes to a secret
# of its own. ECS gives the three secrets to each node as environment
# variables (the container has no writable disk): the node reads the
# certificate from STRATA_KAFKA_TLS_CERT_PEM and STRATA_KAFKA_TLS_KEY_PEM,
# and creates admin_user from STRATA_AUTH_BOOTSTRAP_PASSWORD at start when
# the user has no credential yet. No secret is ever an environment value
# in the task definition, a command-line argument or a log line.
#
# Clients must trust the authority that signed the certificate, and reach
# the nodes by names the certificate holds: advertised_host (or the load
# balancer's DNS name) and, with zonal_advertised_addresses, each zone's
# <zone>.<advertised_host>.

locals {
  sasl_ssl = var.kafka_security_protocol == "SASL_SSL"

  advertised_host = coalesce(var.advertised_host, aws_lb.kafka.dns_name)

  # What a SASL_SSL node adds to the layout's environment; the layout's
  # single PLAINTEXT listener (listen and advertised address) gives way
  # to the named listener.
  security_environment = {
    for k, n in local.nodes : k => local.sasl_ssl ? merge(
      {
        STRATA_KAFKA_LISTENERS       = "SASL_SSL://:${local.ports.kafka}"
        STRATA_KAFKA_SASL_MECHANISMS = "SCRAM-SHA-512,SCRAM-SHA-256"
        STRATA_AUTH_SUPER_USERS      = "User:${var.admin_user}"
        STRATA_AUTH_BOOTSTRAP_USER   = var.admin_user
        # The console (admin port, inside the VPC) reads the cluster as
        # admin_user through the listener; it trusts the system's
        # authorities, so a certificate of a private CA needs
        # STRATA_CONSOLE_TLS_CA_FILE in an image that holds the CA.
        STRATA_CONSOLE_USER = var.admin_user
      },
      module.layout.advertised_addresses[k] == null ? {} : {
        STRATA_KAFKA_ADVERTISED_LISTENERS = "SASL_SSL://${module.layout.advertised_addresses[k]}"
      },
    ) : {}
  }
  replaced_by_listeners = local.sasl_ssl ? ["STRATA_KAFKA_LISTEN_ADDRESS", "STRATA_KAFKA_ADVERTISED_ADDRESS"] : []

  # ECS secrets of every node: name in the container, secret ARN.
  node_secrets = concat(
    [{ name = "PGPASSWORD", valueFrom = aws_secretsmanager_secret.db_password.arn }],
    local.sasl_ssl ? [
      { name = "STRATA_AUTH_BOOTSTRAP_PASSWORD", valueFrom = aws_secretsmanager_secret.admin_password[0].arn },
      { name = "STRATA_CONSOLE_PASSWORD", valueFrom = aws_secretsmanager_secret.admin_password[0].arn },
      { name = "STRATA_KAFKA_TLS_CERT_PEM", valueFrom = var.tls_certificate_secret_arn },
      { name = "STRATA_KAFKA_TLS_KEY_PEM", valueFrom = var.tls_private_key_secret_arn },
    ] : [],
  )
  listener_secret_arns = local.sasl_ssl ? [
    aws_secretsmanager_secret.admin_password[0].arn, var.tls_certificate_secret_arn, var.tls_private_key_secret_arn,
  ] : []
}

resource "aws_secretsmanager_secret" "admin_password" {
  count = local.sasl_ssl ? 1 : 0

  name                    = "${var.name}/kafka-admin-password"
  description             = "SCRAM password of ${var.admin_user}, the super user of the Strata ${var.name} Kafka listeners"
  recovery_window_in_days = 7
  tags                    = local.tags
}

# Write-only, as the database password: the password never enters the plan
# or the state. Nodes create the user with it only when the user has no
# credential; to change the password later, use strata users create or
# kafka-configs (and store the new one here for the record).
resource "aws_secretsmanager_secret_version" "admin_password" {
  count = local.sasl_ssl ? 1 : 0

  secret_id                = aws_secretsmanager_secret.admin_password[0].id
  secret_string_wo         = var.admin_password
  secret_string_wo_version = var.admin_password_version
}
