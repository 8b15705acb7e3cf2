###############################################################################
# ECR repository for the gateway image
###############################################################################

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.ecr_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the ${var.ecr_keep_images} most recent images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

###############################################################################
# Logs
###############################################################################

resource "aws_cloudwatch_log_group" "gateway" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = local.tags
}

# The gateway's EMF metrics count requests, rejections and Bedrock errors but
# not requests that failed on the gateway's side; their JSON request lines
# (one per request, written when it ends) are counted here for the error
# ratio alarm: server-side statuses, and misconfigurations (logged at ERROR,
# e.g. Bedrock AccessDenied because the task role lacks a model ARN).
resource "aws_cloudwatch_log_metric_filter" "server_errors" {
  name           = "${var.name}-server-errors"
  log_group_name = aws_cloudwatch_log_group.gateway.name
  pattern        = "{ $.target = \"bedrock_gateway::request\" && ($.status = \"Internal\" || $.status = \"Unavailable\" || $.status = \"Unknown\" || $.status = \"DataLoss\" || $.level = \"ERROR\") }"

  metric_transformation {
    name      = "ServerErrors"
    namespace = local.log_metric_namespace
    value     = "1"
    unit      = "Count"
  }
}

###############################################################################
# IAM: execution role (pull image, write logs) and task role (Bedrock only)
###############################################################################

locals {
  # CountTokens serves the gateway's CountTokens for a model whose catalog
  # entry says capabilities.count_tokens; it invokes nothing and costs
  # nothing, so every granted model has it and a catalog edit turning it on
  # needs no IAM change.
  bedrock_actions      = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
  log_metric_namespace = "BedrockGateway/${var.name}"

  # What the caller lists, then what the catalog calls (catalog.tf).
  bedrock_model_arns = distinct(concat(var.bedrock_model_arns, local.catalog_model_arns))

  # Regional ARNs are granted as given. Foundation models with a wildcard or
  # no region (what cross-region and global inference profiles route to,
  # in regions AWS may add) only through the inference profiles.
  bedrock_regional_arns   = [for a in local.bedrock_model_arns : a if can(regex("^arn:[^:]+:bedrock:[a-z0-9-]+:", a))]
  bedrock_any_region_arns = [for a in local.bedrock_model_arns : a if !can(regex("^arn:[^:]+:bedrock:[a-z0-9-]+:", a))]
  bedrock_profile_arns    = [for a in local.bedrock_model_arns : a if can(regex(":(application-)?inference-profile/", a))]
  bedrock_statements = concat(
    [{
      Sid      = "InvokeConfiguredModels"
      Effect   = "Allow"
      Action   = local.bedrock_actions
      Resource = local.bedrock_regional_arns
    }],
    length(local.bedrock_any_region_arns) == 0 ? [] : [{
      Sid       = "InvokeThroughInferenceProfiles"
      Effect    = "Allow"
      Action    = local.bedrock_actions
      Resource  = local.bedrock_any_region_arns
      Condition = { StringEquals = { "bedrock:InferenceProfileArn" = local.bedrock_profile_arns } }
    }],
    # Bedrock refuses a call with a guardrail unless the caller may also
    # apply that guardrail (catalog.tf derives them from models).
    length(local.catalog_guardrail_arns) == 0 ? [] : [{
      Sid      = "ApplyCatalogGuardrails"
      Effect   = "Allow"
      Action   = ["bedrock:ApplyGuardrail"]
      Resource = local.catalog_guardrail_arns
    }],
  )

  # Roles in other accounts whose Bedrock the gateway calls (catalog.tf).
  bedrock_role_arns = distinct(concat(var.bedrock_role_arns, local.catalog_role_arns))
  assume_role_statements = length(local.bedrock_role_arns) == 0 ? [] : [{
    Sid      = "AssumeBedrockAccessRoles"
    Effect   = "Allow"
    Action   = ["sts:AssumeRole"]
    Resource = local.bedrock_role_arns
  }]

  ecs_tasks_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
      }
    }]
  })
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "ECS agent: pull the gateway image, write its logs"
  assume_role_policy = local.ecs_tasks_trust
  tags               = local.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-image-write-logs"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken does not support resource-level permissions.
        Sid      = "EcrAuth"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "EcrPull"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = [aws_ecr_repository.this.arn]
      },
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.gateway.arn}:*"]
      },
    ]
  })
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Bedrock gateway: may only invoke the catalog's Bedrock models (and assume the roles that call other accounts' Bedrock), read the catalog and the tenants"
  assume_role_policy = local.ecs_tasks_trust
  tags               = local.tags
}

resource "aws_iam_role_policy" "task" {
  name = "invoke-configured-models"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.bedrock_statements, local.assume_role_statements, local.quota_store_statements)
  })
}

###############################################################################
# ECS cluster, task definition, service
###############################################################################

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    merge(
      {
        name                   = local.container_name
        image                  = local.image
        essential              = true
        user                   = "65532:65532"
        readonlyRootFilesystem = true
        privileged             = false
        stopTimeout            = local.stop_timeout

        portMappings = [{
          name          = "grpc"
          containerPort = var.grpc_port
          protocol      = "tcp"
          appProtocol   = "grpc"
        }]

        environment = [for k in sort(keys(local.container_env)) : { name = k, value = local.container_env[k] }]

        # The image has no shell: CMD form, the binary probes its own gRPC
        # health service.
        healthCheck = {
          command     = local.health_check_command
          interval    = 15
          timeout     = 5
          retries     = 3
          startPeriod = 20
        }

        ulimits = [{
          name      = "nofile"
          softLimit = 65536
          hardLimit = 65536
        }]

        logConfiguration = {
          logDriver = "awslogs"
          options = {
            "awslogs-group"         = aws_cloudwatch_log_group.gateway.name
            "awslogs-region"        = local.region
            "awslogs-stream-prefix" = "gateway"
            "mode"                  = "non-blocking"
            "max-buffer-size"       = "25m"
          }
        }
      },
      var.container_command == null ? {} : { command = var.container_command },
    )
  ])

  tags = local.tags
}

resource "aws_ecs_service" "this" {
  name             = var.name
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.this.arn
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  desired_count    = var.min_capacity
  propagate_tags   = "SERVICE"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = local.health_check_grace_seconds
  enable_execute_command             = false
  wait_for_steady_state              = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = var.grpc_port
  }

  lifecycle {
    # Application Auto Scaling owns the running count after creation.
    ignore_changes = [desired_count]

    precondition {
      condition     = local.subnet_usable_ips >= local.subnet_needed_ips
      error_message = "The subnets are too small: each must hold ${local.subnet_needed_ips} addresses (${length(local.interface_endpoints)} interface endpoints, the NLB${local.quota_store_enabled ? ", the quota store" : ""} and its share of 2 x max_capacity = ${2 * var.max_capacity} tasks during a deployment, +1), but the smallest has ${local.subnet_usable_ips} usable. Use a larger vpc_cidr (or subnets), more zones, or a lower max_capacity."
    }
  }

  # A first deployment's tasks must find their whole network path (endpoints,
  # the S3 route, security group rules), the catalog and the quota store in
  # place: if they fail to start, the circuit breaker fails a deployment with
  # nothing to roll back to. terraform test cannot see ordering, so ci.sh
  # checks this list in `terraform graph` (tests/service_order_test.py).
  depends_on = [
    terraform_data.network_path,
    aws_lb_listener.tcp,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.task,
    aws_iam_role_policy.task_catalog,
    aws_s3_object.catalog,
    aws_s3_object.tenants,
  ]

  tags = local.tags
}

# Everything between a starting task and the AWS APIs and clients it needs,
# gathered so that the service waits for all of it (and tests can see what).
resource "terraform_data" "network_path" {
  input = {
    interface_endpoints      = { for k, e in aws_vpc_endpoint.interface : k => e.id }
    s3_endpoint              = aws_vpc_endpoint.s3[*].id
    route_table_associations = [for a in values(aws_route_table_association.private) : a.id]
    task_egress_rules = concat(
      aws_vpc_security_group_egress_rule.tasks_to_endpoints[*].id,
      aws_vpc_security_group_egress_rule.tasks_to_s3[*].id,
      [for r in values(aws_vpc_security_group_egress_rule.tasks_extra) : r.id],
      [for r in values(aws_vpc_security_group_egress_rule.tasks_prefix_lists) : r.id],
      aws_vpc_security_group_egress_rule.tasks_to_quota_store[*].id,
    )
    # The NLB to the tasks, the tasks into the endpoints and the cache.
    ingress_rules = concat(
      [aws_vpc_security_group_ingress_rule.tasks_from_nlb.id, aws_vpc_security_group_egress_rule.nlb_to_tasks.id],
      aws_vpc_security_group_ingress_rule.endpoints_from_tasks[*].id,
      aws_vpc_security_group_ingress_rule.quota_store_from_tasks[*].id,
    )
  }
}

###############################################################################
# Autoscaling: target tracking on CPU and on streams in flight per task
###############################################################################

locals {
  autoscaling_resource_id = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this.name}"
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = local.autoscaling_resource_id
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = local.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = "ecs"
  resource_id        = local.autoscaling_resource_id
  scalable_dimension = "ecs:service:DesiredCount"

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }

  depends_on = [aws_appautoscaling_target.this]
}

# The streams each task has open: every task writes StreamsInFlight every
# 10 s as EMF (0 when idle), so the Average over the fleet is the streams
# per task, present even when idle (scale-in happens), and it falls as soon
# as new tasks report. New tasks get connections within
# max_connection_age_seconds, as clients reconnect after GOAWAY.
resource "aws_appautoscaling_policy" "streams" {
  name               = "${var.name}-streams"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = "ecs"
  resource_id        = local.autoscaling_resource_id
  scalable_dimension = "ecs:service:DesiredCount"

  target_tracking_scaling_policy_configuration {
    target_value       = var.streams_per_task_target
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    customized_metric_specification {
      namespace   = local.emf_namespace
      metric_name = "StreamsInFlight"
      statistic   = "Average"
      unit        = "Count"

      dimensions {
        name  = "ServiceName"
        value = local.emf_service_name
      }
    }
  }

  depends_on = [aws_appautoscaling_target.this]
}
