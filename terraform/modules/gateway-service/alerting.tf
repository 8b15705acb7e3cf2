###############################################################################
# Where alarms and events go: an SNS topic (the caller's or one created
# here, with an optional e-mail subscription), and a second one in
# var.bedrock_region for Bedrock's alarms when that region differs
# (CloudWatch alarms notify topics in their own region only).
###############################################################################

locals {
  create_alarm_topic = var.alarm_sns_topic_arn == null
  alarm_topic_arn    = local.create_alarm_topic ? aws_sns_topic.alarms[0].arn : var.alarm_sns_topic_arn

  bedrock_in_other_region    = local.bedrock_region != local.region
  create_bedrock_alarm_topic = local.bedrock_in_other_region && var.bedrock_alarm_sns_topic_arn == null
  bedrock_alarm_topic_arn = (
    !local.bedrock_in_other_region ? local.alarm_topic_arn :
    local.create_bedrock_alarm_topic ? aws_sns_topic.bedrock_alarms[0].arn : var.bedrock_alarm_sns_topic_arn
  )
}

resource "aws_sns_topic" "alarms" {
  count = local.create_alarm_topic ? 1 : 0

  name              = "${var.name}-alarms"
  display_name      = "${var.name} alarms"
  kms_master_key_id = aws_kms_key.this.arn

  tags = local.tags
}

# CloudWatch alarms, EventBridge rules and VPC endpoint connection
# notifications publish as AWS services; only from this account.
resource "aws_sns_topic_policy" "alarms" {
  count = local.create_alarm_topic ? 1 : 0

  arn = aws_sns_topic.alarms[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountManagesTopic"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "sns:GetTopicAttributes",
          "sns:SetTopicAttributes",
          "sns:AddPermission",
          "sns:RemovePermission",
          "sns:DeleteTopic",
          "sns:Subscribe",
          "sns:ListSubscriptionsByTopic",
          "sns:Publish",
        ]
        Resource = aws_sns_topic.alarms[0].arn
      },
      {
        Sid    = "AwsServicesPublish"
        Effect = "Allow"
        Principal = {
          Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "vpce.amazonaws.com"]
        }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms[0].arn
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = local.create_alarm_topic && var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Bedrock's region, when it is not the module's: its own key and topic.
resource "aws_kms_key" "bedrock_alarms" {
  provider = aws.bedrock
  count    = local.create_bedrock_alarm_topic ? 1 : 0

  description             = "${var.name}: Bedrock alarm topic encryption (${local.bedrock_region})"
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
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
      },
    ]
  })

  tags = local.tags
}

resource "aws_sns_topic" "bedrock_alarms" {
  provider = aws.bedrock
  count    = local.create_bedrock_alarm_topic ? 1 : 0

  name              = "${var.name}-bedrock-alarms"
  display_name      = "${var.name} Bedrock alarms (${local.bedrock_region})"
  kms_master_key_id = aws_kms_key.bedrock_alarms[0].arn

  tags = local.tags
}

resource "aws_sns_topic_subscription" "bedrock_alarm_email" {
  provider = aws.bedrock
  count    = local.create_bedrock_alarm_topic && var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.bedrock_alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

###############################################################################
# Events that need a person: a failed ECS deployment, and a client account
# asking to connect (the endpoint service requires acceptance).
###############################################################################

# A failed deployment is rolled back by the circuit breaker, or, on the
# first one, leaves the service without tasks; either way nobody would know.
resource "aws_cloudwatch_event_rule" "deployment_failed" {
  name        = "${var.name}-deployment-failed"
  description = "ECS deployment of ${var.name} failed, or the service cannot start tasks"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Deployment State Change", "ECS Service Action"]
    resources     = [aws_ecs_service.this.id]
    detail = {
      eventName = ["SERVICE_DEPLOYMENT_FAILED", "SERVICE_TASK_START_IMPAIRED"]
    }
  })

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "deployment_failed" {
  rule      = aws_cloudwatch_event_rule.deployment_failed.name
  target_id = "alarm-topic"
  arn       = local.alarm_topic_arn

  input_transformer {
    input_paths = {
      event  = "$.detail.eventName"
      reason = "$.detail.reason"
      time   = "$.time"
    }
    input_template = "\"${var.name}: <event> at <time>: <reason>. A failed first deployment is not retried: after fixing the cause (often an image not yet pushed) run aws ecs update-service --cluster ${var.name} --service ${var.name} --force-new-deployment.\""
  }
}

# EventBridge carries no event for a connection request to an endpoint
# service; the service's own connection notification (to SNS) does.
resource "aws_vpc_endpoint_connection_notification" "pending" {
  vpc_endpoint_service_id     = aws_vpc_endpoint_service.this.id
  connection_notification_arn = local.alarm_topic_arn
  connection_events           = ["Connect"]

  # The topic policy must admit vpce.amazonaws.com first.
  depends_on = [aws_sns_topic_policy.alarms]
}
