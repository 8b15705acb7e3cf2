###############################################################################
# Alarms
###############################################################################

locals {
  nlb_dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.this.arn_suffix
  }
  ecs_dimensions = {
    ClusterName = aws_ecs_cluster.this.name
    ServiceName = aws_ecs_service.this.name
  }
  # Bedrock publishes per ModelId (the model or inference-profile id used in
  # the request) in the region called; alarms are made in bedrock_region
  # only, for the catalog's calls there.
  bedrock_model_ids = toset([for c in local.catalog_calls : c.model_id if contains(c.regions, local.bedrock_region)])
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-targets"
  alarm_description   = "At least one gateway target has failed NLB health checks for 3 minutes."
  namespace           = "AWS/NetworkELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.nlb_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  alarm_name          = "${var.name}-no-healthy-targets"
  alarm_description   = "The gateway has no healthy target: clients cannot connect."
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  dimensions          = local.nlb_dimensions
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.name}-cpu-high"
  alarm_description   = "Gateway service CPU above ${var.cpu_alarm_threshold_percent}% for 5 minutes (autoscaling at max?)."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = local.ecs_dimensions
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.cpu_alarm_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "bedrock_throttles" {
  # Next to Bedrock's metrics, in var.bedrock_region.
  provider = aws.bedrock
  for_each = local.bedrock_model_ids

  alarm_name          = "${var.name}-throttles-${replace(each.value, "/[^A-Za-z0-9._-]/", "_")}"
  alarm_description   = "Bedrock is throttling ${each.value} (InvocationThrottles > ${var.throttle_alarm_threshold} in 5 minutes): raise quotas or use an inference profile."
  namespace           = "AWS/Bedrock"
  metric_name         = "InvocationThrottles"
  dimensions          = { ModelId = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.throttle_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.bedrock_alarm_topic_arn]
  ok_actions          = [local.bedrock_alarm_topic_arn]
  tags                = local.tags

  lifecycle {
    precondition {
      condition     = data.aws_region.bedrock.name == local.bedrock_region
      error_message = "The aws.bedrock provider is configured for ${data.aws_region.bedrock.name}, but the gateway calls Bedrock in ${local.bedrock_region}: pass a provider for bedrock_region as aws.bedrock (the same provider as aws when they are one region)."
    }
    precondition {
      condition     = split(":", local.bedrock_alarm_topic_arn)[3] == local.bedrock_region
      error_message = "Bedrock's alarms are in ${local.bedrock_region} and can only notify an SNS topic there; ${local.bedrock_alarm_topic_arn} is not (set bedrock_alarm_sns_topic_arn to a topic in bedrock_region, or leave it null)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "bedrock_5xx" {
  # Next to Bedrock's metrics, in var.bedrock_region.
  provider = aws.bedrock
  for_each = local.bedrock_model_ids

  alarm_name          = "${var.name}-5xx-${replace(each.value, "/[^A-Za-z0-9._-]/", "_")}"
  alarm_description   = "Bedrock returned server errors (5xx) for ${each.value} in 3 consecutive minutes."
  namespace           = "AWS/Bedrock"
  metric_name         = "InvocationServerErrors"
  dimensions          = { ModelId = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.bedrock_alarm_topic_arn]
  ok_actions          = [local.bedrock_alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "target_resets" {
  alarm_name          = "${var.name}-target-resets"
  alarm_description   = "Gateway targets are resetting TCP connections (crashes or ungraceful shutdowns)."
  namespace           = "AWS/NetworkELB"
  metric_name         = "TCP_Target_Reset_Count"
  dimensions          = local.nlb_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 50
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

# The gateway's own health, from its EMF metrics (namespace BedrockGateway,
# dimension ServiceName) and its request log lines.

locals {
  emf_dimensions = { ServiceName = local.emf_service_name }
}

resource "aws_cloudwatch_metric_alarm" "error_ratio" {
  alarm_name          = "${var.name}-error-ratio"
  alarm_description   = "More than ${var.error_ratio_alarm_percent}% of the gateway's requests end with a server-side error or a misconfiguration (3 of 5 minutes, at least 10 requests a minute). Logs Insights: status Internal/Unavailable/Unknown/DataLoss or level ERROR."
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.error_ratio_alarm_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags

  metric_query {
    id          = "ratio"
    label       = "Server errors (% of requests)"
    expression  = "IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = local.emf_namespace
      metric_name = "Requests"
      dimensions  = local.emf_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = local.log_metric_namespace
      metric_name = "ServerErrors"
      stat        = "Sum"
      period      = 60
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "rejections" {
  alarm_name          = "${var.name}-rejections"
  alarm_description   = "The gateway refused more than ${var.rejections_alarm_threshold} requests in 5 minutes before they reached Bedrock (authentication, permission, quota, capacity, size, ...): see bedrock_gateway_rejections_total by reason, or the request log's reason field."
  namespace           = local.emf_namespace
  metric_name         = "Rejections"
  dimensions          = local.emf_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.rejections_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "streams_saturation" {
  alarm_name          = "${var.name}-streams-saturation"
  alarm_description   = "A task has had more than ${var.streams_saturation_alarm_percent}% of max_streams_per_task (${var.max_streams_per_task}) streams in flight for 3 minutes: scaling is not keeping up or max_capacity (${var.max_capacity}) is reached; tasks refuse streams beyond the limit."
  namespace           = local.emf_namespace
  metric_name         = "StreamsInFlight"
  dimensions          = local.emf_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = floor(var.max_streams_per_task * var.streams_saturation_alarm_percent / 100)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
  tags                = local.tags
}

###############################################################################
# Dashboard
###############################################################################

locals {
  nlb_metric = ["LoadBalancer", aws_lb.this.arn_suffix, "TargetGroup", aws_lb_target_group.this.arn_suffix]
  ecs_metric = ["ClusterName", aws_ecs_cluster.this.name, "ServiceName", aws_ecs_service.this.name]

  dashboard_widgets = concat(
    [
      {
        type = "metric", x = 0, y = 0, width = 8, height = 6
        properties = {
          title  = "Streams per task, requests (gateway EMF)"
          region = local.region
          period = 60
          metrics = [
            [local.emf_namespace, "StreamsInFlight", "ServiceName", local.emf_service_name, { stat = "Average", label = "StreamsInFlight avg per task (scaling target ${var.streams_per_task_target})" }],
            [local.emf_namespace, "StreamsInFlight", "ServiceName", local.emf_service_name, { stat = "Maximum", label = "StreamsInFlight max" }],
            [local.emf_namespace, "Requests", "ServiceName", local.emf_service_name, { stat = "Sum", yAxis = "right" }],
            [local.emf_namespace, "Rejections", "ServiceName", local.emf_service_name, { stat = "Sum", yAxis = "right" }],
            [local.emf_namespace, "BedrockErrors", "ServiceName", local.emf_service_name, { stat = "Sum", yAxis = "right" }],
            [local.log_metric_namespace, "ServerErrors", { stat = "Sum", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 8, y = 0, width = 8, height = 6
        properties = {
          title  = "NLB flows"
          region = local.region
          period = 60
          metrics = [
            concat(["AWS/NetworkELB", "ActiveFlowCount"], local.nlb_metric, [{ stat = "Average" }]),
            concat(["AWS/NetworkELB", "NewFlowCount"], local.nlb_metric, [{ stat = "Sum" }]),
            concat(["AWS/NetworkELB", "TCP_Target_Reset_Count"], local.nlb_metric, [{ stat = "Sum" }]),
            concat(["AWS/NetworkELB", "TCP_ELB_Reset_Count"], local.nlb_metric, [{ stat = "Sum" }]),
          ]
        }
      },
      {
        type = "metric", x = 16, y = 0, width = 8, height = 6
        properties = {
          title  = "Target health"
          region = local.region
          period = 60
          metrics = [
            concat(["AWS/NetworkELB", "HealthyHostCount"], local.nlb_metric, [{ stat = "Minimum" }]),
            concat(["AWS/NetworkELB", "UnHealthyHostCount"], local.nlb_metric, [{ stat = "Maximum" }]),
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 8, height = 6
        properties = {
          title  = "Service CPU / memory (%)"
          region = local.region
          period = 60
          stat   = "Average"
          metrics = [
            concat(["AWS/ECS", "CPUUtilization"], local.ecs_metric),
            concat(["AWS/ECS", "MemoryUtilization"], local.ecs_metric),
          ]
        }
      },
      {
        type = "metric", x = 8, y = 6, width = 8, height = 6
        properties = {
          title  = "Running tasks"
          region = local.region
          period = 60
          stat   = "Average"
          metrics = [
            concat(["ECS/ContainerInsights", "RunningTaskCount"], local.ecs_metric),
            concat(["ECS/ContainerInsights", "DesiredTaskCount"], local.ecs_metric),
          ]
        }
      },
      {
        type = "log", x = 16, y = 6, width = 8, height = 6
        properties = {
          title  = "Recent failed requests"
          region = local.region
          query  = "SOURCE '${aws_cloudwatch_log_group.gateway.name}' | fields @timestamp, rpc, model, status, error, request_id | filter target = 'bedrock_gateway::request' and status != 'OK' | sort @timestamp desc | limit 50"
          view   = "table"
        }
      },
    ],
    [
      for i, id in sort(tolist(local.bedrock_model_ids)) : {
        type = "metric", x = (i % 3) * 8, y = 12 + floor(i / 3) * 6, width = 8, height = 6
        properties = {
          title  = "Bedrock ${id}"
          region = local.bedrock_region
          period = 60
          stat   = "Sum"
          metrics = [
            ["AWS/Bedrock", "Invocations", "ModelId", id],
            ["AWS/Bedrock", "InvocationThrottles", "ModelId", id],
            ["AWS/Bedrock", "InvocationClientErrors", "ModelId", id],
            ["AWS/Bedrock", "InvocationServerErrors", "ModelId", id],
            ["AWS/Bedrock", "InvocationLatency", "ModelId", id, { stat = "p90", yAxis = "right" }],
          ]
        }
      }
    ]
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
