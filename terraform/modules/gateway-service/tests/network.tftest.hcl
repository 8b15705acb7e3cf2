# Zones, bring-your-own VPC, the network path a first deployment needs, and
# subnet sizes: what a real apply across accounts depends on.

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

# Two subnets of a given VPC, in two zones (runs override them as needed).
override_data {
  target = data.aws_subnet.selected[0]
  values = { availability_zone_id = "euw1-az1", cidr_block = "10.50.0.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
}
override_data {
  target = data.aws_subnet.selected[1]
  values = { availability_zone_id = "euw1-az2", cidr_block = "10.50.16.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
}

# --- zone IDs, not names -----------------------------------------------------------

run "default_zones_are_the_lowest_zone_ids" {
  command = plan

  override_data {
    target = data.aws_availability_zones.default[0]
    values = {
      names    = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]
      zone_ids = ["use1-az4", "use1-az6", "use1-az1", "use1-az10", "use1-az2", "use1-az5"]
    }
  }
  override_data {
    target = data.aws_vpc_endpoint_service.needed
    values = { availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"] }
  }

  assert {
    condition     = [for s in values(aws_subnet.private) : s.availability_zone_id] == ["use1-az1", "use1-az2", "use1-az4"]
    error_message = "Subnets must be placed by zone ID (the three lowest-numbered), never by zone name."
  }
  assert {
    condition     = output.availability_zone_ids == tolist(["use1-az1", "use1-az2", "use1-az4"])
    error_message = "The module must output the zone IDs the endpoint service is in."
  }
  assert {
    condition     = data.aws_availability_zones.default[0].state == null && alltrue([for f in data.aws_availability_zones.default[0].filter : f.name != "state"])
    error_message = "No state filter (argument or filter block): a zone impaired at plan time must not move the subnets."
  }
}

run "pinned_zone_ids" {
  command = plan

  variables {
    availability_zone_ids = ["euw1-az3", "euw1-az1"]
  }

  assert {
    condition     = [for s in values(aws_subnet.private) : s.availability_zone_id] == ["euw1-az1", "euw1-az3"]
    error_message = "Given zone IDs are used as they are."
  }
  assert {
    condition     = output.availability_zone_ids == tolist(["euw1-az3", "euw1-az1"])
    error_message = "The output follows the pinned zone IDs."
  }
}

run "given_vpc_outputs_its_subnets_zone_ids" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  override_data {
    target = data.aws_subnet.selected[0]
    values = { availability_zone_id = "euw1-az2", cidr_block = "10.50.0.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }
  override_data {
    target = data.aws_subnet.selected[1]
    values = { availability_zone_id = "euw1-az3", cidr_block = "10.50.16.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }

  assert {
    condition     = output.availability_zone_ids == tolist(["euw1-az2", "euw1-az3"])
    error_message = "With a given VPC the output names its subnets' zone IDs."
  }
}

# --- bring your own VPC: the module must not break its other tenants ----------------

run "given_vpc_gets_no_endpoints_by_default" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_vpc_endpoint.s3) == 0 && length(aws_security_group.endpoints) == 0
    error_message = "In a given VPC the module must not create private-DNS interface endpoints or an ECR-only S3 endpoint (they would cut the VPC's other workloads off ECR, logs and S3)."
  }
  assert {
    condition = (
      [for r in values(aws_vpc_security_group_egress_rule.tasks_extra) : r.cidr_ipv4] == ["10.50.0.0/16"]
      && [for r in values(aws_vpc_security_group_egress_rule.tasks_prefix_lists) : r.prefix_list_id] == ["pl-6da54004"]
      && alltrue([for r in concat(values(aws_vpc_security_group_egress_rule.tasks_extra), values(aws_vpc_security_group_egress_rule.tasks_prefix_lists)) : r.from_port == 443 && r.to_port == 443])
    )
    error_message = "The tasks reach the VPC's own endpoints (and S3 prefix list) on 443."
  }
  assert {
    condition     = output.security_group_ids.endpoints == null
    error_message = "No endpoint security group in a given VPC by default."
  }
}

run "given_vpc_without_an_egress_path_is_refused" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  expect_failures = [var.task_egress_cidr_blocks]
}

# A path to the VPC's interface endpoints is not enough: ECR's image layers
# come from S3.
run "given_vpc_without_an_s3_path_is_refused" {
  command = plan

  variables {
    vpc_id                  = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids      = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks = ["10.50.0.0/16"]
  }

  expect_failures = [var.task_egress_prefix_list_ids]
}

run "given_vpc_with_nat_egress_needs_no_prefix_list" {
  command = plan

  variables {
    vpc_id                  = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids      = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks = ["0.0.0.0/0"]
  }

  assert {
    condition     = [for r in values(aws_vpc_security_group_egress_rule.tasks_extra) : r.cidr_ipv4] == ["0.0.0.0/0"] && length(aws_vpc_security_group_egress_rule.tasks_prefix_lists) == 0
    error_message = "Through a NAT gateway the tasks reach S3 with the rest of AWS: 0.0.0.0/0 on 443 and no prefix list."
  }
}

run "given_vpc_with_endpoints_needs_route_tables" {
  command = plan

  variables {
    vpc_id               = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids   = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    create_vpc_endpoints = true
  }

  expect_failures = [var.private_route_table_ids]
}

run "given_vpc_subnets_outside_it_are_refused" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  override_data {
    target = data.aws_subnet.selected[1]
    values = { availability_zone_id = "euw1-az2", cidr_block = "10.60.0.0/20", vpc_id = "vpc-0bbbbbbbbbbbbbbbb", map_public_ip_on_launch = false }
  }

  expect_failures = [aws_lb.this]
}

# Two zones, so only the one-subnet-per-zone check can refuse these (an NLB
# takes one subnet per zone).
run "given_vpc_two_subnets_in_one_zone_are_refused" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  override_data {
    target = data.aws_subnet.selected[1]
    values = { availability_zone_id = "euw1-az1", cidr_block = "10.50.16.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }
  override_data {
    target = data.aws_subnet.selected[2]
    values = { availability_zone_id = "euw1-az2", cidr_block = "10.50.32.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }

  expect_failures = [aws_lb.this]
}

# --- the first deployment starts only once its network path exists --------------------

run "service_waits_for_its_network_path" {
  command = apply

  variables {
    quota_store = { enabled = true }
  }

  assert {
    condition = (
      terraform_data.network_path.output.interface_endpoints == { for k, e in aws_vpc_endpoint.interface : k => e.id }
      && terraform_data.network_path.output.s3_endpoint == [aws_vpc_endpoint.s3[0].id]
      && terraform_data.network_path.output.route_table_associations == [for a in values(aws_route_table_association.private) : a.id]
    )
    error_message = "The service's network path must include every interface endpoint, the S3 endpoint (its route) and the route table associations."
  }
  assert {
    condition = alltrue([
      for id in [
        aws_vpc_security_group_egress_rule.tasks_to_endpoints[0].id,
        aws_vpc_security_group_egress_rule.tasks_to_s3[0].id,
        aws_vpc_security_group_egress_rule.tasks_to_quota_store[0].id,
      ] : contains(terraform_data.network_path.output.task_egress_rules, id)
      ]) && alltrue([
      for id in [
        aws_vpc_security_group_ingress_rule.tasks_from_nlb.id,
        aws_vpc_security_group_egress_rule.nlb_to_tasks.id,
        aws_vpc_security_group_ingress_rule.endpoints_from_tasks[0].id,
        aws_vpc_security_group_ingress_rule.quota_store_from_tasks[0].id,
      ] : contains(terraform_data.network_path.output.ingress_rules, id)
    ])
    error_message = "The service's network path must include every security group rule its tasks need."
  }
}

# --- subnets big enough for endpoints, NLB and a 200 % deployment ------------------------

run "a_slash_24_vpc_is_too_small_for_the_defaults" {
  command = plan

  variables {
    vpc_cidr = "10.80.0.0/24"
  }

  expect_failures = [aws_ecs_service.this]
}

run "a_slash_24_vpc_fits_a_small_fleet" {
  command = plan

  variables {
    vpc_cidr     = "10.80.0.0/24"
    max_capacity = 4
  }

  assert {
    condition     = aws_subnet.private["az1"].cidr_block == "10.80.0.0/28"
    error_message = "/28 subnets (11 usable addresses) hold 4 endpoints, the NLB and ceil(8 / 3) + 1 tasks."
  }
}

run "large_fleet_needs_large_subnets" {
  command = plan

  variables {
    vpc_cidr     = "10.80.0.0/22"
    max_capacity = 100
  }

  expect_failures = [aws_ecs_service.this]
}

# --- security groups can be replaced ---------------------------------------------------

run "security_groups_use_name_prefixes" {
  command = plan

  assert {
    condition = (
      aws_security_group.nlb.name_prefix == "bedrock-gateway-nlb-"
      && aws_security_group.tasks.name_prefix == "bedrock-gateway-tasks-"
      && aws_security_group.endpoints[0].name_prefix == "bedrock-gateway-endpoints-"
    )
    error_message = "Security groups are create_before_destroy, so they need name prefixes (a fixed name cannot exist twice)."
  }
}
