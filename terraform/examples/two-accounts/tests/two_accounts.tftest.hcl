# Composition test of the two-accounts example: each account's provider is
# mocked separately, so this runs offline.

mock_provider "aws" {
  alias  = "gateway"
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
  gateway_account_role_arn = "arn:aws:iam::111111111111:role/terraform"
  client_account_role_arn  = "arn:aws:iam::222222222222:role/terraform"
  client_vpc_id            = "vpc-0cccccccccccccccc"
  client_subnet_ids        = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2"]
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
}

run "bad_role_arn" {
  command = plan
  variables {
    client_account_role_arn = "222222222222"
  }
  expect_failures = [var.client_account_role_arn]
}
