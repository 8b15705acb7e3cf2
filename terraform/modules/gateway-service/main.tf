data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Where Bedrock's metrics, and so its alarms, are (var.bedrock_region).
data "aws_region" "bedrock" {
  provider = aws.bedrock
}

# The region's zones, names to IDs (endpoint services list names). No state
# filter: a zone that is impaired at plan time must not move the subnets.
data "aws_availability_zones" "default" {
  #checkov:skip=CKV_AWS_394:Read only for the created VPC; only the az_count lowest-numbered usable zone IDs are used, so a zone AWS adds later (a higher number) does not move the subnets, and subnets are keyed by zone; callers pin zones with var.availability_zone_ids.
  count = local.create_vpc ? 1 : 0

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

# Where each endpoint service the tasks need exists: not every zone has all
# of them. Only for the endpoints the module creates.
data "aws_vpc_endpoint_service" "needed" {
  for_each = local.create_vpc && local.create_endpoints ? local.needed_endpoint_services : toset([])

  service_name = "com.amazonaws.${local.region}.${each.key}"
  service_type = each.key == "s3" ? "Gateway" : "Interface"
}

data "aws_vpc" "existing" {
  count = local.create_vpc ? 0 : 1
  id    = var.vpc_id
}

locals {
  create_vpc = var.vpc_id == null

  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Zone IDs, not names: names map to different physical zones in each
  # account, and client endpoints can only use the service's zone IDs.
  region_zone_ids = local.create_vpc ? zipmap(data.aws_availability_zones.default[0].names, data.aws_availability_zones.default[0].zone_ids) : {}

  # The endpoint services the tasks need, known at plan time (interface
  # endpoints and the S3 gateway endpoint, network.tf).
  needed_endpoint_services = toset(concat(
    ["bedrock-runtime", "ecr.api", "ecr.dkr", "logs", "s3"],
    length(local.bedrock_role_arns) > 0 ? ["sts"] : [],
    var.extra_interface_endpoints,
  ))
  endpoint_zone_ids = {
    for svc, d in data.aws_vpc_endpoint_service.needed : svc => [for n in d.availability_zones : lookup(local.region_zone_ids, n, n)]
  }

  # Fargate runs in every zone of a region except where the ECS guide
  # ("Supported Regions for Amazon ECS on AWS Fargate") names only some.
  fargate_zone_ids = {
    "us-west-1"      = ["usw1-az1", "usw1-az3"]
    "ap-northeast-1" = ["apne1-az1", "apne1-az2", "apne1-az4"]
  }
  fargate_zone = { for id in values(local.region_zone_ids) : id => !contains(keys(local.fargate_zone_ids), local.region) || contains(lookup(local.fargate_zone_ids, local.region, []), id) }

  # Zones with Fargate and every needed endpoint service, lowest number first
  # (use1-az2 before use1-az10), and what each of the others lacks.
  zone_lacks = {
    for id in values(local.region_zone_ids) : id => concat(
      local.fargate_zone[id] ? [] : ["Fargate"],
      [for svc, ids in local.endpoint_zone_ids : svc if !contains(ids, id)],
    )
  }
  usable_zone_ids = [
    for k in sort([for id, lacks in local.zone_lacks : format("%s%04d", regex("^(.*-az)([0-9]+)$", id)[0], tonumber(regex("^(.*-az)([0-9]+)$", id)[1])) if length(lacks) == 0]) :
    format("%s%d", regex("^(.*-az)([0-9]+)$", k)[0], tonumber(regex("^(.*-az)([0-9]+)$", k)[1]))
  ]
  zone_ids = local.create_vpc ? (
    length(var.availability_zone_ids) > 0 ? var.availability_zone_ids : slice(local.usable_zone_ids, 0, min(var.az_count, length(local.usable_zone_ids)))
  ) : []

  # The zone IDs the NLB, the tasks and the endpoint service are in.
  service_zone_ids = local.create_vpc ? local.zone_ids : distinct(data.aws_subnet.selected[*].availability_zone_id)

  # The created subnets, keyed by the zone ID's number ("az4" for
  # use1-az4: within one region that is the zone ID), each in the
  # (number - 1)th block of the VPC: a zone's key and CIDR never depend on
  # which other zones are used, so adding a zone (a lower-numbered one
  # too) adds a subnet and moves none. The NLB could not give one back.
  subnet_zones = { for id in local.zone_ids : "az${regex("-az([0-9]+)$", id)[0]}" => id }

  vpc_id             = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  vpc_cidr           = local.create_vpc ? aws_vpc.this[0].cidr_block : data.aws_vpc.existing[0].cidr_block
  private_subnet_ids = local.create_vpc ? [for k in sort(keys(local.subnet_zones)) : aws_subnet.private[k].id] : var.private_subnet_ids
  route_table_ids    = local.create_vpc ? [aws_route_table.private[0].id] : var.private_route_table_ids

  # The module's endpoints only in its own VPC, unless the caller says the
  # given VPC is the gateway's alone (see var.create_vpc_endpoints).
  create_endpoints = var.create_vpc_endpoints == null ? local.create_vpc : var.create_vpc_endpoints

  # Subnet size: /20 out of a /16, smaller for smaller VPCs, always room for 6 AZs.
  subnet_newbits = 4

  # Addresses each subnet must hold: one per interface endpoint, the NLB,
  # the quota store's endpoint, and its share of a 200 % deployment at
  # max_capacity (ECS spreads tasks over the zones; +1 for an uneven spread).
  # AWS reserves 5 addresses of every subnet.
  subnet_prefixes = local.create_vpc ? [for _ in local.zone_ids : tonumber(split("/", var.vpc_cidr)[1]) + local.subnet_newbits] : [
    for s in data.aws_subnet.selected : tonumber(split("/", s.cidr_block)[1])
  ]
  # (The extra /16 only keeps min() defined while a bad subnet list is refused.)
  subnet_usable_ips = min(concat([for p in local.subnet_prefixes : pow(2, 32 - p) - 5], [pow(2, 16) - 5])...)
  subnet_needed_ips = (
    length(local.interface_endpoints) + 1 + (local.quota_store_enabled ? 1 : 0)
    + ceil(2 * var.max_capacity / max(length(local.subnet_prefixes), 1)) + 1
  )

  tags = merge({ "app" = "bedrock-gateway", "managed-by" = "terraform" }, var.tags)

  container_name = "gateway"
  image          = coalesce(var.container_image, "${aws_ecr_repository.this.repository_url}:${var.image_tag}")
  bedrock_region = coalesce(var.bedrock_region, local.region)

  # The gateway's EMF metrics (server/src/emf.rs): namespace and the value of
  # their ServiceName dimension.
  emf_namespace    = "BedrockGateway"
  emf_service_name = var.name

  # Drain choreography (see README "Draining"): ECS deregisters a task and
  # waits deregistration_delay before SIGTERM; the NLB sends it no new
  # connections and keeps the established ones. The gateway sends GOAWAY on
  # each connection within 1.1 x max_connection_age, so by SIGTERM no new
  # stream arrives; it then drains for drain_seconds (shutdown grace) and the
  # task is killed stopTimeout seconds after SIGTERM. Every stream thus gets
  # at least drain_seconds.
  deregistration_delay = ceil(var.max_connection_age_seconds * 1.1)

  # A new task is healthy for the NLB after 3 TCP checks 10 s apart, once
  # its container health check (start period 20 s, then every 15 s) has
  # passed; ECS ignores the NLB's verdict until then. Twice that, so that a
  # slow start under a deployment's load is not taken for a failure.
  health_check_grace_seconds = 2 * (20 + 15 + 3 * 10)
  stop_timeout               = var.drain_seconds + 15

  # Where the catalog is, never what it says (catalog.tf): editing models
  # must not change the task definition. The bucket is in the module's
  # region, which bedrock.region (the default) need not be.
  catalog_env = {
    "BEDROCK_GATEWAY_CATALOG__S3__BUCKET"  = aws_s3_bucket.catalog.id
    "BEDROCK_GATEWAY_CATALOG__S3__KEY"     = local.catalog_key
    "BEDROCK_GATEWAY_CATALOG__S3__REGION"  = local.region
    "BEDROCK_GATEWAY_CATALOG__RELOAD_SECS" = tostring(var.catalog_reload_seconds)
  }
  tenants_env = {
    "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__BUCKET"  = aws_s3_bucket.catalog.id
    "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__KEY"     = local.tenants_key
    "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__REGION"  = local.region
    "BEDROCK_GATEWAY_TENANTS_SOURCE__RELOAD_SECS" = tostring(var.tenants_reload_seconds)
  }

  # The gateway's configuration, all plain: it holds no secret (the quota
  # store authenticates with the task role, quotas.tf).
  container_env = merge(
    var.environment,
    local.catalog_env,
    local.tenants_env,
    local.auth_env,
    local.quota_env,
    {
      "BEDROCK_GATEWAY_SERVER__LISTEN"                  = "0.0.0.0:${var.grpc_port}"
      "BEDROCK_GATEWAY_ADMIN__LISTEN"                   = var.admin_listen
      "BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS"     = tostring(var.drain_seconds)
      "BEDROCK_GATEWAY_SERVER__MAX_CONNECTION_AGE_SECS" = tostring(var.max_connection_age_seconds)
      "BEDROCK_GATEWAY_SERVER__MAX_CONCURRENT_REQUESTS" = tostring(var.max_streams_per_task)
      "BEDROCK_GATEWAY_BEDROCK__REGION"                 = local.bedrock_region
      "BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL"          = tostring(var.proxy_protocol_v2)
      # One thread per whole vCPU, each its own runtime (server.scheduler = "thread_per_core", the
      # default); up to one vCPU, the single-threaded scheduler (BENCHMARKS.md).
      "BEDROCK_GATEWAY_SERVER__WORKER_THREADS" = tostring(max(1, floor(var.cpu / 1024)))
      # StreamsInFlight & co. for autoscaling and alarms (monitoring.tf).
      "BEDROCK_GATEWAY_METRICS__EMF"              = "true"
      "BEDROCK_GATEWAY_METRICS__EMF_SERVICE_NAME" = local.emf_service_name
    }
  )

  health_check_command = ["CMD", "/usr/local/bin/bedrock-gateway", "healthcheck", "--addr", "127.0.0.1:${var.grpc_port}"]
}

###############################################################################
# VPC (only when var.vpc_id is null): private subnets, no IGW, no NAT
###############################################################################

resource "aws_vpc" "this" {
  count = local.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true # required for private DNS on interface endpoints
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = length(local.zone_ids) >= 2
      error_message = "Only ${length(local.usable_zone_ids)} zone(s) of ${local.region} (${join(", ", local.usable_zone_ids)}) host Fargate and every endpoint service the tasks need; the gateway needs two. Zones that lack one: ${join("; ", [for id, lacks in local.zone_lacks : "${id} lacks ${join(", ", lacks)}" if length(lacks) > 0])}."
    }
    precondition {
      condition     = alltrue([for id in local.zone_ids : length(lookup(local.zone_lacks, id, [])) == 0])
      error_message = "availability_zone_ids: ${join("; ", [for id in local.zone_ids : "${id} lacks ${join(", ", local.zone_lacks[id])}" if length(lookup(local.zone_lacks, id, [])) > 0])}. The tasks could not start there or reach AWS from there: choose zones from ${join(", ", local.usable_zone_ids)}."
    }
  }
}

# az_count is an upper bound: a region (or an account) may offer fewer zones
# with Fargate and every endpoint service. Fewer zones is a warning, not a
# failure, so the default works in a two-zone region.
check "az_count_available" {
  assert {
    condition     = !local.create_vpc || length(var.availability_zone_ids) > 0 || var.az_count <= length(local.usable_zone_ids)
    error_message = "az_count is ${var.az_count}, but only ${length(local.usable_zone_ids)} zones of ${local.region} host Fargate and every endpoint service the tasks need: using ${join(", ", local.usable_zone_ids)}."
  }
}

# Take over the default security group and strip all its rules so nothing
# can accidentally use it.
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_subnet" "private" {
  for_each = local.subnet_zones

  vpc_id                  = aws_vpc.this[0].id
  availability_zone_id    = each.value
  cidr_block              = cidrsubnet(var.vpc_cidr, local.subnet_newbits, tonumber(trimprefix(each.key, "az")) - 1)
  map_public_ip_on_launch = false

  tags = merge(local.tags, { Name = "${var.name}-private-${each.value}", tier = "private" })

  lifecycle {
    precondition {
      condition     = tonumber(trimprefix(each.key, "az")) <= pow(2, local.subnet_newbits)
      error_message = "Zone ${each.value} has a number above ${pow(2, local.subnet_newbits)}: each zone's subnet is the block of the VPC its number names. Pass a vpc_id and private_subnet_ids for this region."
    }
  }
}

# Earlier versions numbered the subnets by position in the zone list. Where
# the zones were the region's az1, az2, az3... (the default in most
# regions), position i is zone az(i+1), with the same CIDR: these keep the
# subnets. Elsewhere the plan shows a subnet replaced: move it by hand first
# (terraform/README.md, "Upgrading").
moved {
  from = aws_subnet.private[0]
  to   = aws_subnet.private["az1"]
}
moved {
  from = aws_subnet.private[1]
  to   = aws_subnet.private["az2"]
}
moved {
  from = aws_subnet.private[2]
  to   = aws_subnet.private["az3"]
}
moved {
  from = aws_subnet.private[3]
  to   = aws_subnet.private["az4"]
}
moved {
  from = aws_subnet.private[4]
  to   = aws_subnet.private["az5"]
}
moved {
  from = aws_subnet.private[5]
  to   = aws_subnet.private["az6"]
}

# One route table with only the implicit local route (+ the S3 gateway
# endpoint's prefix-list route). There is deliberately no 0.0.0.0/0 route.
resource "aws_route_table" "private" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  for_each       = aws_subnet.private
  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[0].id
}

moved {
  from = aws_route_table_association.private[0]
  to   = aws_route_table_association.private["az1"]
}
moved {
  from = aws_route_table_association.private[1]
  to   = aws_route_table_association.private["az2"]
}
moved {
  from = aws_route_table_association.private[2]
  to   = aws_route_table_association.private["az3"]
}
moved {
  from = aws_route_table_association.private[3]
  to   = aws_route_table_association.private["az4"]
}
moved {
  from = aws_route_table_association.private[4]
  to   = aws_route_table_association.private["az5"]
}
moved {
  from = aws_route_table_association.private[5]
  to   = aws_route_table_association.private["az6"]
}

resource "aws_flow_log" "this" {
  count = local.create_vpc && var.enable_flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this[0].id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = local.create_vpc && var.enable_flow_logs ? 1 : 0

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = local.tags
}

resource "aws_iam_role" "flow_logs" {
  count = local.create_vpc && var.enable_flow_logs ? 1 : 0

  name = "${var.name}-flow-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })

  tags = local.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  count = local.create_vpc && var.enable_flow_logs ? 1 : 0

  name = "write-flow-logs"
  role = aws_iam_role.flow_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
      ]
      Resource = [
        aws_cloudwatch_log_group.flow_logs[0].arn,
        "${aws_cloudwatch_log_group.flow_logs[0].arn}:*",
      ]
    }]
  })
}

###############################################################################
# KMS key for the log groups, the ECR repository, the quota store and the catalog
###############################################################################

resource "aws_kms_key" "this" {
  description             = "${var.name}: CloudWatch Logs, ECR, quota store, alarm topic and catalog encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # The alarm topic is encrypted with this key: alarms, EventBridge
        # and endpoint-connection notifications publish to it.
        Sid    = "AlarmTopicPublishers"
        Effect = "Allow"
        Principal = {
          Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "vpce.amazonaws.com"]
        }
        Action   = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
          }
        }
      },
    ]
  })

  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
