# terraform test against a mocked hashicorp/aws provider (no AWS account):
# plans the module as public and as private, with several dimensions, and
# asserts what each plan would create. Run by ../../check.sh.

mock_provider "aws" {}

variables {
  crest_url = "https://crest.example.com"
}

run "public_has_no_vpc_link_or_nlb" {
  command = plan

  assert {
    condition     = length(aws_lb.private) == 0 && length(aws_api_gateway_vpc_link.crest) == 0
    error_message = "exposure = public must create no NLB and no VPC link"
  }
  assert {
    condition     = aws_api_gateway_integration.get.connection_type == "INTERNET" && aws_api_gateway_integration.patch.connection_type == "INTERNET"
    error_message = "exposure = public: both integrations go over the internet"
  }
  assert {
    condition     = length(aws_appautoscaling_target.this) == 0
    error_message = "nothing is registered by default"
  }
}

run "private_goes_through_vpc_link_to_internal_nlb" {
  command = plan

  variables {
    exposure      = "private"
    vpc_id        = "vpc-0123456789abcdef0"
    subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
    crest_targets = ["i-0123456789abcdef0", "i-0fedcba9876543210"]
  }

  assert {
    condition     = aws_lb.private[0].internal == true && aws_lb.private[0].load_balancer_type == "network"
    error_message = "the NLB must be internal"
  }
  assert {
    condition     = aws_lb_listener.crest[0].protocol == "TCP" && aws_lb_listener.crest[0].port == 443
    error_message = "the listener passes TLS through on 443"
  }
  assert {
    condition     = aws_lb_target_group.crest[0].health_check[0].protocol == "HTTPS" && aws_lb_target_group.crest[0].health_check[0].path == "/readyz"
    error_message = "the health check is HTTPS /readyz"
  }
  assert {
    condition     = aws_lb_target_group.crest[0].deregistration_delay == "20"
    error_message = "deregistration delay 20 s (crest's shutdown delay 15 s + margin)"
  }
  assert {
    condition     = aws_lb_target_group.crest[0].target_health_state[0].enable_unhealthy_connection_termination == false && aws_lb_target_group.crest[0].target_health_state[0].unhealthy_draining_interval == 20
    error_message = "a crest failing /readyz keeps its connections for 20 s (its drain)"
  }
  assert {
    condition     = length(aws_lb_target_group_attachment.crest) == 2
    error_message = "one attachment per crest target"
  }
  assert {
    condition     = aws_api_gateway_integration.get.connection_type == "VPC_LINK" && aws_api_gateway_integration.patch.connection_type == "VPC_LINK"
    error_message = "exposure = private: both integrations use the VPC link"
  }
}

run "private_without_subnets_is_refused" {
  command = plan

  variables {
    exposure = "private"
  }

  expect_failures = [aws_lb.private]
}

run "one_registration_per_dimension" {
  command = plan

  variables {
    register_scalable_target     = true
    scalable_target_dimension_id = "main"
    min_capacity                 = 1
    scalable_targets = {
      "orders"  = { max_capacity = 20, metric_dimensions = { Queue = "orders" } }
      "billing" = { min_capacity = 2, target_value = 70 }
    }
  }

  assert {
    condition     = toset(keys(aws_appautoscaling_target.this)) == toset(["main", "orders", "billing"])
    error_message = "one scalable target per dimension"
  }
  assert {
    condition     = toset(keys(aws_appautoscaling_policy.target_tracking)) == toset(["main", "orders", "billing"])
    error_message = "one policy per dimension"
  }
  assert {
    condition     = aws_appautoscaling_target.this["orders"].max_capacity == 20 && aws_appautoscaling_target.this["orders"].min_capacity == 1
    error_message = "an entry's own max_capacity wins; min_capacity falls back to the module's"
  }
  assert {
    condition     = aws_appautoscaling_target.this["billing"].min_capacity == 2 && aws_appautoscaling_target.this["billing"].max_capacity == 10
    error_message = "billing: its own min_capacity, the default max_capacity"
  }
  assert {
    condition     = aws_appautoscaling_policy.target_tracking["billing"].target_tracking_scaling_policy_configuration[0].target_value == 70
    error_message = "billing's own target value"
  }
}
