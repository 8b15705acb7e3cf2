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

# One JSON line per request -> a Requests metric used by the request
# target-tracking policy and the dashboard.
resource "aws_cloudwatch_log_metric_filter" "requests" {
  name           = "${var.name}-requests"
  log_group_name = aws_cloudwatch_log_group.gateway.name
  pattern        = var.request_log_filter_pattern

  metric_transformation {
    name          = "Requests"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

###############################################################################
# IAM: execution role (pull image, write logs) and task role (Bedrock only)
###############################################################################

locals {
  bedrock_actions  = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
  metric_namespace = "BedrockGateway/${var.name}"

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
  description        = "ECS agent: pull the gateway image, write its logs, read its secrets"
  assume_role_policy = local.ecs_tasks_trust
  tags               = local.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-image-write-logs"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
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
      ],
      # Exactly the secrets the container definition names (quotas.tf).
      length(local.readable_secret_arns) == 0 ? [] : [{
        Sid      = "ReadContainerSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = local.readable_secret_arns
      }],
      length(local.readable_parameter_arns) == 0 ? [] : [{
        Sid      = "ReadContainerParameters"
        Effect   = "Allow"
        Action   = ["ssm:GetParameters"]
        Resource = local.readable_parameter_arns
      }],
      length(local.secret_kms_key_arns) == 0 ? [] : [{
        Sid      = "DecryptContainerSecrets"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = local.secret_kms_key_arns
        Condition = {
          StringLike = { "kms:ViaService" = ["secretsmanager.*.amazonaws.com", "ssm.*.amazonaws.com"] }
        }
      }],
    )
  })
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Bedrock gateway: may only invoke the configured Bedrock models"
  assume_role_policy = local.ecs_tasks_trust
  tags               = local.tags
}

resource "aws_iam_role_policy" "task" {
  name = "invoke-configured-models"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeConfiguredModels"
      Effect   = "Allow"
      Action   = local.bedrock_actions
      Resource = var.bedrock_model_arns
    }]
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
      length(local.container_secrets) == 0 ? {} : {
        secrets = [for k in sort(keys(local.container_secrets)) : { name = k, valueFrom = local.container_secrets[k] }]
      }
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
  health_check_grace_period_seconds  = 30
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
  }

  # Tasks read their secrets at start: the values must exist first.
  depends_on = [aws_lb_listener.tcp, aws_iam_role_policy.execution, aws_secretsmanager_secret_version.quota_store]

  tags = local.tags
}

###############################################################################
# Autoscaling: target tracking on CPU and on requests per task
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

# Requests per running task per minute = Requests (log metric filter) /
# RunningTaskCount (Container Insights).
resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = "ecs"
  resource_id        = local.autoscaling_resource_id
  scalable_dimension = "ecs:service:DesiredCount"

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_task_target
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds

    customized_metric_specification {
      metrics {
        id          = "requests"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = local.metric_namespace
            metric_name = "Requests"
          }
        }
      }

      metrics {
        id          = "tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.this.name
            }
          }
        }
      }

      metrics {
        id          = "per_task"
        label       = "Requests per task per minute"
        expression  = "requests / tasks"
        return_data = true
      }
    }
  }

  depends_on = [aws_appautoscaling_target.this, aws_cloudwatch_log_metric_filter.requests]
}
