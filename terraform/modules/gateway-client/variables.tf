variable "name" {
  description = "Name prefix for the client-side resources (security group, endpoint tags)."
  type        = string
  default     = "bedrock-gateway-client"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name must start with a lower-case letter and contain only lower-case letters, digits and hyphens (max 63 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource the module creates."
  type        = map(string)
  default     = {}
}

variable "endpoint_service_name" {
  description = "PrivateLink service name of the gateway (output endpoint_service_name of the gateway-service module), e.g. com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0."
  type        = string

  validation {
    condition     = can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]{8,17}$", var.endpoint_service_name))
    error_message = "endpoint_service_name must look like com.amazonaws.vpce.REGION.vpce-svc-0123456789abcdef0."
  }
}

variable "vpc_id" {
  description = "Client VPC in which the interface endpoint and the private hosted zone are created. It needs enableDnsSupport and enableDnsHostnames."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets for the endpoint's network interfaces: one per Availability Zone, at least two zones, every one in a zone ID of the gateway's endpoint service (gateway-service output availability_zone_ids; zone names differ per account). Checked at plan time against the endpoint service's description."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must list at least two subnet ids (subnet-0123456789abcdef0), one per Availability Zone."
  }

  validation {
    condition     = length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids must not contain duplicates."
  }
}

variable "allowed_cidr_blocks" {
  description = "IPv4 CIDRs of the client VPC (or of the microservices) allowed to reach the endpoint on the gRPC port(s)."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidr_blocks) > 0
    error_message = "allowed_cidr_blocks must contain at least one CIDR block (e.g. the client VPC's CIDR)."
  }

  validation {
    condition     = alltrue([for c in var.allowed_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$", c))])
    error_message = "Every allowed_cidr_blocks entry must be a valid IPv4 CIDR block such as 10.20.0.0/16."
  }

  validation {
    condition     = !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "0.0.0.0/0 is not allowed in allowed_cidr_blocks: list the client VPC's CIDRs."
  }
}

variable "grpc_port" {
  description = "Plaintext gRPC port of the gateway's TCP listener."
  type        = number
  default     = 50051

  validation {
    condition     = var.grpc_port >= 1 && var.grpc_port <= 65535
    error_message = "grpc_port must be a valid TCP port."
  }
}

variable "tls_port" {
  description = "Port of the gateway's optional TLS listener; null if the gateway has none."
  type        = number
  default     = null

  validation {
    condition     = var.tls_port == null || (coalesce(var.tls_port, 0) >= 1 && coalesce(var.tls_port, 0) <= 65535)
    error_message = "tls_port must be a valid TCP port or null."
  }
}

variable "create_private_zone" {
  description = "Create a Route 53 private hosted zone named zone_name associated with vpc_id. Set to false to add the record to an existing private zone (private_zone_id)."
  type        = bool
  default     = true
}

variable "private_zone_id" {
  description = "Existing private hosted zone to put the record in when create_private_zone = false."
  type        = string
  default     = null

  validation {
    condition     = var.create_private_zone || var.private_zone_id != null
    error_message = "Set private_zone_id when create_private_zone = false."
  }
}

variable "zone_name" {
  description = "Name of the private hosted zone. Use a dedicated name (default llm.internal) so the zone does not shadow other names in the VPC."
  type        = string
  default     = "llm.internal"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.zone_name))
    error_message = "zone_name must be a lower-case DNS name with at least two labels, e.g. llm.internal."
  }
}

variable "record_name" {
  description = "Record inside the zone that points at the endpoint. Empty = the zone apex (the service is then reached as zone_name, e.g. llm.internal)."
  type        = string
  default     = ""

  validation {
    condition     = var.record_name == "" || can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.record_name))
    error_message = "record_name must be empty or a single lower-case DNS label."
  }
}

variable "additional_vpc_ids" {
  description = "Other VPCs in the same account/region to associate with the created private zone (they need a network path to the endpoint, e.g. via Transit Gateway)."
  type        = list(string)
  default     = []
}
