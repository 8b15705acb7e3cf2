###############################################################################
# Internal NLB and the PrivateLink endpoint service on it
###############################################################################

# count, not for_each: the subnets may be created in the same apply.
data "aws_subnet" "selected" {
  count = local.create_vpc ? 0 : length(var.private_subnet_ids)
  id    = var.private_subnet_ids[count.index]
}

resource "aws_lb" "this" {
  name               = var.name
  internal           = true
  load_balancer_type = "network"
  subnets            = local.private_subnet_ids
  security_groups    = [aws_security_group.nlb.id]

  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.enable_deletion_protection

  # PrivateLink traffic is admitted by the endpoint service (allowed
  # principals + manual acceptance) and arrives from the NLB's own addresses,
  # so the NLB SG's inbound rules apply to direct in-VPC callers only.
  enforce_security_group_inbound_rules_on_private_link_traffic = "off"

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = local.create_vpc || length(distinct([for s in data.aws_subnet.selected : s.availability_zone_id])) >= 2
      error_message = "private_subnet_ids must be in at least two different Availability Zones."
    }
    precondition {
      condition     = local.create_vpc || length(distinct([for s in data.aws_subnet.selected : s.availability_zone_id])) == length(var.private_subnet_ids)
      error_message = "private_subnet_ids must hold one subnet per Availability Zone (an NLB takes one subnet per zone); these share a zone: ${join(", ", [for s in data.aws_subnet.selected : "${s.id} (${s.availability_zone_id})"])}."
    }
    precondition {
      condition     = local.create_vpc || alltrue([for s in data.aws_subnet.selected : s.vpc_id == var.vpc_id])
      error_message = "Every private_subnet_ids entry must be a subnet of vpc_id."
    }
    precondition {
      condition     = local.create_vpc || alltrue([for s in data.aws_subnet.selected : !s.map_public_ip_on_launch])
      error_message = "private_subnet_ids must be private subnets (map_public_ip_on_launch = false)."
    }

    # Replacing the NLB replaces the endpoint service on it, and every
    # client endpoint breaks; an NLB's subnets can only be added to. A plan
    # that would destroy it fails here (to decommission: terraform/README.md).
    prevent_destroy = true
  }
}

# A name prefix and create_before_destroy: a change that replaces the target
# group (port, protocol, VPC) creates the new one first, the listeners and
# the service move to it, then the old one goes; a fixed name would collide.
resource "aws_lb_target_group" "this" {
  name_prefix          = "gw-"
  vpc_id               = local.vpc_id
  target_type          = "ip"
  protocol             = "TCP"
  port                 = var.grpc_port
  preserve_client_ip   = false
  proxy_protocol_v2    = var.proxy_protocol_v2
  deregistration_delay = local.deregistration_delay
  # Keep established streams alive while a target drains; the gateway closes
  # them itself after its shutdown grace.
  connection_termination            = false
  load_balancing_cross_zone_enabled = "true"

  # NLB health checks cannot speak HTTP/2 gRPC; TCP proves the listener is up,
  # the container health check (gRPC health service) gates task health.
  # Three failed checks 10 s apart mark a target unhealthy: a busy task
  # missing one check keeps its streams.
  health_check {
    enabled             = true
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  # By default an NLB resets every connection of a target that turns
  # unhealthy: one health-check flap would cut every stream on the task. The
  # target gets no new connections; its streams end on their own, or when
  # ECS replaces the task and the gateway drains.
  target_health_state {
    enable_unhealthy_connection_termination = false
    unhealthy_draining_interval             = local.deregistration_delay
  }

  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Idle timeout and HTTP/2 keepalive
# ---------------------------------
# An NLB silently drops a TCP flow that has been idle for
# tcp.idle_timeout.seconds (default 350 s) and later answers with RST. A gRPC
# stream waiting for a slow first token is idle at the TCP level, so:
#   * the gateway sends HTTP/2 PINGs every 60 s (timeout 20 s),
#   * the client crate sends HTTP/2 PINGs every 60 s,
# both well inside this listener's timeout (validated 60..6000, default 350).
# If you lower nlb_idle_timeout_seconds below ~120 s, lower both keepalive
# intervals too. A TLS listener's idle timeout is fixed at 350 s by AWS.
resource "aws_lb_listener" "tcp" {
  load_balancer_arn        = aws_lb.this.arn
  protocol                 = "TCP"
  port                     = var.grpc_port
  tcp_idle_timeout_seconds = var.nlb_idle_timeout_seconds

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = local.tags
}

resource "aws_lb_listener" "tls" {
  count = var.tls_certificate_arn == null ? 0 : 1

  load_balancer_arn = aws_lb.this.arn
  protocol          = "TLS"
  port              = var.tls_port
  certificate_arn   = var.tls_certificate_arn
  ssl_policy        = var.tls_ssl_policy
  alpn_policy       = "HTTP2Only"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = local.tags
}

resource "aws_vpc_endpoint_service" "this" {
  acceptance_required        = true
  allowed_principals         = var.allowed_principals
  network_load_balancer_arns = [aws_lb.this.arn]

  tags = merge(local.tags, { Name = var.name })

  lifecycle {
    # Its name is in every client's endpoint: a new one strands them all.
    prevent_destroy = true
  }
}
