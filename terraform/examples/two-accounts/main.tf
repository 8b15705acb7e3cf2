# Bedrock account hosts the gateway; a client account reaches it over
# PrivateLink. Terraform runs with credentials that may assume a role in
# each account.

provider "aws" {
  alias  = "gateway"
  region = var.region

  assume_role {
    role_arn     = var.gateway_account_role_arn
    session_name = "bedrock-gateway-terraform"
    external_id  = var.external_id
  }

  default_tags {
    tags = { project = "bedrock-gateway", side = "gateway" }
  }
}

# The gateway account in the region the gateway calls Bedrock in: Bedrock's
# alarms live next to its metrics.
provider "aws" {
  alias  = "gateway_bedrock"
  region = coalesce(var.bedrock_region, var.region)

  assume_role {
    role_arn     = var.gateway_account_role_arn
    session_name = "bedrock-gateway-terraform"
    external_id  = var.external_id
  }

  default_tags {
    tags = { project = "bedrock-gateway", side = "gateway" }
  }
}

provider "aws" {
  alias  = "client"
  region = var.region

  assume_role {
    role_arn     = var.client_account_role_arn
    session_name = "bedrock-gateway-terraform"
    external_id  = var.external_id
  }

  default_tags {
    tags = { project = "bedrock-gateway", side = "client" }
  }
}

data "aws_caller_identity" "client" {
  provider = aws.client
}

data "aws_partition" "client" {
  provider = aws.client
}

data "aws_vpc" "client" {
  provider = aws.client
  id       = var.client_vpc_id
}

# The client subnets' zone IDs are the gateway's zones: zone names map to
# different physical zones in each account, zone IDs do not.
data "aws_subnet" "client" {
  provider = aws.client
  for_each = toset(var.client_subnet_ids)
  id       = each.value
}

module "gateway" {
  source = "../../modules/gateway-service"
  providers = {
    aws         = aws.gateway
    aws.bedrock = aws.gateway_bedrock
  }

  name                  = var.name
  availability_zone_ids = sort(distinct([for s in data.aws_subnet.client : s.availability_zone_id]))
  image_tag             = var.image_tag
  models                = var.models
  bedrock_region        = var.bedrock_region
  bedrock_model_arns    = var.bedrock_model_arns
  tls_certificate_arn   = var.tls_certificate_arn
  alarm_email           = var.alarm_email

  enable_deletion_protection = var.enable_deletion_protection

  # Only the client account may create endpoints to the service.
  allowed_principals = ["arn:${data.aws_partition.client.partition}:iam::${data.aws_caller_identity.client.account_id}:root"]

  # The client account's callers are one tenant, recognised by the id of the
  # interface endpoint they come through (from the PROXY protocol header),
  # held to its quotas across all tasks by the shared quota store.
  proxy_protocol_v2 = true
  tenants = {
    (var.client_tenant_name) = {
      vpc_endpoint_ids = [module.client.vpc_endpoint_id]
      quotas           = var.client_tenant_quotas
    }
  }
  quota_store = { enabled = var.enable_quota_store }
}

module "client" {
  source = "../../modules/gateway-client"
  providers = {
    aws = aws.client
  }

  endpoint_service_name = module.gateway.endpoint_service_name
  vpc_id                = var.client_vpc_id
  subnet_ids            = var.client_subnet_ids
  allowed_cidr_blocks   = length(var.client_allowed_cidr_blocks) > 0 ? var.client_allowed_cidr_blocks : [data.aws_vpc.client.cidr_block]
  zone_name             = var.client_zone_name
  grpc_port             = module.gateway.grpc_port
  tls_port              = module.gateway.tls_port
}

# Acceptance happens in the gateway account. Destroying the accepter rejects
# the connection, so the endpoint service can go; a connection accepted
# outside Terraform must be rejected by hand first (terraform/README.md,
# "Decommissioning").
resource "aws_vpc_endpoint_connection_accepter" "client" {
  provider = aws.gateway

  vpc_endpoint_service_id = module.gateway.endpoint_service_id
  vpc_endpoint_id         = module.client.vpc_endpoint_id
}
