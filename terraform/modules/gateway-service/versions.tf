terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
      # Bedrock's alarms live in var.bedrock_region; pass the same provider
      # when it is the module's region.
      configuration_aliases = [aws.bedrock]
    }
  }
}
