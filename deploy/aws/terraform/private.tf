# exposure = "private": API Gateway -> VPC link -> internal NLB -> crest in
# private subnets. Nothing here listens on the internet: the NLB is internal,
# and crest needs no public listener. The NLB listener is TCP (TLS passes
# through), so crest still terminates TLS and still sees, and pins, API
# Gateway's client certificate; a TLS listener would end TLS at the NLB and
# crest would never see that certificate.

locals {
  # NLB health check: HTTPS GET /readyz every 5 s (crest exempts /readyz from
  # the client-certificate gate). Two failures (<= ~14 s) take a draining
  # crest out of rotation, within crest's shutdown delay (CREST_SHUTDOWN_DELAY
  # 15s); var.deregistration_delay (20 s) is a little longer, so the NLB
  # never cuts a connection that crest is still finishing, whether crest
  # leaves by failing /readyz or by being deregistered (ASG, ECS).
  health_check_interval  = 5
  health_check_timeout   = 4
  health_check_threshold = 2
}

resource "aws_lb" "private" {
  count = local.private ? 1 : 0

  name               = "${var.name}-nlb"
  internal           = true
  load_balancer_type = "network"
  subnets            = var.subnet_ids
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = var.vpc_id != null && length(var.subnet_ids) > 0
      error_message = "exposure = \"private\" needs vpc_id and subnet_ids (the private subnets of crest's VPC)."
    }
  }
}

resource "aws_lb_target_group" "crest" {
  count = local.private ? 1 : 0

  name                 = "${var.name}-crest"
  port                 = var.crest_port
  protocol             = "TCP"
  target_type          = var.crest_target_type
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay
  tags                 = var.tags

  # A target that fails /readyz keeps its open connections for
  # var.deregistration_delay too (by default the NLB resets them at once):
  # that is crest's drain, requests in flight finish.
  target_health_state {
    enable_unhealthy_connection_termination = false
    unhealthy_draining_interval             = var.deregistration_delay
  }

  health_check {
    protocol            = "HTTPS"
    path                = "/readyz"
    port                = "traffic-port"
    matcher             = "200"
    interval            = local.health_check_interval
    timeout             = local.health_check_timeout
    healthy_threshold   = local.health_check_threshold
    unhealthy_threshold = local.health_check_threshold
  }
}

resource "aws_lb_listener" "crest" {
  count = local.private ? 1 : 0

  load_balancer_arn = aws_lb.private[0].arn
  port              = 443
  protocol          = "TCP"
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.crest[0].arn
  }
}

# Fixed replicas. An Auto Scaling group (target_group_arns) or an ECS service
# (load_balancer) registers its own: leave crest_targets empty and give them
# output target_group_arn.
resource "aws_lb_target_group_attachment" "crest" {
  for_each = local.private ? toset(var.crest_targets) : toset([])

  target_group_arn = aws_lb_target_group.crest[0].arn
  target_id        = each.value
  port             = var.crest_port
}

resource "aws_api_gateway_vpc_link" "crest" {
  count = local.private ? 1 : 0

  name        = "${var.name}-vpc-link"
  description = "API Gateway to crest's internal NLB"
  target_arns = [aws_lb.private[0].arn]
  tags        = var.tags
}
