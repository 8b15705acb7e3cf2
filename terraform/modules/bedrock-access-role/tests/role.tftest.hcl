# The role another account gives the gateway, with a mocked provider.

mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::333333333333:role/bedrock-gateway-access"
    }
  }
}

variables {
  gateway_task_role_arn = "arn:aws:iam::111111111111:role/bedrock-gateway-task"
  model_arns = [
    "arn:aws:bedrock:eu-west-1:333333333333:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
  ]
  guardrail_arns = ["arn:aws:bedrock:eu-west-1:333333333333:guardrail/abc123"]
}

run "trusts_the_task_role_and_invokes_the_models" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.this.assume_role_policy).Statement == [{
      Sid       = "BedrockGatewayTaskRole"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::111111111111:role/bedrock-gateway-task" }
      Action    = "sts:AssumeRole"
    }]
    error_message = "Only the gateway's task role may assume the role."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.invoke.policy).Statement == [
      {
        Sid      = "InvokeModels"
        Effect   = "Allow"
        Action   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
        Resource = ["arn:aws:bedrock:eu-west-1:333333333333:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"]
      },
      {
        Sid       = "InvokeThroughInferenceProfiles"
        Effect    = "Allow"
        Action    = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
        Resource  = ["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]
        Condition = { StringEquals = { "bedrock:InferenceProfileArn" = ["arn:aws:bedrock:eu-west-1:333333333333:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0"] } }
      },
      {
        Sid      = "ApplyGuardrails"
        Effect   = "Allow"
        Action   = ["bedrock:ApplyGuardrail"]
        Resource = ["arn:aws:bedrock:eu-west-1:333333333333:guardrail/abc123"]
      },
    ]
    error_message = "The role may invoke exactly the given models (any-region models only through the profile) and apply the given guardrails."
  }
}

run "count_tokens_when_allowed" {
  command = plan
  variables {
    allow_count_tokens = true
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.invoke.policy).Statement :
      tolist(s.Action) == (s.Sid == "ApplyGuardrails" ? tolist(["bedrock:ApplyGuardrail"]) : tolist(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]))
    ])
    error_message = "With allow_count_tokens the role may also count tokens on the models it may invoke (and nowhere else)."
  }
}

run "a_wildcard_task_role_is_refused" {
  command = plan
  variables {
    gateway_task_role_arn = "arn:aws:iam::111111111111:role/*"
  }
  expect_failures = [var.gateway_task_role_arn]
}

run "an_any_region_model_without_a_profile_is_refused" {
  command = plan
  variables {
    model_arns = ["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]
  }
  expect_failures = [var.model_arns]
}
