# Bad inputs must fail at plan time with a clear validation error.

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
    "claude-haiku" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
  }
  allowed_principals = ["arn:aws:iam::222222222222:root"]
}

run "empty_principals" {
  command = plan
  variables {
    allowed_principals = []
  }
  expect_failures = [var.allowed_principals]
}

run "wildcard_principal" {
  command = plan
  variables {
    allowed_principals = ["*"]
  }
  expect_failures = [var.allowed_principals]
}

run "bad_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "10.0.0.300/16"
  }
  expect_failures = [var.vpc_cidr]
}

run "too_small_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "10.0.0.0/28"
  }
  expect_failures = [var.vpc_cidr]
}

run "bad_nlb_ingress_cidr" {
  command = plan
  variables {
    nlb_ingress_cidr_blocks = ["0.0.0.0/0"]
  }
  expect_failures = [var.nlb_ingress_cidr_blocks]
}

run "wildcard_model_arn" {
  command = plan
  variables {
    bedrock_model_arns = ["arn:aws:bedrock:eu-west-1::foundation-model/*"]
  }
  expect_failures = [var.bedrock_model_arns]
}

run "idle_timeout_too_low" {
  command = plan
  variables {
    nlb_idle_timeout_seconds = 30
  }
  expect_failures = [var.nlb_idle_timeout_seconds]
}

run "idle_timeout_too_high" {
  command = plan
  variables {
    nlb_idle_timeout_seconds = 6001
  }
  expect_failures = [var.nlb_idle_timeout_seconds]
}

run "drain_longer_than_fargate_allows" {
  command = plan
  variables {
    drain_seconds = 110
  }
  expect_failures = [var.drain_seconds]
}

run "max_below_min_capacity" {
  command = plan
  variables {
    min_capacity = 4
    max_capacity = 3
  }
  expect_failures = [var.max_capacity]
}

run "one_az" {
  command = plan
  variables {
    az_count = 1
  }
  expect_failures = [var.az_count]
}

run "one_task" {
  command = plan
  variables {
    min_capacity = 1
  }
  expect_failures = [var.min_capacity]
}

run "zone_ids_in_one_zone" {
  command = plan
  variables {
    availability_zone_ids = ["euw1-az1", "euw1-az1"]
  }
  expect_failures = [var.availability_zone_ids]
}

run "zone_names_instead_of_ids" {
  command = plan
  variables {
    availability_zone_ids = ["eu-west-1a", "eu-west-1b"]
  }
  expect_failures = [var.availability_zone_ids]
}

run "any_region_model_without_a_profile" {
  command = plan
  variables {
    bedrock_model_arns = ["arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"]
  }
  expect_failures = [var.bedrock_model_arns]
}

run "any_region_inference_profile" {
  command = plan
  variables {
    bedrock_model_arns = ["arn:aws:bedrock:*:111111111111:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"]
  }
  expect_failures = [var.bedrock_model_arns]
}

run "streams_target_at_the_task_limit" {
  command = plan
  variables {
    max_streams_per_task    = 500
    streams_per_task_target = 500
  }
  expect_failures = [var.streams_per_task_target]
}

run "byo_vpc_one_subnet" {
  command = plan
  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "latest_tag" {
  command = plan
  variables {
    image_tag = "latest"
  }
  expect_failures = [var.image_tag]
}

run "bad_model_alias" {
  command = plan
  variables {
    models = { "Bad__Alias" = { model_id = "x" } }
  }
  expect_failures = [var.models]
}

run "empty_models" {
  command = plan
  variables {
    models = {}
  }
  expect_failures = [var.models]
}

# --- tenants and the quota store ----------------------------------------------------

run "tenant_name_with_hyphen" {
  command = plan
  variables {
    tenants = { "team-a" = {} }
  }
  expect_failures = [var.tenants]
}

run "tenant_name_with_double_underscore" {
  command = plan
  variables {
    tenants = { "team__a" = {} }
  }
  expect_failures = [var.tenants]
}

run "tenant_unknown_model" {
  command = plan
  variables {
    tenants = { team_a = { models = ["gpt"] } }
  }
  expect_failures = [var.tenants]
}

run "tenant_model_quota_outside_its_models" {
  command = plan
  variables {
    models = {
      "claude-haiku" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
      "other"        = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    }
    tenants = { team_a = { models = ["claude-haiku"], model_quotas = { other = { requests_per_minute = 1 } } } }
  }
  expect_failures = [var.tenants]
}

run "tenant_quota_zero" {
  command = plan
  variables {
    tenants = { team_a = { quotas = { tokens_per_minute = 0 } } }
  }
  expect_failures = [var.tenants]
}

run "tenant_model_quota_fractional" {
  command = plan
  variables {
    tenants = { team_a = { model_quotas = { "claude-haiku" = { concurrent_requests = 1.5 } } } }
  }
  expect_failures = [var.tenants]
}

run "tenant_endpoint_without_proxy_protocol" {
  command = plan
  variables {
    tenants = { team_a = { vpc_endpoint_ids = ["vpce-0123456789abcdef0"] } }
  }
  expect_failures = [var.tenants]
}

run "tenant_bad_endpoint_id" {
  command = plan
  variables {
    proxy_protocol_v2 = true
    tenants           = { team_a = { vpc_endpoint_ids = ["vpc-0123456789abcdef0"] } }
  }
  expect_failures = [var.tenants]
}

run "endpoint_in_two_tenants" {
  command = plan
  variables {
    proxy_protocol_v2 = true
    tenants = {
      team_a = { vpc_endpoint_ids = ["vpce-0123456789abcdef0"] }
      team_b = { vpc_endpoint_ids = ["vpce-0123456789abcdef0"] }
    }
  }
  expect_failures = [var.tenants]
}

run "api_key_that_is_not_a_digest" {
  command = plan
  variables {
    tenants = { team_a = { api_keys = { ci = { sha256 = "sk-the-key-itself" } } } }
  }
  expect_failures = [var.tenants]
}

run "api_key_bad_key_name" {
  command = plan
  variables {
    tenants = { team_a = { api_keys = { CI = { sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752" } } } }
  }
  expect_failures = [var.tenants]
}

run "api_key_bad_expiry" {
  command = plan
  variables {
    tenants = { team_a = { api_keys = { ci = { sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", expires_on = "31/12/2026" } } } }
  }
  expect_failures = [var.tenants]
}

run "bedrock_role_with_a_wildcard" {
  command = plan
  variables {
    bedrock_role_arns = ["arn:aws:iam::333333333333:role/*"]
  }
  expect_failures = [var.bedrock_role_arns]
}

run "require_endpoint_match_without_proxy_protocol" {
  command = plan
  variables {
    require_endpoint_match = true
  }
  expect_failures = [var.require_endpoint_match]
}

run "quota_store_bad_key_prefix" {
  command = plan
  variables {
    quota_store = { enabled = true, key_prefix = "{gw}" }
  }
  expect_failures = [var.quota_store]
}

run "quota_store_bad_fallback_task_count" {
  command = plan
  variables {
    quota_store = { enabled = true, fallback_task_count = 0 }
  }
  expect_failures = [var.quota_store]
}

run "quota_store_fractional_fallback_task_count" {
  command = plan
  variables {
    quota_store = { enabled = true, fallback_task_count = 2.5 }
  }
  expect_failures = [var.quota_store]
}

run "quota_store_bad_engine_version" {
  command = plan
  variables {
    quota_store = { enabled = true, major_engine_version = "6" }
  }
  expect_failures = [var.quota_store]
}
