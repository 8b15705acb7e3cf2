output "vpc_id" {
  description = "VPC the gateway runs in (created or given)."
  value       = local.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnets of the NLB, the tasks and the interface endpoints."
  value       = local.private_subnet_ids
}

output "availability_zone_ids" {
  description = "Availability Zone IDs (e.g. euw1-az1) of the gateway's subnets, and so of the NLB and the endpoint service, created or given. Client accounts' endpoint subnets must be in these zone IDs (zone names differ per account); the gateway-client module checks it."
  value       = local.service_zone_ids
}

output "endpoint_service_name" {
  description = "PrivateLink service name (com.amazonaws.vpce.REGION.vpce-svc-...) that client accounts pass to the gateway-client module."
  value       = aws_vpc_endpoint_service.this.service_name
}

output "endpoint_service_id" {
  description = "ID of the VPC endpoint service (vpce-svc-...), needed to accept client endpoint connections."
  value       = aws_vpc_endpoint_service.this.id
}

output "endpoint_service_allowed_principals" {
  description = "Principals allowed to create endpoints to the service."
  value       = aws_vpc_endpoint_service.this.allowed_principals
}

output "nlb_arn" {
  description = "ARN of the internal NLB."
  value       = aws_lb.this.arn
}

output "nlb_dns_name" {
  description = "DNS name of the internal NLB (for callers inside the gateway VPC)."
  value       = aws_lb.this.dns_name
}

output "target_group_arn" {
  description = "ARN of the IP target group the ECS service registers into."
  value       = aws_lb_target_group.this.arn
}

output "grpc_port" {
  description = "Port of the plaintext gRPC (TCP) listener."
  value       = var.grpc_port
}

output "tls_port" {
  description = "Port of the TLS listener, or null when no certificate was given."
  value       = var.tls_certificate_arn == null ? null : var.tls_port
}

output "ecr_repository_url" {
  description = "ECR repository to push the gateway image to (docker push URL:TAG)."
  value       = aws_ecr_repository.this.repository_url
}

output "container_image" {
  description = "Image the task definition runs."
  value       = local.image
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN (with revision) of the gateway task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "Role the gateway runs as; it may only call bedrock:InvokeModel* and bedrock:CountTokens on the bedrock_model_arns output, read the catalog and tenants objects, assume bedrock_role_arns and connect to the quota store."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Role ECS uses to pull the image and write logs."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the gateway's stdout (one JSON line per request)."
  value       = aws_cloudwatch_log_group.gateway.name
}

output "kms_key_arn" {
  description = "KMS key encrypting the log groups, the ECR repository and the quota store."
  value       = aws_kms_key.this.arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "security_group_ids" {
  description = "Security groups: nlb, tasks, endpoints (null when the module created no endpoints) and quota_store (null without the quota store)."
  value = {
    nlb         = aws_security_group.nlb.id
    tasks       = aws_security_group.tasks.id
    endpoints   = local.create_endpoints ? aws_security_group.endpoints[0].id : null
    quota_store = local.quota_store_enabled ? aws_security_group.quota_store[0].id : null
  }
}

output "stop_timeout_seconds" {
  description = "Container stopTimeout (drain_seconds + 15)."
  value       = local.stop_timeout
}

output "deregistration_delay_seconds" {
  description = "Target group deregistration delay, ceil(1.1 x max_connection_age_seconds): ECS waits this long after deregistering a task before SIGTERM, by which time every connection to it has been sent GOAWAY."
  value       = local.deregistration_delay
}

output "streams_in_flight_metric" {
  description = "The per-task in-flight streams metric the gateway publishes (EMF) and the streams policy tracks (statistic Average): namespace, metric_name and dimensions, for your own alarms and dashboards."
  value = {
    namespace   = local.emf_namespace
    metric_name = "StreamsInFlight"
    dimensions  = local.emf_dimensions
  }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms (module region), the ECS deployment-failure rule and the endpoint connection requests notify: alarm_sns_topic_arn or the one created."
  value       = local.alarm_topic_arn
}

output "bedrock_alarm_topic_arn" {
  description = "SNS topic in bedrock_region that Bedrock's throttling and 5xx alarms notify (alarm_topic_arn when bedrock_region is the module's region)."
  value       = local.bedrock_alarm_topic_arn
}

output "container_environment" {
  description = "Plain environment variables of the gateway container (the gateway's configuration; no secrets)."
  value       = local.container_env
}

output "quota_store" {
  description = "The quota store, or null when quota_store.enabled is false: cache name and ARN, rediss:// URL, and the IAM-authenticated RBAC user's name and ARN (the task role may elasticache:Connect to both ARNs; there is no password)."
  value = local.quota_store_enabled ? {
    cache_name = aws_elasticache_serverless_cache.quotas[0].name
    cache_arn  = aws_elasticache_serverless_cache.quotas[0].arn
    url        = local.quota_env["BEDROCK_GATEWAY_QUOTAS__REDIS__URL"]
    username   = aws_elasticache_user.gateway[0].user_name
    user_arn   = aws_elasticache_user.gateway[0].arn
  } : null
}

output "catalog" {
  description = "The catalog object every task reads (written from models): bucket, key, object ARN, s3:// URI and version_id, the version the last apply wrote. Each edit writes a new version; earlier ones stay for audit and rollback."
  value = {
    bucket     = aws_s3_bucket.catalog.id
    key        = aws_s3_object.catalog.key
    arn        = local.catalog_object_arn
    uri        = "s3://${aws_s3_bucket.catalog.id}/${aws_s3_object.catalog.key}"
    version_id = aws_s3_object.catalog.version_id
  }
}

output "bedrock_model_arns" {
  description = "Every ARN the task role and the bedrock-runtime endpoint admit for bedrock:InvokeModel* and bedrock:CountTokens: the bedrock_model_arns input, then those derived from the catalog's models, targets and fallbacks."
  value       = local.bedrock_model_arns
}

output "tenants" {
  description = "The tenants object every task reads: bucket, key, object ARN, s3:// URI, version_id (the version the last apply wrote; earlier ones stay for audit and rollback) and document, what it holds under \"tenants\" (key digests and names, never keys)."
  value = {
    document   = local.tenants_document
    bucket     = aws_s3_bucket.catalog.id
    key        = aws_s3_object.tenants.key
    arn        = local.tenants_object_arn
    uri        = "s3://${aws_s3_bucket.catalog.id}/${aws_s3_object.tenants.key}"
    version_id = aws_s3_object.tenants.version_id
  }
}
