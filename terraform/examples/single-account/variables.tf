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
  description = "The gateway's model catalog, the gateway-service module's models (alias => model_id, or weighted targets, fallbacks, defaults, lifecycle), written to the catalog object in S3: change it and apply, no deployment. The default: claude-haiku, Claude Haiku 4.5 through the EU cross-region inference profile (for the default eu-west-1; use the us., apac., ... or global. profile elsewhere), and chat, a canary sending 10 % to Sonnet 4.5, sticky per conversation, falling back to the global Haiku profile."
  type        = any
  default = {
    "claude-haiku" = {
      model_id       = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
      version        = "claude-haiku-4.5"
      max_tokens_cap = 4096
    }
    # 90 % of chat on Haiku 4.5, 10 % on Sonnet 4.5; a conversation (the
    # request_metadata entry "conversation_id") stays on one, and a
    # throttled call is retried on the global Haiku profile before the
    # first event.
    "chat" = {
      description         = "General chat"
      sticky_metadata_key = "conversation_id"
      targets = [
        { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "claude-haiku-4.5", weight = 90 },
        { model_id = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", version = "claude-sonnet-4.5", weight = 10 },
      ]
      fallbacks = [{ model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0", version = "claude-haiku-4.5" }]
    }
  }
}

variable "bedrock_model_arns" {
  description = "ARNs the gateway may invoke besides those the module derives from models (each model id's foundation model in its region; each inference profile in this account, and its model in any region only through it): e.g. the foundation models behind an application inference profile."
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
  description = "Deletion protection on the NLB, an explicit choice: true for anything clients use (AWS then refuses to delete the NLB); false for a throw-away deployment you will destroy (see terraform/README.md, \"Decommissioning\")."
  type        = bool
}

variable "availability_zone_ids" {
  description = "Zone IDs (e.g. [\"euw1-az1\", \"euw1-az2\"]) for both VPCs, at least two. Empty = the gateway module's default (the region's three lowest-numbered zone IDs); the client subnets follow the gateway's zone IDs."
  type        = list(string)
  default     = []
}
