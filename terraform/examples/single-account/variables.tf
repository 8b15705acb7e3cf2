variable "region" {
  description = "Region for everything (gateway, client VPC, Bedrock)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix of the gateway resources."
  type        = string
  default     = "bedrock-gateway"
}

variable "image_tag" {
  description = "Tag of the gateway image pushed to the created ECR repository."
  type        = string
  default     = "0.1.0"
}

variable "models" {
  description = "Gateway model table: alias => { model_id, max_tokens_cap }. The default is Claude Haiku 4.5 through the EU cross-region inference profile (for the default eu-west-1; use the us., apac., ... or global. profile elsewhere)."
  type = map(object({
    model_id       = string
    max_tokens_cap = optional(number)
  }))
  default = {
    "claude-haiku" = {
      model_id       = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
      max_tokens_cap = 4096
    }
  }
}

variable "bedrock_model_arns" {
  description = "ARNs the gateway may invoke; must cover every model_id in models. Empty = derived from models: an inference profile id gets its profile in this account plus its foundation model in any region (granted only through the profile), a plain model id its foundation model in the region."
  type        = list(string)
  default     = []
}

variable "alarm_email" {
  description = "E-mail address subscribed to the gateway's alarm topic (confirm the subscription mail). Null = none."
  type        = string
  default     = null
}

variable "gateway_vpc_cidr" {
  description = "CIDR of the gateway VPC."
  type        = string
  default     = "10.80.0.0/16"
}

variable "client_vpc_cidr" {
  description = "CIDR of the demo client VPC created by this example."
  type        = string
  default     = "10.90.0.0/16"
}

variable "enable_deletion_protection" {
  description = "Deletion protection on the NLB (false here so the example can be destroyed in one go)."
  type        = bool
  default     = false
}

variable "availability_zone_ids" {
  description = "Zone IDs (e.g. [\"euw1-az1\", \"euw1-az2\"]) for both VPCs, at least two. Empty = the gateway module's default (the region's three lowest-numbered zone IDs); the client subnets follow the gateway's zone IDs."
  type        = list(string)
  default     = []
}
