# Offline tests of the gateway-client module with a mocked AWS provider.

mock_provider "aws" {
  source = "./tests"
}

variables {
  endpoint_service_name = "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0"
  vpc_id                = "vpc-0cccccccccccccccc"
  subnet_ids            = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2"]
  allowed_cidr_blocks   = ["10.90.0.0/16", "10.91.0.0/20"]
}

# The client subnets, in two of the service's three zone IDs.
override_data {
  target = data.aws_subnet.endpoint[0]
  values = { availability_zone_id = "euw1-az1" }
}
override_data {
  target = data.aws_subnet.endpoint[1]
  values = { availability_zone_id = "euw1-az2" }
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_vpc_endpoint.gateway.vpc_endpoint_type == "Interface" && aws_vpc_endpoint.gateway.service_name == var.endpoint_service_name
    error_message = "An interface endpoint to the given service is expected."
  }
  assert {
    condition     = aws_vpc_endpoint.gateway.security_group_ids == toset([aws_security_group.endpoint.id])
    error_message = "The endpoint must use only the module's security group."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.grpc : r.cidr_ipv4]) == toset(var.allowed_cidr_blocks)
    error_message = "The endpoint SG must admit exactly the given CIDRs."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.grpc : r.from_port == 50051 && r.to_port == 50051 && r.ip_protocol == "tcp" && r.referenced_security_group_id == null])
    error_message = "The endpoint SG must admit only TCP 50051."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.grpc) == 2
    error_message = "One rule per CIDR and port expected."
  }
  assert {
    condition     = aws_route53_zone.this[0].name == "llm.internal" && one(aws_route53_zone.this[0].vpc).vpc_id == var.vpc_id
    error_message = "A private hosted zone llm.internal associated with the client VPC is expected."
  }
  assert {
    condition     = aws_route53_record.gateway.name == "llm.internal" && aws_route53_record.gateway.type == "A" && aws_route53_record.gateway.alias[0].name == aws_vpc_endpoint.gateway.dns_entry[0].dns_name
    error_message = "The record must alias the endpoint's regional DNS name."
  }
  assert {
    condition     = output.dns_name == "llm.internal" && output.grpc_endpoint == "http://llm.internal:50051" && output.grpc_tls_endpoint == null
    error_message = "Outputs must give the DNS name microservices use."
  }
  assert {
    condition     = output.availability_zone_ids == tolist(["euw1-az1", "euw1-az2"]) && output.endpoint_service_availability_zone_ids == tolist(["euw1-az1", "euw1-az2", "euw1-az3"])
    error_message = "The endpoint's zone IDs and the service's, by ID."
  }
  assert {
    condition     = aws_security_group.endpoint.name_prefix == "bedrock-gateway-client-endpoint-"
    error_message = "The security group is create_before_destroy, so it needs a name prefix."
  }
}

# The service is in euw1-az1..3 (eu-west-1a..c in this account); a subnet in
# euw1-az4 (whatever its name) cannot hold the endpoint.
run "subnet_outside_the_service_zones" {
  command = plan

  override_data {
    target = data.aws_subnet.endpoint[1]
    values = { availability_zone_id = "euw1-az4" }
  }

  expect_failures = [aws_vpc_endpoint.gateway]
}

run "service_zones_compared_by_id" {
  command = plan

  # This account calls the service's zones a and b, which are az3 and az1 here.
  override_data {
    target = data.aws_vpc_endpoint_service.gateway
    values = { availability_zones = ["eu-west-1a", "eu-west-1b"] }
  }
  override_data {
    target = data.aws_availability_zones.service
    values = { names = ["eu-west-1a", "eu-west-1b"], zone_ids = ["euw1-az3", "euw1-az1"] }
  }

  expect_failures = [aws_vpc_endpoint.gateway]
}

run "two_subnets_in_one_zone" {
  command = plan

  override_data {
    target = data.aws_subnet.endpoint[1]
    values = { availability_zone_id = "euw1-az1" }
  }

  expect_failures = [aws_vpc_endpoint.gateway]
}

# Two zones, so only the one-subnet-per-zone check can refuse these.
run "three_subnets_in_two_zones" {
  command = plan

  variables {
    subnet_ids = ["subnet-0ccccccccccccccc1", "subnet-0ccccccccccccccc2", "subnet-0ccccccccccccccc3"]
  }

  override_data {
    target = data.aws_subnet.endpoint[1]
    values = { availability_zone_id = "euw1-az1" }
  }
  override_data {
    target = data.aws_subnet.endpoint[2]
    values = { availability_zone_id = "euw1-az2" }
  }

  expect_failures = [aws_vpc_endpoint.gateway]
}

run "one_subnet" {
  command = plan
  variables {
    subnet_ids = ["subnet-0ccccccccccccccc1"]
  }
  expect_failures = [var.subnet_ids]
}

run "tls_and_record_name" {
  command = plan

  variables {
    tls_port    = 443
    zone_name   = "gateway.example.internal"
    record_name = "llm"
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.grpc : r.from_port]) == toset([50051, 443]) && length(aws_vpc_security_group_ingress_rule.grpc) == 4
    error_message = "With a TLS port the SG admits both ports from every CIDR."
  }
  assert {
    condition     = output.dns_name == "llm.gateway.example.internal" && output.grpc_tls_endpoint == "https://llm.gateway.example.internal:443"
    error_message = "Record name must be prefixed to the zone."
  }
}

run "existing_zone" {
  command = plan

  variables {
    create_private_zone = false
    private_zone_id     = "Z0EXISTING0000000000"
  }

  assert {
    condition     = length(aws_route53_zone.this) == 0 && aws_route53_record.gateway.zone_id == "Z0EXISTING0000000000"
    error_message = "The record must go into the existing zone."
  }
}

run "bad_cidr" {
  command = plan
  variables {
    allowed_cidr_blocks = ["10.90.0.0/33"]
  }
  expect_failures = [var.allowed_cidr_blocks]
}

run "open_cidr" {
  command = plan
  variables {
    allowed_cidr_blocks = ["0.0.0.0/0"]
  }
  expect_failures = [var.allowed_cidr_blocks]
}

run "empty_cidrs" {
  command = plan
  variables {
    allowed_cidr_blocks = []
  }
  expect_failures = [var.allowed_cidr_blocks]
}

run "bad_service_name" {
  command = plan
  variables {
    endpoint_service_name = "my-gateway"
  }
  expect_failures = [var.endpoint_service_name]
}

run "existing_zone_without_id" {
  command = plan
  variables {
    create_private_zone = false
  }
  expect_failures = [var.private_zone_id]
}
