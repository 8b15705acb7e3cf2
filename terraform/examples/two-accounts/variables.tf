variable "region" {
  description = "Region of both accounts' resources (PrivateLink endpoints are regional)."
  type        = string
  default     = "eu-west-1"
}

variable "gateway_account_role_arn" {
  description = "Role Terraform assumes in the Bedrock (gateway) account, e.g. arn:aws:iam::111111111111:role/terraform."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.gateway_account_role_arn))
    error_message = "gateway_account_role_arn must be an IAM role ARN."
  }
}

variable "client_account_role_arn" {
  description = "Role Terraform assumes in the client account, e.g. arn:aws:iam::222222222222:role/terraform."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.client_account_role_arn))
    error_message = "client_account_role_arn must be an IAM role ARN."
  }
}

variable "external_id" {
  description = "Optional sts:ExternalId for both assume_role calls."
  type        = string
  default     = null
}

variable "name" {
  description = "Name prefix of the gateway resources."
  type        = string
  default     = "bedrock-gateway"
}

variable "image_tag" {
  description = "Tag of the gateway image in the gateway account's ECR repository."
  type        = string
  default     = "0.1.0"
}

variable "bedrock_region" {
  description = "Region the gateway calls Bedrock in; null = region. Bedrock's alarms (and their SNS topic) are created there."
  type        = string
  default     = null
}

variable "models" {
  description = "The gateway's model catalog, the gateway-service module's models (alias => model_id, or weighted targets, fallbacks, defaults, lifecycle), written to the catalog object in S3 in the gateway account: change it and apply, no deployment. The default is Claude Haiku 4.5 through the EU cross-region inference profile (for the default eu-west-1; use the us., apac., ... or global. profile elsewhere)."
  type        = any
  default = {
    "claude-haiku" = {
      model_id       = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
      version        = "claude-haiku-4.5"
      max_tokens_cap = 4096
    }
  }
}

variable "bedrock_model_arns" {
  description = "ARNs the gateway may invoke besides those the module derives from models (each model id's foundation model in its region; each inference profile (eu., us., global., ...) in the gateway account, and its model in any region, arn:aws:bedrock:*::foundation-model/... (a global. profile's also region-less, arn:aws:bedrock:::foundation-model/...), only through it): e.g. the foundation models behind an application inference profile."
  type        = list(string)
  default     = []
}

variable "alarm_email" {
  description = "E-mail address subscribed to the gateway's alarm topics (confirm the subscription mail). Null = none: subscribe someone to the alarm_topic_arn output yourself."
  type        = string
  default     = null
}

variable "client_vpc_id" {
  description = "Existing VPC of the client account where microservices run."
  type        = string
}

variable "client_subnet_ids" {
  description = "Subnets of the client VPC for the endpoint ENIs: one per Availability Zone, at least two. The gateway's subnets are created in these subnets' zone IDs."
  type        = list(string)
}

variable "client_allowed_cidr_blocks" {
  description = "CIDRs in the client VPC allowed to reach the gateway. Empty = the client VPC's primary CIDR."
  type        = list(string)
  default     = []
}

variable "client_zone_name" {
  description = "Private hosted zone created in the client VPC."
  type        = string
  default     = "llm.internal"
}

variable "tls_certificate_arn" {
  description = "Optional ACM certificate (gateway account) for a TLS listener; must cover client_zone_name. A private name needs an ACM private certificate (AWS Private CA) or an imported one, whose CA the clients trust."
  type        = string
  default     = null
}

variable "client_tenant_name" {
  description = "Tenant name of the client account's callers in the gateway (lower-case letters, digits, single '_'); appears in logs, usage records and metrics."
  type        = string
  default     = "client_account"
}

variable "client_tenant_quotas" {
  description = "Quotas of the client account's tenant, fleet-wide: requests_per_minute, tokens_per_minute, concurrent_requests (null = unlimited)."
  type = object({
    requests_per_minute = optional(number)
    tokens_per_minute   = optional(number)
    concurrent_requests = optional(number)
  })
  default = {
    requests_per_minute = 600
    tokens_per_minute   = 200000
    concurrent_requests = 50
  }
}

variable "enable_quota_store" {
  description = "Create the gateway's ElastiCache Serverless (Valkey) quota store so that quotas hold across all tasks; false counts per task (each task then allows the full quota)."
  type        = bool
  default     = true
}

variable "enable_deletion_protection" {
  description = "Deletion protection on the gateway's NLB, an explicit choice: true for anything clients use (AWS then refuses to delete the NLB); false for a deployment you will destroy (see terraform/README.md, \"Decommissioning\")."
  type        = bool
}
