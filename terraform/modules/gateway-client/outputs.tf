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
