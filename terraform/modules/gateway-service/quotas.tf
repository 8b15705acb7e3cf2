###############################################################################
# Tenants and the fleet-wide quota store
#
# Tenants are a document in S3 next to the catalog (catalog.tf), so that a
# team is onboarded or a key rotated without a deployment. The store has no
# password: the gateway signs an ElastiCache IAM authentication token with
# the task role and renews it before it expires, so nothing secret is in
# Terraform state, the task definition or Secrets Manager.
###############################################################################

locals {
  quota_store_enabled = var.quota_store.enabled
  quota_key_prefix    = coalesce(var.quota_store.key_prefix, var.name)
  quota_store_subnets = var.quota_store.subnet_ids != null ? var.quota_store.subnet_ids : local.private_subnet_ids
  # ElastiCache Serverless serves Valkey's primary endpoint on 6379, always
  # over TLS (the reader port 6380 is not used: quota checks are writes).
  quota_store_port = 6379

  quota_limit_names = ["requests_per_minute", "tokens_per_minute", "concurrent_requests"]

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
      # quotas.redis.iam_auth: the token names the cache and is signed in its
      # region (credentials: the default chain, i.e. the task role).
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__CACHE_NAME" = aws_elasticache_serverless_cache.quotas[0].name
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__SERVERLESS" = "true"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__REGION"     = local.region
    } : {}
  )

  # The task role connects as the gateway's user to the cache: IAM checks
  # elasticache:Connect on both ARNs.
  quota_store_statements = local.quota_store_enabled ? [{
    Sid      = "ConnectToQuotaStore"
    Effect   = "Allow"
    Action   = ["elasticache:Connect"]
    Resource = [aws_elasticache_serverless_cache.quotas[0].arn, aws_elasticache_user.gateway[0].arn]
  }] : []
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

# The password slots of earlier versions (the user authenticated with
# passwords before IAM). Destroying the secrets only schedules their deletion
# (recovery_window_in_days = 7), which the README's upgrade note relies on.
removed {
  from = aws_secretsmanager_secret_version.quota_store
  lifecycle {
    destroy = true
  }
}

removed {
  from = aws_secretsmanager_secret.quota_store
  lifecycle {
    destroy = true
  }
}

removed {
  from = terraform_data.quota_store_password_generation
  lifecycle {
    destroy = true
  }
}

# IAM authentication requires user_id == user_name.
resource "aws_elasticache_user" "gateway" {
  count = local.quota_store_enabled ? 1 : 0

  user_id   = "${var.name}-gateway"
  user_name = "${var.name}-gateway"
  engine    = "valkey"
  # Only keys under the gateway's prefix; no admin, flush or key-scan commands.
  access_string = "on ~${local.quota_key_prefix}* +@all -@dangerous"

  authentication_mode {
    type = "iam"
  }

  tags = local.tags
}

# A user group must hold a user named "default", and a Valkey group's users
# authenticate by password or IAM; IAM would need the user id "default",
# which every account's built-in default user holds. So this one has a
# password, generated and then ignored, and is switched off: no connection
# can authenticate as it, whatever the password.
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
