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

output "availability_zone_ids" {
  description = "Zone IDs of the gateway (its subnets, NLB and endpoint service), taken from the client subnets."
  value       = module.gateway.availability_zone_ids
}

output "alarm_topic_arn" {
  description = "SNS topic in the gateway account that alarms, failed deployments and endpoint connection requests notify."
  value       = module.gateway.alarm_topic_arn
}

output "ecs_cluster_and_service" {
  description = "ECS cluster and service names of the gateway (for aws ecs update-service --force-new-deployment after pushing an image)."
  value = {
    cluster = module.gateway.cluster_name
    service = module.gateway.service_name
  }
}

output "bedrock_model_arns" {
  description = "What the gateway's task role may invoke: bedrock_model_arns and the ARNs derived from models."
  value       = module.gateway.bedrock_model_arns
}

output "catalog" {
  description = "The catalog object in the gateway account that the gateway reads (bucket, key, ARN, s3:// URI, version written): models is written there."
  value       = module.gateway.catalog
}
