###############################################################################
# Tenants and the fleet-wide quota store
#
# Tenants are plain configuration (environment variables). Secrets, the API
# key digests and the store's password, reach the container only as ECS
# `secrets`: the execution role reads them from Secrets Manager / SSM when a
# task starts, so they are never in the task definition or a variable.
###############################################################################

locals {
  quota_store_enabled = var.quota_store.enabled
  quota_key_prefix    = coalesce(var.quota_store.key_prefix, var.name)
  quota_store_subnets = var.quota_store.subnet_ids != null ? var.quota_store.subnet_ids : local.private_subnet_ids
  # ElastiCache Serverless serves Valkey's primary endpoint on 6379, always
  # over TLS (the reader port 6380 is not used: quota checks are writes).
  quota_store_port = 6379

  quota_limit_names = ["requests_per_minute", "tokens_per_minute", "concurrent_requests"]

  tenant_env = merge(flatten([
    for name, t in var.tenants : [
      length(t.vpc_endpoint_ids) == 0 ? {} : { "BEDROCK_GATEWAY_TENANTS__${upper(name)}__VPC_ENDPOINT_IDS" = jsonencode(t.vpc_endpoint_ids) },
      t.models == null ? {} : { "BEDROCK_GATEWAY_TENANTS__${upper(name)}__MODELS" = jsonencode(t.models) },
      { for q in local.quota_limit_names : "BEDROCK_GATEWAY_TENANTS__${upper(name)}__QUOTAS__${upper(q)}" => tostring(t.quotas[q]) if t.quotas[q] != null },
      [
        for alias, limits in t.model_quotas : {
          for q in local.quota_limit_names : "BEDROCK_GATEWAY_TENANTS__${upper(name)}__MODEL_QUOTAS__${upper(alias)}__${upper(q)}" => tostring(limits[q]) if limits[q] != null
        }
      ],
    ]
  ])...)

  auth_env = merge(
    { "BEDROCK_GATEWAY_AUTH__REQUIRE_ENDPOINT_MATCH" = tostring(var.require_endpoint_match) },
    var.require_identity == null ? {} : { "BEDROCK_GATEWAY_AUTH__REQUIRE_IDENTITY" = tostring(var.require_identity) },
  )

  quota_env = merge(
    {
      "BEDROCK_GATEWAY_QUOTAS__STORE" = local.quota_store_enabled ? "redis" : "memory"
      # While the store is unreachable each task enforces quota / this on its own.
      "BEDROCK_GATEWAY_QUOTAS__FALLBACK_TASK_COUNT" = tostring(coalesce(var.quota_store.fallback_task_count, var.min_capacity))
    },
    local.quota_store_enabled ? {
      "BEDROCK_GATEWAY_QUOTAS__REDIS__URL"        = "rediss://${aws_elasticache_serverless_cache.quotas[0].endpoint[0].address}:${aws_elasticache_serverless_cache.quotas[0].endpoint[0].port}"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__USERNAME"   = aws_elasticache_user.gateway[0].user_name
      "BEDROCK_GATEWAY_QUOTAS__REDIS__CLUSTER"    = "true" # serverless caches speak the cluster protocol
      "BEDROCK_GATEWAY_QUOTAS__REDIS__TIMEOUT_MS" = tostring(var.quota_store.timeout_ms)
      "BEDROCK_GATEWAY_QUOTAS__REDIS__KEY_PREFIX" = local.quota_key_prefix
    } : {}
  )

  # env var name => ARN, injected by ECS from Secrets Manager or SSM.
  container_secrets = merge(
    {
      for ref, arn in var.tenant_api_key_secrets :
      "BEDROCK_GATEWAY_TENANTS__${upper(split(".", ref)[0])}__API_KEYS__${upper(split(".", ref)[1])}" => arn
    },
    local.quota_store_enabled ? { "BEDROCK_GATEWAY_QUOTAS__REDIS__PASSWORD" = aws_secretsmanager_secret.quota_store[0].arn } : {},
  )

  tenant_key_secret_arns    = [for arn in values(var.tenant_api_key_secrets) : arn if strcontains(arn, ":secretsmanager:")]
  tenant_key_parameter_arns = [for arn in values(var.tenant_api_key_secrets) : arn if strcontains(arn, ":ssm:")]

  # What the execution role (and the interface endpoints) must let through.
  readable_secret_arns    = concat(local.quota_store_enabled ? [aws_secretsmanager_secret.quota_store[0].arn] : [], local.tenant_key_secret_arns)
  readable_parameter_arns = local.tenant_key_parameter_arns
  secret_kms_key_arns     = concat(local.quota_store_enabled ? [aws_kms_key.this.arn] : [], var.tenant_api_key_kms_key_arns)

  # Decided from inputs known at plan time: they choose interface endpoints.
  needs_secretsmanager = local.quota_store_enabled || length(local.tenant_key_secret_arns) > 0
  needs_ssm            = length(local.tenant_key_parameter_arns) > 0
}

###############################################################################
# Quota store: ElastiCache Serverless for Valkey (only with quota_store.enabled)
###############################################################################

resource "aws_security_group" "quota_store" {
  count = local.quota_store_enabled ? 1 : 0

  name_prefix = "${var.name}-quota-store-"
  description = "Quota store of the Bedrock gateway: only the gateway tasks may connect"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-quota-store" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "quota_store_from_tasks" {
  count = local.quota_store_enabled ? 1 : 0

  security_group_id            = aws_security_group.quota_store[0].id
  description                  = "Valkey over TLS from the gateway tasks only"
  ip_protocol                  = "tcp"
  from_port                    = local.quota_store_port
  to_port                      = local.quota_store_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_quota_store" {
  count = local.quota_store_enabled ? 1 : 0

  security_group_id            = aws_security_group.tasks.id
  description                  = "Valkey over TLS to the quota store"
  ip_protocol                  = "tcp"
  from_port                    = local.quota_store_port
  to_port                      = local.quota_store_port
  referenced_security_group_id = aws_security_group.quota_store[0].id
}

# The password is generated by Secrets Manager itself. It is kept in Terraform
# state (the ElastiCache user needs it), never in a variable, an output or
# the task definition. Rotate: apply with
# -replace=aws_secretsmanager_secret_version.quota_store[0], then redeploy
# the service; until then tasks fail AUTH and run on the fallback limits.
data "aws_secretsmanager_random_password" "quota_store" {
  count = local.quota_store_enabled ? 1 : 0

  password_length            = 64
  exclude_punctuation        = true
  require_each_included_type = true
}

resource "aws_secretsmanager_secret" "quota_store" {
  #checkov:skip=CKV2_AWS_57:The password is shared by the ElastiCache user and the running tasks, so Secrets Manager rotation without a rotation Lambda that also updates the user would lock the gateway out; rotate with -replace (see the module README).
  count = local.quota_store_enabled ? 1 : 0

  name_prefix             = "${var.name}-quota-store-"
  description             = "Password of the ${var.name} gateway's ElastiCache user (quotas.redis.password)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "quota_store" {
  count = local.quota_store_enabled ? 1 : 0

  secret_id     = aws_secretsmanager_secret.quota_store[0].id
  secret_string = data.aws_secretsmanager_random_password.quota_store[0].random_password

  lifecycle {
    # The data source returns a new password on every plan; only -replace rotates.
    ignore_changes = [secret_string]
  }
}

resource "aws_elasticache_user" "gateway" {
  count = local.quota_store_enabled ? 1 : 0

  user_id   = "${var.name}-gateway"
  user_name = "${var.name}-gateway"
  engine    = "valkey"
  # Only keys under the gateway's prefix; no admin, flush or key-scan commands.
  access_string = "on ~${local.quota_key_prefix}* +@all -@dangerous"

  authentication_mode {
    type      = "password"
    passwords = [aws_secretsmanager_secret_version.quota_store[0].secret_string]
  }

  tags = local.tags
}

# A user group must hold a user named "default"; this one is switched off,
# and its password is generated and then forgotten.
data "aws_secretsmanager_random_password" "quota_store_default_user" {
  count = local.quota_store_enabled ? 1 : 0

  password_length            = 64
  exclude_punctuation        = true
  require_each_included_type = true
}

resource "aws_elasticache_user" "disabled_default" {
  count = local.quota_store_enabled ? 1 : 0

  user_id       = "${var.name}-default-off"
  user_name     = "default"
  engine        = "valkey"
  access_string = "off -@all"

  authentication_mode {
    type      = "password"
    passwords = [data.aws_secretsmanager_random_password.quota_store_default_user[0].random_password]
  }

  lifecycle {
    ignore_changes = [authentication_mode]
  }

  tags = local.tags
}

resource "aws_elasticache_user_group" "quota_store" {
  count = local.quota_store_enabled ? 1 : 0

  user_group_id = "${var.name}-quotas"
  engine        = "valkey"
  user_ids      = [aws_elasticache_user.disabled_default[0].user_id, aws_elasticache_user.gateway[0].user_id]

  tags = local.tags
}

resource "aws_elasticache_serverless_cache" "quotas" {
  count = local.quota_store_enabled ? 1 : 0

  name                 = "${var.name}-quotas"
  description          = "Quota counters of the ${var.name} Bedrock gateway"
  engine               = "valkey"
  major_engine_version = var.quota_store.major_engine_version
  subnet_ids           = local.quota_store_subnets
  security_group_ids   = [aws_security_group.quota_store[0].id]
  user_group_id        = aws_elasticache_user_group.quota_store[0].user_group_id
  kms_key_id           = aws_kms_key.this.arn

  # Counters live for a minute or so: a snapshot would restore stale windows.
  snapshot_retention_limit = 0

  cache_usage_limits {
    data_storage {
      maximum = var.quota_store.max_data_storage_gb
      unit    = "GB"
    }
    dynamic "ecpu_per_second" {
      for_each = var.quota_store.max_ecpu_per_second == null ? [] : [var.quota_store.max_ecpu_per_second]
      content {
        maximum = ecpu_per_second.value
      }
    }
  }

  tags = local.tags
}
