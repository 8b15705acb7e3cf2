# Running it: scaling on streams in flight, draining on scale-in, alarms and
# events that reach someone, cross-region inference profiles, ARM64.

mock_provider "aws" {
  source = "./tests"
}

mock_provider "aws" {
  alias  = "bedrock"
  source = "./tests"
}

variables {
  models = {
    "chat"   = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    "sonnet" = { model_id = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" }
  }
  allowed_principals = ["arn:aws:iam::222222222222:root"]
}

# --- scaling on the streams each task holds ---------------------------------------------

run "scales_on_streams_in_flight" {
  command = plan

  assert {
    condition = (
      aws_appautoscaling_policy.streams.policy_type == "TargetTrackingScaling"
      && aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].target_value == 200
    )
    error_message = "A target-tracking policy on streams per task (default target 200) is expected."
  }
  assert {
    condition = (
      aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].namespace == "BedrockGateway"
      && aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metric_name == "StreamsInFlight"
      && aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].statistic == "Average"
      && length(aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics) == 0
    )
    error_message = "The policy must track the Average of the gateway's own BedrockGateway/StreamsInFlight (one value per task), not a log-derived metric."
  }
  assert {
    condition = (
      one(aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].dimensions).name == "ServiceName"
      && one(aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].dimensions).value == output.container_environment["BEDROCK_GATEWAY_METRICS__EMF_SERVICE_NAME"]
      && output.container_environment["BEDROCK_GATEWAY_METRICS__EMF"] == "true"
    )
    error_message = "The gateway must publish EMF, with the ServiceName dimension the policy tracks."
  }
  assert {
    condition     = output.streams_in_flight_metric == { namespace = "BedrockGateway", metric_name = "StreamsInFlight", dimensions = { ServiceName = "bedrock-gateway" } }
    error_message = "The metric is an output, for callers' own alarms and dashboards."
  }
  assert {
    condition     = length([for k in keys(output.container_environment) : k if k == "BEDROCK_GATEWAY_SERVER__MAX_CONCURRENT_REQUESTS"]) == 1 && output.container_environment["BEDROCK_GATEWAY_SERVER__MAX_CONCURRENT_REQUESTS"] == "2000"
    error_message = "The per-task stream limit the saturation alarm is relative to must be the gateway's."
  }
}

run "one_scheduler_thread_per_whole_vcpu" {
  command = plan

  variables {
    cpu    = 4096
    memory = 8192
  }

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_SERVER__WORKER_THREADS"] == "4"
    error_message = "A 4-vCPU task runs four scheduler threads (a task of up to one vCPU runs the single-threaded scheduler)."
  }
}

run "new_tasks_get_connections_and_scale_in_drains" {
  command = plan

  variables {
    max_connection_age_seconds = 300
    drain_seconds              = 90
  }

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_SERVER__MAX_CONNECTION_AGE_SECS"] == "300"
    error_message = "The gateway's connection age must be set, so that clients reconnect and the NLB gives new tasks connections."
  }
  assert {
    condition     = tonumber(aws_lb_target_group.this.deregistration_delay) >= 1.1 * 300
    error_message = "The deregistration delay must outlast the longest jittered connection age (1.1 x), so no new stream reaches a task after SIGTERM."
  }
  assert {
    condition = (
      output.container_environment["BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS"] == "90"
      && output.stop_timeout_seconds > 90
      && output.stop_timeout_seconds <= 120
    )
    error_message = "Streams get the whole drain window after SIGTERM before SIGKILL (stopTimeout > shutdown grace, within Fargate's 120 s)."
  }
}

# --- alarms and events reach someone ------------------------------------------------------

run "alarms_reach_a_topic" {
  command = apply

  variables {
    alarm_email = "oncall@example.com"
  }

  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == aws_kms_key.this.arn && output.alarm_topic_arn == aws_sns_topic.alarms[0].arn
    error_message = "Without a given topic the module creates a KMS-encrypted one."
  }
  assert {
    condition     = aws_sns_topic_subscription.alarm_email[0].protocol == "email" && aws_sns_topic_subscription.alarm_email[0].endpoint == "oncall@example.com" && aws_sns_topic_subscription.alarm_email[0].topic_arn == aws_sns_topic.alarms[0].arn
    error_message = "alarm_email is subscribed to the topic."
  }
  assert {
    condition = alltrue([
      for a in concat(
        [aws_cloudwatch_metric_alarm.unhealthy_hosts, aws_cloudwatch_metric_alarm.no_healthy_hosts, aws_cloudwatch_metric_alarm.cpu_high, aws_cloudwatch_metric_alarm.target_resets],
        [aws_cloudwatch_metric_alarm.error_ratio, aws_cloudwatch_metric_alarm.rejections, aws_cloudwatch_metric_alarm.streams_saturation],
        values(aws_cloudwatch_metric_alarm.bedrock_throttles), values(aws_cloudwatch_metric_alarm.bedrock_5xx),
      ) : a.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && a.ok_actions == toset([aws_sns_topic.alarms[0].arn])
    ])
    error_message = "Every alarm must notify the topic, on alarm and on recovery."
  }
  assert {
    condition = anytrue([
      for st in jsondecode(aws_sns_topic_policy.alarms[0].policy).Statement :
      st.Action == "sns:Publish" && try(toset(st.Principal.Service), null) == toset(["cloudwatch.amazonaws.com", "events.amazonaws.com", "vpce.amazonaws.com"])
      ]) && anytrue([
      for st in jsondecode(aws_kms_key.this.policy).Statement :
      try(toset(st.Principal.Service) == toset(["cloudwatch.amazonaws.com", "events.amazonaws.com", "vpce.amazonaws.com"]), false)
    ])
    error_message = "CloudWatch, EventBridge and VPC endpoint notifications must be allowed to publish to the topic and use its key."
  }
}

run "alarms_on_the_gateways_own_health" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.rejections.namespace == "BedrockGateway"
      && aws_cloudwatch_metric_alarm.rejections.metric_name == "Rejections"
      && aws_cloudwatch_metric_alarm.rejections.dimensions == tomap({ ServiceName = "bedrock-gateway" })
      && aws_cloudwatch_metric_alarm.rejections.threshold == 100
    )
    error_message = "An alarm on the gateway's rejections (EMF) is expected."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.streams_saturation.metric_name == "StreamsInFlight"
      && aws_cloudwatch_metric_alarm.streams_saturation.statistic == "Maximum"
      && aws_cloudwatch_metric_alarm.streams_saturation.threshold == 1600
    )
    error_message = "The in-flight saturation alarm fires at 80 % of the per-task limit (2000) on the busiest task."
  }
  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.error_ratio.metric_query : q if q.id == "ratio"]).expression == "IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"
      && one([for q in aws_cloudwatch_metric_alarm.error_ratio.metric_query : q.metric[0].metric_name if q.id == "requests"]) == "Requests"
      && one([for q in aws_cloudwatch_metric_alarm.error_ratio.metric_query : q.metric[0].metric_name if q.id == "errors"]) == aws_cloudwatch_log_metric_filter.server_errors.metric_transformation[0].name
      && aws_cloudwatch_metric_alarm.error_ratio.threshold == 5
    )
    error_message = "The error-ratio alarm divides the gateway's server errors (request log lines) by its requests (EMF)."
  }
  assert {
    condition     = strcontains(aws_cloudwatch_log_metric_filter.server_errors.pattern, "bedrock_gateway::request") && strcontains(aws_cloudwatch_log_metric_filter.server_errors.pattern, "$.status = \"Internal\"") && strcontains(aws_cloudwatch_log_metric_filter.server_errors.pattern, "$.level = \"ERROR\"")
    error_message = "Server errors are the request lines with a server-side status or logged as errors (misconfiguration)."
  }
}

run "events_that_need_a_person" {
  command = apply

  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.deployment_failed.event_pattern).source == ["aws.ecs"]
      && jsondecode(aws_cloudwatch_event_rule.deployment_failed.event_pattern).resources == [aws_ecs_service.this.id]
      && contains(jsondecode(aws_cloudwatch_event_rule.deployment_failed.event_pattern).detail.eventName, "SERVICE_DEPLOYMENT_FAILED")
      && aws_cloudwatch_event_target.deployment_failed.arn == aws_sns_topic.alarms[0].arn
    )
    error_message = "A failed ECS deployment of this service must reach the alarm topic."
  }
  assert {
    condition = (
      aws_vpc_endpoint_connection_notification.pending.vpc_endpoint_service_id == aws_vpc_endpoint_service.this.id
      && aws_vpc_endpoint_connection_notification.pending.connection_events == toset(["Connect"])
      && aws_vpc_endpoint_connection_notification.pending.connection_notification_arn == aws_sns_topic.alarms[0].arn
    )
    error_message = "A client's connection request (pending acceptance) must reach the alarm topic."
  }
}

run "bring_your_own_topic" {
  command = plan

  variables {
    alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:111111111111:platform-oncall"
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && length(aws_sns_topic_subscription.alarm_email) == 0
    error_message = "With a given topic the module creates none."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.error_ratio.alarm_actions == toset(["arn:aws:sns:eu-west-1:111111111111:platform-oncall"])
      && aws_cloudwatch_event_target.deployment_failed.arn == "arn:aws:sns:eu-west-1:111111111111:platform-oncall"
      && output.bedrock_alarm_topic_arn == "arn:aws:sns:eu-west-1:111111111111:platform-oncall"
    )
    error_message = "Alarms and events go to the given topic (Bedrock's too, in the same region)."
  }
}

run "email_with_own_topic_is_refused" {
  command = plan

  variables {
    alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:111111111111:platform-oncall"
    alarm_email         = "oncall@example.com"
  }

  expect_failures = [var.alarm_email]
}

# --- cross-region and global inference profiles ---------------------------------------------

run "cross_region_and_global_profiles" {
  command = apply

  variables {
    models = {
      "sonnet" = { model_id = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" }
      "haiku"  = { model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0" }
    }
    bedrock_model_arns = [
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ]
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task.policy).Statement == [
      {
        Sid    = "InvokeConfiguredModels"
        Effect = "Allow"
        Action = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
        Resource = [
          "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
          "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
          "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        ]
      },
      {
        Sid    = "InvokeThroughInferenceProfiles"
        Effect = "Allow"
        Action = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
        Resource = [
          "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
          "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
          "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        ]
        Condition = {
          StringEquals = {
            "bedrock:InferenceProfileArn" = [
              "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
              "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
            ]
          }
        }
      },
    ]
    error_message = "Wildcard-region foundation models (any destination region, also ones AWS adds), given or derived from the catalog's profiles, and for a global profile also the region-less ARN AWS documents, are granted only through the profiles; the rest as given."
  }
  assert {
    condition     = [for st in jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement : st.Resource] == [for st in jsondecode(aws_iam_role_policy.task.policy).Statement : st.Resource]
    error_message = "The bedrock-runtime endpoint policy admits the same statements for the task role."
  }
}

# --- Graviton by default ---------------------------------------------------------------------

run "arm64_by_default" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "ARM64"
    error_message = "Tasks run on ARM64 (Graviton) unless cpu_architecture says otherwise."
  }
}

# --- the admin listener stays inside the task unless opened on purpose ------------------

run "admin_listener_on_loopback_by_default" {
  command = plan

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_ADMIN__LISTEN"] == "127.0.0.1:9090"
    error_message = "The admin listener (no authentication; tenant names in its series) must listen on loopback by default."
  }
}

run "admin_listener_opened_for_an_outside_scraper" {
  command = plan

  variables {
    admin_listen = "0.0.0.0:9090"
  }

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_ADMIN__LISTEN"] == "0.0.0.0:9090"
    error_message = "admin_listen must reach the task's environment."
  }
}
