# Composition test of the two-accounts example: each account's provider is
# mocked separately, so this runs offline.

mock_provider "aws" {
  alias  = "gateway"
  source = "../../modules/gateway-service/tests"
}

mock_provider "aws" {
  alias  = "gateway_bedrock"
  source = "../../modules/gateway-service/tests"
}

mock_provider "aws" {
  alias = "client"

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "222222222222"
      arn        = "arn:aws:iam::222222222222:role/terraform"
      user_id    = "AROAEXAMPLE"
    }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.90.0.0/16" }
  }
  # The gateway's endpoint service seen from the client account: its zones
  # a, b, c are euw1-az2, euw1-az3, euw1-az1 in this account.
  mock_data "aws_vpc_endpoint_service" {
    defaults = { availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_availability_zones" {
    defaults = {
      names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      zone_ids = ["euw1-az2", "euw1-az3", "euw1-az1"]
    }
  }
  mock_resource "aws_vpc_endpoint" {
    defaults = {
      id = "vpce-0123456789abcdef0"
      dns_entry = [{
        dns_name       = "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.eu-west-1.vpce.amazonaws.com"
        hosted_zone_id = "Z38GZ743OKFT7T"
      }]
    }
  }
}

variables {
  gateway_account_role_arn   = "arn:aws:iam::111111111111:role/terraform"
  client_account_role_arn    = "arn:aws:iam::222222222222:role/terraform"
  client_vpc_id              = "vpc-0cccccccccccccccc"
  client_subnet_ids          = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2"]
  enable_deletion_protection = true
}

# The client subnets are in zone IDs euw1-az3 and euw1-az2 (what the client
# account calls eu-west-1b and eu-west-1a).
override_data {
  target = data.aws_subnet.client["subnet-0ccccccccccccccc1"]
  values = { availability_zone_id = "euw1-az3" }
}
override_data {
  target = data.aws_subnet.client["subnet-0ccccccccccccccc2"]
  values = { availability_zone_id = "euw1-az2" }
}
override_data {
  target = module.client.data.aws_subnet.endpoint[0]
  values = { availability_zone_id = "euw1-az3" }
}
override_data {
  target = module.client.data.aws_subnet.endpoint[1]
  values = { availability_zone_id = "euw1-az2" }
}

run "wiring" {
  command = apply

  assert {
    condition     = module.gateway.endpoint_service_allowed_principals == toset(["arn:aws:iam::222222222222:root"])
    error_message = "Only the client account may connect to the endpoint service."
  }
  assert {
    condition     = aws_vpc_endpoint_connection_accepter.client.vpc_endpoint_id == module.client.vpc_endpoint_id
    error_message = "The gateway account must accept the client's endpoint."
  }
  assert {
    condition     = output.grpc_endpoint == "http://llm.internal:50051"
    error_message = "Microservices dial http://llm.internal:50051."
  }
  assert {
    condition = jsonencode(module.gateway.tenants.document) == jsonencode({
      client_account = {
        vpc_endpoint_ids = ["vpce-0123456789abcdef0"]
        quotas           = { requests_per_minute = 600, tokens_per_minute = 200000, concurrent_requests = 50 }
      }
    })
    error_message = "The client account is a tenant identified by its interface endpoint's id, with quotas, in the tenants object."
  }
  assert {
    condition     = output.client_tenant.vpc_endpoint_id == module.client.vpc_endpoint_id && module.gateway.container_environment["BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL"] == "true"
    error_message = "Endpoint ids reach the gateway only with the PROXY protocol on."
  }
  assert {
    condition     = module.gateway.container_environment["BEDROCK_GATEWAY_QUOTAS__STORE"] == "redis" && startswith(module.gateway.quota_store.url, "rediss://") && module.gateway.container_environment["BEDROCK_GATEWAY_QUOTAS__REDIS__IAM_AUTH__CACHE_NAME"] == module.gateway.quota_store.cache_name
    error_message = "The example's quotas are fleet-wide: Redis store over TLS, IAM authentication with the task role (no password)."
  }
}

# The tenant's endpoint id is only known once the client endpoint exists: the
# plan must still go through (no dependency cycle, validation deferred).
run "gateway_zones_from_the_client_subnets" {
  command = plan

  assert {
    condition     = module.gateway.availability_zone_ids == tolist(["euw1-az2", "euw1-az3"]) && output.availability_zone_ids == tolist(["euw1-az2", "euw1-az3"])
    error_message = "The gateway's subnets must be created in the client subnets' zone IDs (not names, which differ per account)."
  }
}

run "default_model_is_current_and_granted_in_any_region" {
  command = plan

  assert {
    condition = (
      output.catalog.key == "catalog.json"
      && module.gateway.container_environment["BEDROCK_GATEWAY_CATALOG__S3__KEY"] == "catalog.json"
      && length([for k in keys(module.gateway.container_environment) : k if startswith(k, "BEDROCK_GATEWAY_MODELS__")]) == 0
    )
    error_message = "The gateway reads its catalog (models) from the S3 object, not from environment variables."
  }
  assert {
    condition = output.bedrock_model_arns == tolist([
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ])
    error_message = "The profile is granted in the gateway account, its model in any region (a new destination region needs no change)."
  }
}

run "plan_before_the_endpoint_exists" {
  command = plan

  assert {
    condition     = output.grpc_endpoint == "http://llm.internal:50051"
    error_message = "The composed plan must succeed with the endpoint id still unknown."
  }
}

run "bad_role_arn" {
  command = plan
  variables {
    client_account_role_arn = "222222222222"
  }
  expect_failures = [var.client_account_role_arn]
}
