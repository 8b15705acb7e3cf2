# Gateway and a demo client VPC in ONE account: the endpoint service admits
# this account itself, and the connection is accepted in the same apply.

provider "aws" {
  region = var.region

  default_tags {
    tags = { project = "bedrock-gateway", example = "single-account" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

module "gateway" {
  #checkov:skip=CKV_AWS_150:Deletion protection is the required input enable_deletion_protection, an explicit choice per deployment (false only for one that will be destroyed).
  source = "../../modules/gateway-service"
  providers = {
    aws         = aws
    aws.bedrock = aws # Bedrock in the same region
  }

  name                  = var.name
  vpc_cidr              = var.gateway_vpc_cidr
  availability_zone_ids = var.availability_zone_ids
  image_tag             = var.image_tag
  models                = var.models
  bedrock_model_arns    = var.bedrock_model_arns
  alarm_email           = var.alarm_email

  # The client VPC lives in this same account.
  allowed_principals = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]

  enable_deletion_protection = var.enable_deletion_protection
  ecr_force_delete           = true
  log_retention_days         = 365
}

###############################################################################
# Demo client VPC (private subnets only) and the client module
###############################################################################

resource "aws_vpc" "client" {
  #checkov:skip=CKV2_AWS_11:Demo stand-in for the client's own VPC; real client VPCs (two-accounts example) are brought by the client, with their own flow logs.
  cidr_block           = var.client_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name}-client" }
}

resource "aws_default_security_group" "client" {
  vpc_id = aws_vpc.client.id
}

# The client's subnets in the gateway's zone IDs: an interface endpoint can
# only use zones the endpoint service is in.
resource "aws_subnet" "client" {
  count = length(module.gateway.availability_zone_ids)

  vpc_id                  = aws_vpc.client.id
  availability_zone_id    = module.gateway.availability_zone_ids[count.index]
  cidr_block              = cidrsubnet(var.client_vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.name}-client-${module.gateway.availability_zone_ids[count.index]}" }
}

module "client" {
  source = "../../modules/gateway-client"

  name                  = "${var.name}-client"
  endpoint_service_name = module.gateway.endpoint_service_name
  vpc_id                = aws_vpc.client.id
  subnet_ids            = aws_subnet.client[*].id
  allowed_cidr_blocks   = [aws_vpc.client.cidr_block]
  grpc_port             = module.gateway.grpc_port
  tls_port              = module.gateway.tls_port
}

# The endpoint service requires acceptance: accept our own client endpoint.
resource "aws_vpc_endpoint_connection_accepter" "client" {
  vpc_endpoint_service_id = module.gateway.endpoint_service_id
  vpc_endpoint_id         = module.client.vpc_endpoint_id
}
