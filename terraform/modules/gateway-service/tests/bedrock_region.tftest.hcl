# Bedrock in another region than the gateway: its alarms (and their topic)
# must be where its metrics are. The aws.bedrock provider is mocked as
# us-east-1; what it creates carries us-east-1 ARNs.

mock_provider "aws" {
  source = "./tests"
}

mock_provider "aws" {
  alias = "bedrock"

  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
      id   = "us-east-1"
    }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = {
      arn = "arn:aws:cloudwatch:us-east-1:111111111111:alarm:bedrock"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:111111111111:bedrock-gateway-bedrock-alarms"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:111111111111:key/11111111-0000-0000-0000-000000000000"
    }
  }
}

variables {
  bedrock_region     = "us-east-1"
  models             = { "sonnet" = { model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0" } }
  allowed_principals = ["arn:aws:iam::222222222222:root"]
  alarm_email        = "oncall@example.com"
  # A path to us-east-1's Bedrock runtime (the module's endpoint serves
  # eu-west-1 only), e.g. through a peered VPC.
  task_egress_cidr_blocks = ["10.60.0.0/16"]
}

run "bedrock_alarms_in_the_bedrock_region" {
  command = apply

  assert {
    condition = alltrue([
      for a in concat(values(aws_cloudwatch_metric_alarm.bedrock_throttles), values(aws_cloudwatch_metric_alarm.bedrock_5xx)) :
      startswith(a.arn, "arn:aws:cloudwatch:us-east-1:") && a.alarm_actions == toset([aws_sns_topic.bedrock_alarms[0].arn])
    ])
    error_message = "Bedrock's alarms must be created in bedrock_region (where its metrics are) and notify a topic there."
  }
  assert {
    condition = (
      startswith(aws_sns_topic.bedrock_alarms[0].arn, "arn:aws:sns:us-east-1:")
      && aws_sns_topic.bedrock_alarms[0].kms_master_key_id == aws_kms_key.bedrock_alarms[0].arn
      && aws_sns_topic_subscription.bedrock_alarm_email[0].endpoint == "oncall@example.com"
      && output.bedrock_alarm_topic_arn == aws_sns_topic.bedrock_alarms[0].arn
    )
    error_message = "The Bedrock region gets its own encrypted topic with the same e-mail subscription."
  }
  assert {
    condition     = startswith(aws_sns_topic.alarms[0].arn, "arn:aws:sns:eu-west-1:") && aws_cloudwatch_metric_alarm.error_ratio.alarm_actions == toset([aws_sns_topic.alarms[0].arn])
    error_message = "The gateway's own alarms stay in its region, with its topic."
  }
  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_BEDROCK__REGION"] == "us-east-1"
    error_message = "The gateway calls Bedrock in bedrock_region."
  }
}

run "bedrock_provider_in_another_region_is_refused" {
  command = plan

  variables {
    bedrock_region = "us-west-2"
  }

  expect_failures = [aws_cloudwatch_metric_alarm.bedrock_throttles]
}

run "bedrock_topic_in_the_wrong_region_is_refused" {
  command = plan

  variables {
    bedrock_alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:111111111111:platform-oncall"
  }

  expect_failures = [aws_cloudwatch_metric_alarm.bedrock_throttles]
}
