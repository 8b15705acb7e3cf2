variable "name" {
  description = "Name of the role; the gateway's catalog names it in a target's role_arn."
  type        = string
  default     = "bedrock-gateway-access"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters: letters, digits and + = , . @ _ -."
  }
}

variable "gateway_task_role_arn" {
  description = "The gateway's task role (gateway-service output task_role_arn), the only principal that may assume this role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.gateway_task_role_arn))
    error_message = "gateway_task_role_arn must be an IAM role ARN, arn:aws:iam::ACCOUNT_ID:role/NAME (no wildcards)."
  }
}

variable "model_arns" {
  description = "What the gateway may invoke in this account (bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream): foundation-model ARNs in a region, this account's inference-profile ARNs, and for a cross-region or global profile its foundation model in any region (arn:aws:bedrock:*::foundation-model/ID, or region-less arn:aws:bedrock:::foundation-model/ID), which is granted only through the listed profiles."
  type        = list(string)

  validation {
    condition = length(var.model_arns) > 0 && alltrue([
      for a in var.model_arns :
      can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:([0-9]{12})?:(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model)/[A-Za-z0-9._:/-]+$", a))
      || can(regex("^arn:aws[a-z-]*:bedrock:\\*?::foundation-model/[A-Za-z0-9._:/-]+$", a))
    ])
    error_message = "model_arns must list at least one Bedrock model or inference-profile ARN; the only wildcard allowed is a foundation model's whole region (arn:aws:bedrock:*::foundation-model/ID)."
  }

  validation {
    condition     = alltrue([for a in var.model_arns : can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:", a))]) || anytrue([for a in var.model_arns : can(regex(":(application-)?inference-profile/", a))])
    error_message = "A wildcard-region or region-less foundation-model ARN is granted only through an inference profile: list the profile's ARN too."
  }
}

variable "allow_count_tokens" {
  description = "Also allow bedrock:CountTokens on model_arns, for catalog models in this account with capabilities.count_tokens = true (the gateway's CountTokens; it invokes nothing and is not billed)."
  type        = bool
  default     = false
  nullable    = false
}

variable "guardrail_arns" {
  description = "Guardrails of this account that the catalog's models use (arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID): Bedrock refuses a call with a guardrail the caller may not apply (bedrock:ApplyGuardrail)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.guardrail_arns : can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:guardrail/[a-z0-9]+$", a))])
    error_message = "Every guardrail_arns entry must be a guardrail ARN, arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID."
  }
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}
