output "dns_name" {
  description = "Name microservices in the client VPC use to reach the gateway, e.g. llm.internal."
  value       = local.dns_name
}

output "grpc_endpoint" {
  description = "gRPC URI for the client crate / tonic (plaintext HTTP/2), e.g. http://llm.internal:50051."
  value       = "http://${local.dns_name}:${var.grpc_port}"
}

output "grpc_tls_endpoint" {
  description = "gRPC URI of the TLS listener (https://NAME:PORT), or null when tls_port is null. The certificate must cover dns_name."
  value       = var.tls_port == null ? null : "https://${local.dns_name}:${var.tls_port}"
}

output "vpc_endpoint_id" {
  description = "ID of the interface endpoint (the gateway account accepts this id)."
  value       = aws_vpc_endpoint.gateway.id
}

output "vpc_endpoint_state" {
  description = "State of the endpoint (pendingAcceptance until the gateway account accepts it, then available)."
  value       = aws_vpc_endpoint.gateway.state
}

output "vpc_endpoint_dns_entries" {
  description = "The endpoint's own DNS names (regional first, then zonal)."
  value       = aws_vpc_endpoint.gateway.dns_entry
}

output "security_group_id" {
  description = "Security group of the endpoint."
  value       = aws_security_group.endpoint.id
}

output "private_zone_id" {
  description = "Private hosted zone holding the record."
  value       = local.zone_id
}

output "availability_zone_ids" {
  description = "Zone IDs of the endpoint's subnets (each one a zone ID of the gateway's endpoint service, checked at plan time)."
  value       = sort(distinct(values(local.subnet_zone_ids)))
}

output "endpoint_service_availability_zone_ids" {
  description = "Zone IDs the gateway's endpoint service is in, as this account's endpoint service description reports them."
  value       = local.service_zone_ids
}
