###############################################################################
# Zones: an interface endpoint can only use subnets in zones the endpoint
# service is in. Zone names map to different physical zones in each account,
# so the comparison is by zone ID.
###############################################################################

data "aws_vpc_endpoint_service" "gateway" {
  service_name = var.endpoint_service_name
}

# The service's zones as this account names them, to their zone IDs.
data "aws_availability_zones" "service" {
  all_availability_zones = true

  filter {
    name   = "zone-name"
    values = tolist(data.aws_vpc_endpoint_service.gateway.availability_zones)
  }
}

# count, not for_each: the subnets may be created in the same apply.
data "aws_subnet" "endpoint" {
  count = length(var.subnet_ids)
  id    = var.subnet_ids[count.index]
}

locals {
  subnet_zone_ids  = { for i, id in var.subnet_ids : id => data.aws_subnet.endpoint[i].availability_zone_id }
  service_zone_ids = sort(data.aws_availability_zones.service.zone_ids)
  outside_service  = [for id, zone in local.subnet_zone_ids : "${id} (${zone})" if !contains(local.service_zone_ids, zone)]
}

locals {
  tags  = merge({ "app" = "bedrock-gateway-client", "managed-by" = "terraform" }, var.tags)
  ports = compact([tostring(var.grpc_port), var.tls_port == null ? "" : tostring(var.tls_port)])

  zone_id  = var.create_private_zone ? aws_route53_zone.this[0].zone_id : var.private_zone_id
  dns_name = var.record_name == "" ? var.zone_name : "${var.record_name}.${var.zone_name}"
}

###############################################################################
# Security group: only the client CIDRs, only the gateway ports
###############################################################################

resource "aws_security_group" "endpoint" {
  name_prefix = "${var.name}-endpoint-"
  description = "Bedrock gateway interface endpoint: gRPC from the client VPC only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-endpoint" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "grpc" {
  for_each = { for pair in setproduct(var.allowed_cidr_blocks, local.ports) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.endpoint.id
  description       = "gRPC from ${each.value[0]} on ${each.value[1]}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value[1])
  to_port           = tonumber(each.value[1])
  cidr_ipv4         = each.value[0]
}

# No egress rules: the endpoint's ENIs only answer (security groups are
# stateful), they never initiate connections.

###############################################################################
# Interface endpoint to the gateway's endpoint service
###############################################################################

resource "aws_vpc_endpoint" "gateway" {
  vpc_id             = var.vpc_id
  service_name       = var.endpoint_service_name
  vpc_endpoint_type  = "Interface"
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.endpoint.id]
  # The service has no verified private DNS name; the private hosted zone
  # below gives it a stable name instead.
  private_dns_enabled = false

  tags = merge(local.tags, { Name = var.name })

  lifecycle {
    precondition {
      condition     = length(distinct(values(local.subnet_zone_ids))) == length(var.subnet_ids)
      error_message = "subnet_ids must hold one subnet per Availability Zone; these share a zone: ${join(", ", [for id, zone in local.subnet_zone_ids : "${id} (${zone})"])}."
    }
    precondition {
      condition     = length(distinct(values(local.subnet_zone_ids))) >= 2
      error_message = "subnet_ids must span at least two Availability Zones, so that the gateway stays reachable when one zone fails."
    }
    precondition {
      condition     = length(local.outside_service) == 0
      error_message = "The gateway's endpoint service is only in zone IDs ${join(", ", local.service_zone_ids)}; these subnets are not: ${join(", ", local.outside_service)}. Use subnets in those zone IDs, or add their zones to the gateway (gateway-service availability_zone_ids)."
    }
  }
}

###############################################################################
# Private DNS: llm.internal -> endpoint
###############################################################################

resource "aws_route53_zone" "this" {
  count = var.create_private_zone ? 1 : 0

  name    = var.zone_name
  comment = "Bedrock gateway (PrivateLink) for this VPC"

  vpc {
    vpc_id = var.vpc_id
  }

  dynamic "vpc" {
    for_each = toset(var.additional_vpc_ids)
    content {
      vpc_id = vpc.value
    }
  }

  tags = local.tags
}

resource "aws_route53_record" "gateway" {
  zone_id = local.zone_id
  name    = local.dns_name
  type    = "A"

  # The first dns_entry is the endpoint's regional (all-AZ) name.
  alias {
    name                   = aws_vpc_endpoint.gateway.dns_entry[0].dns_name
    zone_id                = aws_vpc_endpoint.gateway.dns_entry[0].hosted_zone_id
    evaluate_target_health = true
  }
}
