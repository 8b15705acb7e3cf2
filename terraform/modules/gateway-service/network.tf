###############################################################################
# VPC endpoints: the tasks reach AWS only through these (no IGW/NAT).
###############################################################################

locals {
  # service short name => endpoint policy statements
  interface_endpoint_statements = merge(
    {
      # The task role's statements, for the task role only; and the roles it
      # assumes in other accounts (their own policies say which models), by
      # ARN condition, since a principal ARN is checked when the policy is set.
      "bedrock-runtime" = concat(
        [for st in local.bedrock_statements : merge(st, { Principal = { AWS = aws_iam_role.task.arn } })],
        length(local.bedrock_role_arns) == 0 ? [] : [{
          Sid       = "BedrockAccessRoles"
          Effect    = "Allow"
          Principal = "*"
          Action    = concat(local.bedrock_actions, ["bedrock:ApplyGuardrail"])
          Resource  = "*"
          Condition = { ArnEquals = { "aws:PrincipalArn" = local.bedrock_role_arns } }
        }],
      )
      "ecr.api" = [
        {
          Sid       = "AuthToken"
          Effect    = "Allow"
          Principal = "*"
          Action    = ["ecr:GetAuthorizationToken"]
          Resource  = "*"
          Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
        },
        {
          Sid       = "PullGatewayRepository"
          Effect    = "Allow"
          Principal = "*"
          Action    = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages", "ecr:DescribeRepositories"]
          Resource  = aws_ecr_repository.this.arn
          Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
        },
      ]
      "ecr.dkr" = [{
        Sid       = "PullGatewayRepository"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource  = aws_ecr_repository.this.arn
        Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
      }]
      "logs" = [{
        Sid       = "WriteOwnLogGroups"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource  = ["${aws_cloudwatch_log_group.gateway.arn}:*", aws_cloudwatch_log_group.gateway.arn]
        Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
      }]
    },
    # The gateway assumes the roles of bedrock_role_arns through the
    # regional STS endpoint, which private DNS resolves to this one.
    length(local.bedrock_role_arns) > 0 ? {
      "sts" = [for st in local.assume_role_statements : merge(st, { Principal = { AWS = aws_iam_role.task.arn } })]
    } : {},
  )

  # An extra endpoint the module also needs keeps both policies' statements.
  interface_endpoint_all_statements = {
    for svc in distinct(concat(keys(local.interface_endpoint_statements), var.extra_interface_endpoints)) :
    svc => concat(
      lookup(local.interface_endpoint_statements, svc, []),
      contains(var.extra_interface_endpoints, svc) ? [{
        Sid       = "SameAccountOnly"
        Effect    = "Allow"
        Principal = "*"
        Action    = "*"
        Resource  = "*"
        Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
      }] : []
    )
  }

  # service short name => endpoint policy document (JSON)
  interface_endpoints = local.create_endpoints ? {
    for svc, statements in local.interface_endpoint_all_statements :
    svc => jsonencode({ Version = "2012-10-17", Statement = statements })
  } : {}
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoints

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  policy = each.value

  tags = merge(local.tags, { Name = "${var.name}-${each.key}" })
}

# ECR stores image layers in S3, and the catalog is an S3 object; a gateway
# endpoint on the private route tables reaches both. The policy admits only
# ECR's layer bucket and, for the task role, the catalog object, which is
# why it is only created in a VPC that is the gateway's alone.
resource "aws_vpc_endpoint" "s3" {
  count = local.create_endpoints ? 1 : 0

  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.route_table_ids

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EcrLayersOnly"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["s3:GetObject"]
        Resource  = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]
      },
      {
        Sid       = "GatewayCatalogAndTenants"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.task.arn }
        Action    = ["s3:GetObject"]
        Resource  = [local.catalog_object_arn, local.tenants_object_arn]
      },
    ]
  })

  tags = merge(local.tags, { Name = "${var.name}-s3" })
}

###############################################################################
# Security groups
#   clients --(grpc_port)--> NLB SG --(grpc_port)--> task SG --(443)--> endpoint SG
###############################################################################

resource "aws_security_group" "nlb" {
  name_prefix = "${var.name}-nlb-"
  description = "Internal NLB of the Bedrock gateway"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_grpc" {
  for_each = toset(length(var.nlb_ingress_cidr_blocks) > 0 ? var.nlb_ingress_cidr_blocks : [local.vpc_cidr])

  security_group_id = aws_security_group.nlb.id
  description       = "gRPC from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.grpc_port
  to_port           = var.grpc_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "nlb_tls" {
  for_each = var.tls_certificate_arn == null ? toset([]) : toset(length(var.nlb_ingress_cidr_blocks) > 0 ? var.nlb_ingress_cidr_blocks : [local.vpc_cidr])

  security_group_id = aws_security_group.nlb.id
  description       = "gRPC over TLS from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.tls_port
  to_port           = var.tls_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Traffic and health checks to the gateway tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.grpc_port
  to_port                      = var.grpc_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "Bedrock gateway Fargate tasks: only the NLB may connect"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-tasks" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_nlb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "gRPC and health checks from the NLB only"
  ip_protocol                  = "tcp"
  from_port                    = var.grpc_port
  to_port                      = var.grpc_port
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_endpoints" {
  count = local.create_endpoints ? 1 : 0

  security_group_id            = aws_security_group.tasks.id
  description                  = "HTTPS to the interface endpoints (Bedrock, ECR, Logs)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_s3" {
  count = local.create_endpoints ? 1 : 0

  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to S3 (ECR image layers, the catalog) via the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3[0].prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "tasks_extra" {
  for_each = toset(var.task_egress_cidr_blocks)

  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "tasks_prefix_lists" {
  for_each = toset(var.task_egress_prefix_list_ids)

  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to prefix list ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
}

resource "aws_security_group" "endpoints" {
  count = local.create_endpoints ? 1 : 0

  name_prefix = "${var.name}-endpoints-"
  description = "Interface VPC endpoints used by the Bedrock gateway tasks"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-endpoints" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_tasks" {
  count = local.create_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the gateway tasks only"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.tasks.id
}
