output "grpc_endpoint" {
  description = "What a microservice in the client VPC dials (plaintext gRPC over PrivateLink)."
  value       = module.client.grpc_endpoint
}

output "dns_name" {
  description = "Private DNS name of the gateway in the client VPC."
  value       = module.client.dns_name
}

output "ecr_repository_url" {
  description = "Push the gateway image here with tag var.image_tag."
  value       = module.gateway.ecr_repository_url
}

output "endpoint_service_name" {
  description = "PrivateLink service name of the gateway."
  value       = module.gateway.endpoint_service_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the gateway."
  value       = module.gateway.dashboard_name
}

output "availability_zone_ids" {
  description = "Zone IDs of the gateway and of the demo client subnets."
  value       = module.gateway.availability_zone_ids
}

output "catalog" {
  description = "The catalog object the gateway reads (bucket, key, ARN, s3:// URI, version written): models is written there."
  value       = module.gateway.catalog
}

output "alarm_topic_arn" {
  description = "SNS topic that alarms, failed deployments and endpoint connection requests notify."
  value       = module.gateway.alarm_topic_arn
}
