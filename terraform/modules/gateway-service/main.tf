data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first az_count names (sorted) are used, so a zone AWS adds later never changes the subnets; callers pin exact zones with var.availability_zones.
  count = local.create_vpc && length(var.availability_zones) == 0 ? 1 : 0
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
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

  azs = local.create_vpc ? (
    length(var.availability_zones) > 0 ? var.availability_zones : slice(data.aws_availability_zones.available[0].names, 0, var.az_count)
  ) : []

  vpc_id             = local.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  vpc_cidr           = local.create_vpc ? aws_vpc.this[0].cidr_block : data.aws_vpc.existing[0].cidr_block
  private_subnet_ids = local.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids
  route_table_ids    = local.create_vpc ? [aws_route_table.private[0].id] : var.private_route_table_ids

  # Subnet size: /20 out of a /16, smaller for smaller VPCs, always room for 6 AZs.
  subnet_newbits = 4

  tags = merge({ "app" = "bedrock-gateway", "managed-by" = "terraform" }, var.tags)

  container_name = "gateway"
  image          = coalesce(var.container_image, "${aws_ecr_repository.this.repository_url}:${var.image_tag}")
  bedrock_region = coalesce(var.bedrock_region, local.region)

  # Drain choreography (see README "Draining"): the NLB keeps established
  # flows for deregistration_delay after a task is deregistered, ECS then
  # sends SIGTERM and the gateway drains for the same grace, and the task is
  # killed stopTimeout seconds after SIGTERM.
  deregistration_delay = var.drain_seconds
  stop_timeout         = var.drain_seconds + 15

  model_env = merge([
    for alias, m in var.models : merge(
      { "BEDROCK_GATEWAY_MODELS__${upper(alias)}__MODEL_ID" = m.model_id },
      m.max_tokens_cap == null ? {} : { "BEDROCK_GATEWAY_MODELS__${upper(alias)}__MAX_TOKENS_CAP" = tostring(m.max_tokens_cap) }
    )
  ]...)

  # Plain configuration only; a name that is also a secret (quotas.tf) is
  # left to the secret.
  container_env = {
    for k, v in merge(
      var.environment,
      local.model_env,
      local.tenant_env,
      local.auth_env,
      local.quota_env,
      {
        "BEDROCK_GATEWAY_SERVER__LISTEN"              = "0.0.0.0:${var.grpc_port}"
        "BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS" = tostring(var.drain_seconds)
        "BEDROCK_GATEWAY_BEDROCK__REGION"             = local.bedrock_region
        "BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL"      = tostring(var.proxy_protocol_v2)
      }
    ) : k => v if !contains(keys(local.container_secrets), k)
  }

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
}

# Take over the default security group and strip all its rules so nothing
# can accidentally use it.
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.this[0].id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, local.subnet_newbits, count.index)
  map_public_ip_on_launch = false

  tags = merge(local.tags, { Name = "${var.name}-private-${local.azs[count.index]}", tier = "private" })
}

# One route table with only the implicit local route (+ the S3 gateway
# endpoint's prefix-list route). There is deliberately no 0.0.0.0/0 route.
resource "aws_route_table" "private" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "private" {
  count          = length(aws_subnet.private)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
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
# KMS key for the log groups, the ECR repository and the quota store
###############################################################################

resource "aws_kms_key" "this" {
  description             = "${var.name}: CloudWatch Logs, ECR and quota store encryption"
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
