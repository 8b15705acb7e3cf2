# Zones that change: adding one moves nothing, and only zones with Fargate
# and every endpoint service the tasks need are used.

mock_provider "aws" {
  source = "./tests"
}

mock_provider "aws" {
  alias  = "bedrock"
  source = "./tests"
}

variables {
  models             = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" } }
  allowed_principals = ["arn:aws:iam::222222222222:root"]
}

# --- adding a zone replaces nothing ---------------------------------------------------

run "two_zones" {
  variables {
    availability_zone_ids = ["euw1-az2", "euw1-az3"]
  }

  assert {
    condition     = aws_subnet.private["az2"].cidr_block == "10.80.16.0/20" && aws_subnet.private["az3"].cidr_block == "10.80.32.0/20"
    error_message = "Each zone's subnet is the block its zone number names (az2: the second /20)."
  }
}

# The zone list as the two-accounts example sorts it: the new zone comes
# first. By position, both subnets would move to other zones (and the NLB
# cannot give a subnet back); by zone, the plan only adds.
run "adding_a_lower_numbered_zone_replaces_nothing" {
  command = plan

  variables {
    availability_zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
  }

  assert {
    condition = (
      aws_subnet.private["az2"].id == run.two_zones.private_subnet_ids[0]
      && aws_subnet.private["az3"].id == run.two_zones.private_subnet_ids[1]
      && aws_subnet.private["az2"].availability_zone_id == "euw1-az2" && aws_subnet.private["az2"].cidr_block == "10.80.16.0/20"
      && aws_subnet.private["az3"].availability_zone_id == "euw1-az3" && aws_subnet.private["az3"].cidr_block == "10.80.32.0/20"
    )
    error_message = "The existing subnets must keep their id, zone and CIDR."
  }
  assert {
    condition     = aws_subnet.private["az1"].availability_zone_id == "euw1-az1" && aws_subnet.private["az1"].cidr_block == "10.80.0.0/20"
    error_message = "The new zone gets the block its number names."
  }
  # A replaced resource's id is unknown in a plan, so these could not even be
  # evaluated; and a plan that destroys either fails on prevent_destroy.
  assert {
    condition     = aws_vpc_endpoint_service.this.id == run.two_zones.endpoint_service_id && length(aws_lb.this.id) > 0
    error_message = "The NLB and the endpoint service must stay."
  }
}

# --- zones with Fargate and every endpoint service ----------------------------------

run "a_two_zone_region_plans_with_two_zones" {
  command = plan

  override_data {
    target = data.aws_availability_zones.default[0]
    values = { names = ["eu-west-1a", "eu-west-1b"], zone_ids = ["euw1-az1", "euw1-az2"] }
  }

  assert {
    condition     = keys(aws_subnet.private) == ["az1", "az2"]
    error_message = "The default az_count (3) is clamped to the region's two zones."
  }

  expect_failures = [check.az_count_available]
}

run "a_zone_without_bedrock_runtime_is_skipped" {
  command = plan

  override_data {
    target = data.aws_vpc_endpoint_service.needed["bedrock-runtime"]
    values = { availability_zones = ["eu-west-1a", "eu-west-1c"] }
  }

  assert {
    condition     = keys(aws_subnet.private) == ["az1", "az3"]
    error_message = "A zone without the bedrock-runtime endpoint service gets no subnet."
  }
  assert {
    condition     = toset(keys(data.aws_vpc_endpoint_service.needed)) == toset(["bedrock-runtime", "ecr.api", "ecr.dkr", "logs", "s3"]) && data.aws_vpc_endpoint_service.needed["s3"].service_type == "Gateway"
    error_message = "The zones of Bedrock, ECR, Logs and the S3 gateway endpoint services are read."
  }

  expect_failures = [check.az_count_available]
}

run "sts_is_needed_with_bedrock_roles" {
  command = plan

  variables {
    bedrock_role_arns = ["arn:aws:iam::333333333333:role/bedrock-gateway-access"]
  }

  override_data {
    target = data.aws_vpc_endpoint_service.needed["sts"]
    values = { availability_zones = ["eu-west-1a", "eu-west-1b"] }
  }

  assert {
    condition     = keys(aws_subnet.private) == ["az1", "az2"]
    error_message = "With roles to assume, a zone without the STS endpoint service gets no subnet."
  }

  expect_failures = [check.az_count_available]
}

run "a_pinned_zone_without_a_service_is_refused" {
  command = plan

  variables {
    availability_zone_ids = ["euw1-az1", "euw1-az2"]
  }

  override_data {
    target = data.aws_vpc_endpoint_service.needed["ecr.dkr"]
    values = { availability_zones = ["eu-west-1a", "eu-west-1c"] }
  }

  expect_failures = [aws_vpc.this]
}

run "fewer_than_two_usable_zones_are_refused" {
  command = plan

  override_data {
    target = data.aws_vpc_endpoint_service.needed["logs"]
    values = { availability_zones = ["eu-west-1b"] }
  }

  expect_failures = [aws_vpc.this, check.az_count_available]
}

run "fargate_zones_of_us_west_1" {
  command = plan

  variables {
    alarm_sns_topic_arn = "arn:aws:sns:us-west-1:111111111111:oncall"
  }

  override_data {
    target = data.aws_region.current
    values = { name = "us-west-1", id = "us-west-1" }
  }
  override_data {
    target = data.aws_region.bedrock
    values = { name = "us-west-1", id = "us-west-1" }
  }

  override_data {
    target = data.aws_availability_zones.default[0]
    values = { names = ["us-west-1a", "us-west-1b", "us-west-1c"], zone_ids = ["usw1-az1", "usw1-az2", "usw1-az3"] }
  }
  override_data {
    target = data.aws_vpc_endpoint_service.needed
    values = { availability_zones = ["us-west-1a", "us-west-1b", "us-west-1c"] }
  }

  assert {
    condition     = keys(aws_subnet.private) == ["az1", "az3"]
    error_message = "usw1-az2 has no Fargate: it gets no subnet."
  }

  expect_failures = [check.az_count_available]
}
