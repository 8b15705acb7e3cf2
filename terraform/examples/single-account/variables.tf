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
  description = "Gateway model table: alias => { model_id, max_tokens_cap }."
  type = map(object({
    model_id       = string
    max_tokens_cap = optional(number)
  }))
  default = {
    "claude-haiku" = {
      model_id       = "anthropic.claude-3-haiku-20240307-v1:0"
      max_tokens_cap = 4096
    }
  }
}

variable "bedrock_model_arns" {
  description = "ARNs the gateway may invoke; must cover every model_id in models."
  type        = list(string)
  default     = ["arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"]
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

variable "availability_zones" {
  description = "Availability Zones for both VPCs (at least two). Empty = \"<region>a\" and \"<region>b\"."
  type        = list(string)
  default     = []
}
