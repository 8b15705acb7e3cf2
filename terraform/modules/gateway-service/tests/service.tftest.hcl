# Offline tests of the gateway-service module with a mocked AWS provider.
# Run from the module directory: terraform init -backend=false && terraform test

mock_provider "aws" {
  source = "./tests"
}

# Bedrock's alarms (var.bedrock_region); here the module's own region.
mock_provider "aws" {
  alias  = "bedrock"
  source = "./tests"
}

variables {
  name = "bedrock-gateway"
  models = {
    "claude-haiku" = {
      model_id       = "anthropic.claude-3-haiku-20240307-v1:0"
      max_tokens_cap = 4096
    }
    "sonnet" = {
      model_id = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    }
  }
  allowed_principals = [
    "arn:aws:iam::222222222222:root",
    "arn:aws:iam::333333333333:root",
  ]
}

run "defaults" {
  command = apply

  # --- network: private only -------------------------------------------------
  assert {
    condition     = aws_lb.this.internal == true && aws_lb.this.load_balancer_type == "network"
    error_message = "The NLB must be internal."
  }
  assert {
    condition     = aws_lb.this.enable_cross_zone_load_balancing == true && aws_lb_target_group.this.load_balancing_cross_zone_enabled == "true"
    error_message = "Cross-zone load balancing must be on."
  }
  assert {
    condition     = length(aws_subnet.private) == 3 && length(distinct([for s in values(aws_subnet.private) : s.availability_zone_id])) == 3
    error_message = "The created VPC must have one private subnet per AZ (default 3 AZs)."
  }
  assert {
    condition     = alltrue([for s in aws_subnet.private : s.map_public_ip_on_launch == false])
    error_message = "Subnets must not assign public IPs."
  }
  assert {
    condition     = aws_ecs_service.this.network_configuration[0].assign_public_ip == false
    error_message = "Fargate tasks must not get public IPs."
  }
  assert {
    condition     = length([for r in aws_route_table.private[0].route : r if r.cidr_block == "0.0.0.0/0" || r.gateway_id != ""]) == 0
    error_message = "The private route table must have no default route / internet gateway route."
  }
  assert {
    condition     = toset(aws_lb.this.subnets) == toset([for s in values(aws_subnet.private) : s.id])
    error_message = "The NLB must span all private subnets."
  }

  # --- VPC endpoints ------------------------------------------------------------
  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["bedrock-runtime", "ecr.api", "ecr.dkr", "logs"])
    error_message = "Interface endpoints for bedrock-runtime, ecr.api, ecr.dkr and logs are required."
  }
  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && e.vpc_endpoint_type == "Interface"])
    error_message = "Interface endpoints must have private DNS on."
  }
  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "An S3 gateway endpoint is needed for ECR layers."
  }
  assert {
    condition = toset(flatten([for s in jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement : s.Resource])) == toset(output.bedrock_model_arns) && alltrue([
      for s in jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement : toset(s.Action) == toset(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"])
    ])
    error_message = "The bedrock-runtime endpoint policy must admit only InvokeModel* and CountTokens on the configured ARNs."
  }
  assert {
    condition     = jsondecode(aws_vpc_endpoint.s3[0].policy).Statement[0].Resource == ["arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*"]
    error_message = "The S3 endpoint policy must be scoped to ECR's layer bucket."
  }

  # --- endpoint service ------------------------------------------------------------
  assert {
    condition     = aws_vpc_endpoint_service.this.acceptance_required == true
    error_message = "The endpoint service must require acceptance."
  }
  assert {
    condition     = aws_vpc_endpoint_service.this.allowed_principals == toset(["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"])
    error_message = "The endpoint service must admit exactly the given principals."
  }
  assert {
    condition     = aws_vpc_endpoint_service.this.network_load_balancer_arns == toset([aws_lb.this.arn])
    error_message = "The endpoint service must front the gateway NLB."
  }

  # --- IAM ---------------------------------------------------------------------------
  assert {
    condition = output.bedrock_model_arns == tolist([
      "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0",
    ])
    error_message = "The grants follow the catalog: a model id's foundation model in the region, a profile in this account and its model in any region."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement :
      s.Effect == "Allow"
      && toset(s.Action) == toset(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"])
      && length(setsubtract(keys(s), ["Sid", "Effect", "Action", "Resource", "Condition"])) == 0
    ]) && toset(flatten([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource])) == toset(output.bedrock_model_arns)
    error_message = "The task role may only call bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream and bedrock:CountTokens on exactly the catalog's ARNs (CountTokens serves models with capabilities.count_tokens)."
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.task_catalog.policy).Statement : s.Action] == [["s3:GetObject"], ["kms:Decrypt"]]
    error_message = "The task role's only other policy reads the catalog."
  }
  assert {
    condition     = aws_iam_role.task.arn != aws_iam_role.execution.arn || aws_iam_role.task.name != aws_iam_role.execution.name
    error_message = "Task and execution roles must differ."
  }
  assert {
    condition     = jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com"
    error_message = "Only ECS tasks may assume the task role."
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource == "*" ? s.Action == ["ecr:GetAuthorizationToken"] : true])
    error_message = "The execution role may use Resource * only for ecr:GetAuthorizationToken."
  }

  # --- security groups ------------------------------------------------------------
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.tasks_from_nlb.referenced_security_group_id == aws_security_group.nlb.id
      && aws_vpc_security_group_ingress_rule.tasks_from_nlb.from_port == 50051
      && aws_vpc_security_group_ingress_rule.tasks_from_nlb.to_port == 50051
      && aws_vpc_security_group_ingress_rule.tasks_from_nlb.cidr_ipv4 == null
    )
    error_message = "Tasks must admit only the NLB security group on the gRPC port."
  }
  assert {
    condition     = keys(aws_vpc_security_group_ingress_rule.nlb_grpc) == ["10.80.0.0/16"] && alltrue([for r in aws_vpc_security_group_ingress_rule.nlb_grpc : r.from_port == 50051 && r.to_port == 50051])
    error_message = "The NLB must admit only the VPC CIDR on the gRPC port by default."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.nlb_tls) == 0 && length(aws_lb_listener.tls) == 0
    error_message = "No TLS listener or rule without a certificate."
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoints_from_tasks[0].referenced_security_group_id == aws_security_group.tasks.id
      && aws_vpc_security_group_ingress_rule.endpoints_from_tasks[0].from_port == 443
    )
    error_message = "Endpoints must admit only the tasks on 443."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.tasks_to_endpoints[0].to_port == 443 && length(aws_vpc_security_group_egress_rule.tasks_extra) == 0
    error_message = "Tasks may only leave on 443 towards the endpoints."
  }

  # --- listener, target group, draining --------------------------------------------
  assert {
    condition     = aws_lb_listener.tcp.protocol == "TCP" && aws_lb_listener.tcp.port == 50051 && aws_lb_listener.tcp.tcp_idle_timeout_seconds == 350
    error_message = "TCP listener on 50051 with an explicit 350 s idle timeout expected."
  }
  assert {
    condition     = aws_lb_target_group.this.target_type == "ip" && aws_lb_target_group.this.protocol == "TCP" && aws_lb_target_group.this.health_check[0].enabled
    error_message = "IP target group with a health check expected."
  }
  assert {
    condition     = aws_lb_target_group.this.deregistration_delay == "132" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 75
    error_message = "Deregistration delay = 1.1 x max connection age (120 s), stopTimeout = drain_seconds (60) + 15."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout <= 120
    error_message = "Fargate caps stopTimeout at 120 s."
  }
  assert {
    condition     = aws_lb_target_group.this.proxy_protocol_v2 == false && aws_lb_target_group.this.connection_termination == false
    error_message = "Proxy protocol off by default; draining must not cut connections."
  }

  # --- ECS --------------------------------------------------------------------------
  assert {
    condition     = aws_ecs_service.this.deployment_circuit_breaker[0].enable && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "Deployment circuit breaker with rollback expected."
  }
  assert {
    condition     = aws_ecs_service.this.launch_type == "FARGATE" && aws_ecs_service.this.desired_count == 2
    error_message = "Fargate service starting at min_capacity expected."
  }
  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "enabled"
    error_message = "Container insights must be enabled."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/bedrock-gateway", "healthcheck", "--addr", "127.0.0.1:50051"]
    error_message = "The ECS health check must run the binary's own healthcheck in CMD form (no shell)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].user == "65532:65532" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem
    error_message = "The container must run as a non-root user on a read-only root filesystem."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.logDriver == "awslogs" && aws_cloudwatch_log_group.gateway.retention_in_days == 365 && aws_cloudwatch_log_group.gateway.kms_key_id == aws_kms_key.this.arn
    error_message = "Logs must go to a KMS-encrypted log group with retention."
  }
  assert {
    condition = {
      for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name => e.value
      if startswith(e.name, "BEDROCK_GATEWAY_")
      } == {
      "BEDROCK_GATEWAY_ADMIN__LISTEN"                   = "127.0.0.1:9090"
      "BEDROCK_GATEWAY_AUTH__REQUIRE_ENDPOINT_MATCH"    = "false"
      "BEDROCK_GATEWAY_BEDROCK__REGION"                 = "eu-west-1"
      "BEDROCK_GATEWAY_CATALOG__S3__BUCKET"             = "bedrock-gateway-catalog-20250101000000000000000001"
      "BEDROCK_GATEWAY_CATALOG__S3__KEY"                = "catalog.json"
      "BEDROCK_GATEWAY_CATALOG__S3__REGION"             = "eu-west-1"
      "BEDROCK_GATEWAY_CATALOG__RELOAD_SECS"            = "15"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__BUCKET"      = "bedrock-gateway-catalog-20250101000000000000000001"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__KEY"         = "tenants.json"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__S3__REGION"      = "eu-west-1"
      "BEDROCK_GATEWAY_TENANTS_SOURCE__RELOAD_SECS"     = "15"
      "BEDROCK_GATEWAY_QUOTAS__FALLBACK_TASK_COUNT"     = "2"
      "BEDROCK_GATEWAY_QUOTAS__STORE"                   = "memory"
      "BEDROCK_GATEWAY_SERVER__LISTEN"                  = "0.0.0.0:50051"
      "BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL"          = "false"
      "BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS"     = "60"
      "BEDROCK_GATEWAY_SERVER__MAX_CONNECTION_AGE_SECS" = "120"
      "BEDROCK_GATEWAY_SERVER__MAX_CONCURRENT_REQUESTS" = "2000"
      "BEDROCK_GATEWAY_SERVER__WORKER_THREADS"          = "1"
      "BEDROCK_GATEWAY_METRICS__EMF"                    = "true"
      "BEDROCK_GATEWAY_METRICS__EMF_SERVICE_NAME"       = "bedrock-gateway"
    }
    error_message = "Gateway configuration env vars are not rendered as expected."
  }
  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    error_message = "ECR must have immutable tags and scan on push."
  }

  # --- autoscaling -------------------------------------------------------------------
  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 2 && aws_appautoscaling_target.this.max_capacity == 10
    error_message = "Autoscaling bounds must be 2..10 by default."
  }
  assert {
    condition     = aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "CPU target tracking expected."
  }
  assert {
    condition     = aws_appautoscaling_policy.streams.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metric_name == "StreamsInFlight"
    error_message = "Target tracking on the gateway's StreamsInFlight expected."
  }

  # --- alarms and dashboard -------------------------------------------------------
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.bedrock_throttles) == 2 && aws_cloudwatch_metric_alarm.unhealthy_hosts.metric_name == "UnHealthyHostCount" && aws_cloudwatch_metric_alarm.cpu_high.metric_name == "CPUUtilization"
    error_message = "Throttle (per model), unhealthy-host and CPU alarms expected."
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 8
    error_message = "Dashboard must have the 6 service widgets plus one per Bedrock model."
  }
}

run "tls_listener_custom_idle_timeout" {
  command = plan

  variables {
    tls_certificate_arn        = "arn:aws:acm:eu-west-1:111111111111:certificate/11111111-2222-3333-4444-555555555555"
    nlb_idle_timeout_seconds   = 1200
    drain_seconds              = 105
    max_connection_age_seconds = 600
    proxy_protocol_v2          = true
    min_capacity               = 3
    max_capacity               = 30
  }

  assert {
    condition     = aws_lb_listener.tls[0].protocol == "TLS" && aws_lb_listener.tls[0].alpn_policy == "HTTP2Only" && aws_lb_listener.tls[0].port == 443
    error_message = "TLS listener with ALPN HTTP2Only expected when a certificate is given."
  }
  assert {
    condition     = aws_lb_listener.tcp.tcp_idle_timeout_seconds == 1200
    error_message = "The TCP listener idle timeout must follow nlb_idle_timeout_seconds."
  }
  assert {
    condition     = aws_lb_target_group.this.deregistration_delay == "660" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 120
    error_message = "max_connection_age_seconds=600 must give deregistration delay 660, drain_seconds=105 stopTimeout 120."
  }
  assert {
    condition     = aws_lb_target_group.this.proxy_protocol_v2 == true
    error_message = "proxy_protocol_v2 must be configurable."
  }
  assert {
    condition = contains(
      jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment,
      { name = "BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL", value = "true" }
    )
    error_message = "The gateway (and its health check) must expect PROXY protocol exactly when the target group sends it."
  }
  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 3 && aws_appautoscaling_target.this.max_capacity == 30
    error_message = "Autoscaling bounds must follow min/max_capacity."
  }
}

# A VPC dedicated to the gateway: the caller asks for the module's endpoints.
run "bring_your_own_vpc" {
  command = plan

  variables {
    vpc_id                  = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids      = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    private_route_table_ids = ["rtb-0aaaaaaaaaaaaaaaa"]
    create_vpc_endpoints    = true
  }

  override_data {
    target = data.aws_subnet.selected[0]
    values = { availability_zone_id = "euw1-az1", cidr_block = "10.50.0.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }
  override_data {
    target = data.aws_subnet.selected[1]
    values = { availability_zone_id = "euw1-az2", cidr_block = "10.50.16.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }

  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_subnet.private) == 0 && length(aws_flow_log.this) == 0
    error_message = "No VPC resources may be created when vpc_id is given."
  }
  assert {
    condition     = toset(aws_lb.this.subnets) == toset(var.private_subnet_ids) && aws_ecs_service.this.network_configuration[0].subnets == toset(var.private_subnet_ids)
    error_message = "NLB and tasks must use the given subnets."
  }
  assert {
    condition     = aws_vpc_endpoint.s3[0].route_table_ids == toset(["rtb-0aaaaaaaaaaaaaaaa"])
    error_message = "The S3 gateway endpoint must attach to the given route tables."
  }
  assert {
    condition     = keys(aws_vpc_security_group_ingress_rule.nlb_grpc) == ["10.50.0.0/16"]
    error_message = "The NLB must admit the existing VPC's CIDR."
  }
}

run "byo_vpc_single_az_is_rejected" {
  command = plan

  variables {
    vpc_id                      = "vpc-0aaaaaaaaaaaaaaaa"
    private_subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    task_egress_cidr_blocks     = ["10.50.0.0/16"]
    task_egress_prefix_list_ids = ["pl-6da54004"]
  }

  override_data {
    target = data.aws_subnet.selected[0]
    values = { availability_zone_id = "euw1-az1", cidr_block = "10.50.0.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }
  override_data {
    target = data.aws_subnet.selected[1]
    values = { availability_zone_id = "euw1-az1", cidr_block = "10.50.0.0/20", vpc_id = "vpc-0aaaaaaaaaaaaaaaa", map_public_ip_on_launch = false }
  }

  expect_failures = [aws_lb.this]
}
