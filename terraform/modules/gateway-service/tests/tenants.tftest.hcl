# Tenants (an S3 object) and the fleet-wide quota store, with a mocked
# provider. Bad tenant/quota inputs are in validation.tftest.hcl.

mock_provider "aws" {
  source = "./tests"
}

# Bedrock's alarms (var.bedrock_region); here the module's own region.
mock_provider "aws" {
  alias  = "bedrock"
  source = "./tests"
}

variables {
  models = {
    "chat"   = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    "sonnet" = { model_id = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0" }
  }
  allowed_principals = ["arn:aws:iam::222222222222:root"]
}

run "quota_store_off_by_default" {
  command = apply

  assert {
    condition = (
      length(aws_elasticache_serverless_cache.quotas) == 0
      && length(aws_elasticache_user.gateway) == 0
      && length(aws_elasticache_user_group.quota_store) == 0
      && length(aws_security_group.quota_store) == 0
    )
    error_message = "Without quota_store.enabled there is no cache, no cache user and no security group."
  }
  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_QUOTAS__STORE"] == "memory" && length([for k in keys(output.container_environment) : k if startswith(k, "BEDROCK_GATEWAY_QUOTAS__REDIS__")]) == 0
    error_message = "Without the store the gateway counts in memory and gets no Redis settings."
  }
  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.this.container_definitions)[0]), "secrets")
    error_message = "The container has no secrets."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if length(regexall("elasticache:", jsonencode(s.Action))) > 0]) == 0
    error_message = "Without the store the task role may not connect to any cache."
  }
  assert {
    condition     = !contains(keys(aws_vpc_endpoint.interface), "secretsmanager") && !contains(keys(aws_vpc_endpoint.interface), "ssm")
    error_message = "No Secrets Manager / SSM endpoint is needed without secrets."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s if length(regexall("secretsmanager:|ssm:|kms:", jsonencode(s.Action))) > 0]) == 0
    error_message = "The execution role reads no secret, parameter or key."
  }
  assert {
    condition     = output.quota_store == null
    error_message = "The quota_store output is null without the store."
  }
}

run "quota_store_on" {
  command = apply

  variables {
    min_capacity = 3
    max_capacity = 12
    quota_store = {
      enabled    = true
      timeout_ms = 50
    }
  }

  # --- the cache ----------------------------------------------------------------
  assert {
    condition = (
      aws_elasticache_serverless_cache.quotas[0].engine == "valkey"
      && aws_elasticache_serverless_cache.quotas[0].major_engine_version == "8"
      && aws_elasticache_serverless_cache.quotas[0].subnet_ids == toset([for s in values(aws_subnet.private) : s.id])
      && aws_elasticache_serverless_cache.quotas[0].security_group_ids == toset([aws_security_group.quota_store[0].id])
      && aws_elasticache_serverless_cache.quotas[0].user_group_id == aws_elasticache_user_group.quota_store[0].user_group_id
      && aws_elasticache_serverless_cache.quotas[0].kms_key_id == aws_kms_key.this.arn
    )
    error_message = "A Valkey serverless cache in the private subnets, behind its own SG, with the RBAC user group and the module's KMS key."
  }
  assert {
    condition = (
      aws_elasticache_user_group.quota_store[0].engine == "valkey"
      && aws_elasticache_user_group.quota_store[0].user_ids == toset([aws_elasticache_user.gateway[0].user_id, aws_elasticache_user.disabled_default[0].user_id])
      && aws_elasticache_user.disabled_default[0].user_name == "default"
      && startswith(aws_elasticache_user.disabled_default[0].access_string, "off ")
      && aws_elasticache_user.gateway[0].access_string == "on ~bedrock-gateway* +@all -@dangerous"
      && aws_elasticache_user.gateway[0].authentication_mode[0].type == "iam"
      && aws_elasticache_user.gateway[0].authentication_mode[0].passwords == null
      && aws_elasticache_user.gateway[0].passwords == null
      && aws_elasticache_user.gateway[0].user_id == aws_elasticache_user.gateway[0].user_name
    )
    error_message = "The user group holds the gateway's IAM-authenticated user (user_id == user_name, as IAM authentication requires; keys under its prefix only) and a disabled default user."
  }

  # --- network: only the tasks reach the cache ------------------------------------
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].security_group_id == aws_security_group.quota_store[0].id
      && aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].referenced_security_group_id == aws_security_group.tasks.id
      && aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].cidr_ipv4 == null
      && aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].from_port == 6379
      && aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].to_port == 6379
    )
    error_message = "The quota store SG admits only the task SG, on 6379."
  }
  assert {
    condition = length([
      for r in concat(values(aws_vpc_security_group_ingress_rule.nlb_grpc), values(aws_vpc_security_group_ingress_rule.nlb_tls), [aws_vpc_security_group_ingress_rule.tasks_from_nlb], aws_vpc_security_group_ingress_rule.endpoints_from_tasks) :
      r if r.security_group_id == aws_security_group.quota_store[0].id
    ]) == 0
    error_message = "No other ingress rule may open the quota store SG."
  }
  assert {
    condition = (
      aws_vpc_security_group_egress_rule.tasks_to_quota_store[0].security_group_id == aws_security_group.tasks.id
      && aws_vpc_security_group_egress_rule.tasks_to_quota_store[0].referenced_security_group_id == aws_security_group.quota_store[0].id
      && aws_vpc_security_group_egress_rule.tasks_to_quota_store[0].from_port == 6379
    )
    error_message = "The tasks may leave on 6379 towards the quota store SG only."
  }

  # --- no password: IAM authentication with the task role ------------------------
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "ConnectToQuotaStore"]) == {
      Sid      = "ConnectToQuotaStore"
      Effect   = "Allow"
      Action   = ["elasticache:Connect"]
      Resource = [aws_elasticache_serverless_cache.quotas[0].arn, aws_elasticache_user.gateway[0].arn]
    }
    error_message = "The task role may elasticache:Connect to the cache and as the gateway's user: both ARNs, nothing else."
  }
  assert {
    condition = length([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s
      if length(regexall("elasticache:", jsonencode(s.Action))) > 0 && s.Sid != "ConnectToQuotaStore"
    ]) == 0
    error_message = "No other statement of the task role grants an ElastiCache action."
  }
  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.this.container_definitions)[0]), "secrets")
    error_message = "The container gets no secret: the token is signed with the task role."
  }
  # The only password the plan holds is the disabled default user's, which
  # a Valkey user group requires and which authenticates nothing ("off").
  assert {
    condition = (
      length([for k in keys(output.container_environment) : k if strcontains(k, "PASSWORD")]) == 0
      && aws_elasticache_user.disabled_default[0].access_string == "off -@all"
    )
    error_message = "No password reaches the container, no secret holds one; the default user's is unusable."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s if length(regexall("secretsmanager:|ssm:|kms:", jsonencode(s.Action))) > 0]) == 0
    error_message = "The execution role reads no secret, parameter or key."
  }
  assert {
    condition     = !contains(keys(aws_vpc_endpoint.interface), "secretsmanager")
    error_message = "No Secrets Manager endpoint: nothing reads a secret."
  }

  # --- gateway configuration ---------------------------------------------------------------
  assert {
    condition = {
      for k, v in output.container_environment : k => v if startswith(k, "BEDROCK_GATEWAY_QUOTAS__")
      } == {
      "BEDROCK_GATEWAY_QUOTAS__STORE"               = "redis"
      "BEDROCK_GATEWAY_QUOTAS__FALLBACK_TASK_COUNT" = "3"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__URL"          = "rediss://bedrock-gateway-quotas-abc123.serverless.euw1.cache.amazonaws.com:6379"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__USERNAME"     = "bedrock-gateway-gateway"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__CLUSTER"      = "true"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__TIMEOUT_MS"   = "50"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__KEY_PREFIX"   = "bedrock-gateway"
      # quotas.redis.iam_auth; credentials: the default chain (the task role).
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__CACHE_NAME" = "bedrock-gateway-quotas"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__SERVERLESS" = "true"
      "BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__REGION"     = "eu-west-1"
    }
    error_message = "The gateway must run with the redis store over TLS (rediss://), cluster mode, the RBAC user with IAM authentication on the serverless cache in its region (no password), and fallback = min_capacity."
  }
  assert {
    condition = output.quota_store == {
      cache_name = "bedrock-gateway-quotas"
      cache_arn  = "arn:aws:elasticache:eu-west-1:111111111111:serverlesscache:bedrock-gateway-quotas"
      url        = "rediss://bedrock-gateway-quotas-abc123.serverless.euw1.cache.amazonaws.com:6379"
      username   = "bedrock-gateway-gateway"
      user_arn   = aws_elasticache_user.gateway[0].arn
    }
    error_message = "The quota_store output names the cache, the URL and the user (there is no password or secret)."
  }
}

run "quota_store_fallback_task_count" {
  command = apply

  variables {
    min_capacity = 3
    max_capacity = 12
    quota_store = {
      enabled             = true
      fallback_task_count = 8
    }
  }

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_QUOTAS__FALLBACK_TASK_COUNT"] == "8"
    error_message = "quota_store.fallback_task_count, when set, is the gateway's quotas.fallback_task_count instead of min_capacity."
  }
}

run "tenants_in_s3" {
  command = apply

  variables {
    proxy_protocol_v2      = true
    require_identity       = true
    require_endpoint_match = true
    tenants_reload_seconds = 30
    tenants = {
      team_a = {
        api_keys = {
          ci   = { sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" }
          next = { sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", not_before = "2026-01-01T00:00:00Z", expires_on = "2026-12-31" }
        }
        vpc_endpoint_ids = ["vpce-0123456789abcdef0", "vpce-0fedcba9876543210"]
        models           = ["chat"]
        quotas           = { requests_per_minute = 600, tokens_per_minute = 100000 }
        model_quotas     = { chat = { concurrent_requests = 20 } }
      }
      payments = {
        quotas = { concurrent_requests = 5 }
      }
      batch = {}
    }
  }

  assert {
    condition = jsondecode(aws_s3_object.tenants.content) == {
      tenants = {
        team_a = {
          api_keys = {
            ci   = { sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" }
            next = { sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", not_before = "2026-01-01T00:00:00Z", expires_on = "2026-12-31" }
          }
          vpc_endpoint_ids = ["vpce-0123456789abcdef0", "vpce-0fedcba9876543210"]
          models           = ["chat"]
          quotas           = { requests_per_minute = 600, tokens_per_minute = 100000 }
          model_quotas     = { chat = { concurrent_requests = 20 } }
        }
        payments = { quotas = { concurrent_requests = 5 } }
        batch    = {}
      }
    }
    error_message = "The tenants object is the gateway's {\"tenants\": {...}} document, unset attributes left out."
  }
  assert {
    condition = (
      aws_s3_object.tenants.bucket == aws_s3_bucket.catalog.id && aws_s3_object.tenants.key == "tenants.json"
      && aws_s3_object.tenants.kms_key_id == aws_kms_key.this.arn && aws_s3_object.tenants.server_side_encryption == "aws:kms"
    )
    error_message = "The tenants object lies next to the catalog, encrypted with the module's key."
  }
  assert {
    condition = {
      for k, v in output.container_environment : k => v if startswith(k, "BEDROCK_GATEWAY_TENANTS") || startswith(k, "BEDROCK_GATEWAY_AUTH__")
      } == {
      "BEDROCK_GATEWAY_AUTH__REQUIRE_ENDPOINT_MATCH" = "true"
      "BEDROCK_GATEWAY_AUTH__REQUIRE_IDENTITY"       = "true"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__BUCKET"   = aws_s3_bucket.catalog.id
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__KEY"      = "tenants.json"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__REGION"   = "eu-west-1"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__RELOAD_SECS"  = "30"
    }
    error_message = "The task definition names where the tenants are (tenants_source.s3), never the tenants themselves."
  }
  assert {
    condition = (
      contains(one([for s in jsondecode(aws_iam_role_policy.task_catalog.policy).Statement : s.Resource if s.Sid == "ReadCatalogAndTenants"]), "${aws_s3_bucket.catalog.arn}/tenants.json")
      && contains(one([for s in jsondecode(aws_vpc_endpoint.s3[0].policy).Statement : s.Resource if s.Sid == "GatewayCatalogAndTenants"]), "${aws_s3_bucket.catalog.arn}/tenants.json")
    )
    error_message = "The task role, and the S3 endpoint for it, may read the tenants object."
  }
  assert {
    condition     = output.tenants.uri == "s3://${aws_s3_bucket.catalog.id}/tenants.json"
    error_message = "The tenants output names the object."
  }
  assert {
    condition     = length(aws_elasticache_serverless_cache.quotas) == 0 && output.container_environment["BEDROCK_GATEWAY_QUOTAS__STORE"] == "memory"
    error_message = "Tenants alone do not create the quota store."
  }
}

# Onboarding a team (and a key of its own) after the run above changes the
# tenants object, not the task definition: a replaced task definition's ARN
# would be unknown in this plan.
run "onboarding_a_team_changes_only_the_object" {
  command = plan

  variables {
    proxy_protocol_v2      = true
    require_identity       = true
    require_endpoint_match = true
    tenants_reload_seconds = 30
    tenants = {
      payments = { quotas = { concurrent_requests = 5 } }
      search   = { api_keys = { prod = { sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" } } }
    }
  }

  assert {
    condition     = aws_ecs_task_definition.this.arn == run.tenants_in_s3.task_definition_arn
    error_message = "A tenant change must not touch the task definition."
  }
  assert {
    condition     = keys(jsondecode(aws_s3_object.tenants.content).tenants) == ["payments", "search"]
    error_message = "The tenants object carries the new tenants."
  }
}
