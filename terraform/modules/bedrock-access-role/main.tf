# A role in another account whose Bedrock the gateway calls: the gateway's
# task role assumes it (a catalog target's role_arn) and Bedrock then bills
# and rate-limits that account. It may do nothing but invoke the given
# models (count their tokens, with allow_count_tokens) and apply the given
# guardrails.

locals {
  actions = concat(
    ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
    var.allow_count_tokens ? ["bedrock:CountTokens"] : [],
  )

  # As in the gateway's own task role: regional ARNs as given; a foundation
  # model in any region (what cross-region and global inference profiles
  # route to) only through an inference profile of this account.
  regional_arns   = [for a in var.model_arns : a if can(regex("^arn:[^:]+:bedrock:[a-z0-9-]+:", a))]
  any_region_arns = [for a in var.model_arns : a if !can(regex("^arn:[^:]+:bedrock:[a-z0-9-]+:", a))]
  profile_arns    = [for a in var.model_arns : a if can(regex(":(application-)?inference-profile/", a))]
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Lets the Bedrock gateway's task role ${var.gateway_task_role_arn} invoke this account's Bedrock models"
  max_session_duration = 3600

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "BedrockGatewayTaskRole"
      Effect    = "Allow"
      Principal = { AWS = var.gateway_task_role_arn }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "invoke" {
  name = "invoke-models"
  role = aws_iam_role.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      length(local.regional_arns) == 0 ? [] : [{
        Sid      = "InvokeModels"
        Effect   = "Allow"
        Action   = local.actions
        Resource = local.regional_arns
      }],
      length(local.any_region_arns) == 0 ? [] : [{
        Sid       = "InvokeThroughInferenceProfiles"
        Effect    = "Allow"
        Action    = local.actions
        Resource  = local.any_region_arns
        Condition = { StringEquals = { "bedrock:InferenceProfileArn" = local.profile_arns } }
      }],
      length(var.guardrail_arns) == 0 ? [] : [{
        Sid      = "ApplyGuardrails"
        Effect   = "Allow"
        Action   = ["bedrock:ApplyGuardrail"]
        Resource = var.guardrail_arns
      }],
    )
  })
}
