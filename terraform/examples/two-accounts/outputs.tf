output "grpc_endpoint" {
  description = "What microservices in the client VPC dial (plaintext gRPC over PrivateLink)."
  value       = module.client.grpc_endpoint
}

output "grpc_tls_endpoint" {
  description = "TLS gRPC URI, or null without a certificate."
  value       = module.client.grpc_tls_endpoint
}

output "dns_name" {
  description = "Private DNS name of the gateway in the client VPC."
  value       = module.client.dns_name
}

output "ecr_repository_url" {
  description = "ECR repository in the gateway account to push the image to."
  value       = module.gateway.ecr_repository_url
}

output "endpoint_service_name" {
  description = "PrivateLink service name of the gateway."
  value       = module.gateway.endpoint_service_name
}

output "client_vpc_endpoint_id" {
  description = "Client account's endpoint (accepted by the gateway account)."
  value       = module.client.vpc_endpoint_id
}

output "client_tenant" {
  description = "The client account's tenant in the gateway and the endpoint id that identifies it."
  value = {
    name            = var.client_tenant_name
    vpc_endpoint_id = module.client.vpc_endpoint_id
  }
}
