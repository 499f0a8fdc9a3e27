# Application Auto Scaling: one scalable target and one target-tracking
# policy per dimension, all through the one API. The dimensions are
# var.scalable_targets plus, with register_scalable_target, the single
# scalable_target_dimension_id; an attribute an entry leaves out takes the
# module-wide value (min_capacity, metric_name, ...).

locals {
  scalable_targets = {
    for id, t in merge(
      var.register_scalable_target ? { (var.scalable_target_dimension_id) = {} } : {},
      var.scalable_targets,
      ) : id => {
      resource_id        = "${local.resource_id_prefix}${id}"
      min_capacity       = coalesce(try(t.min_capacity, null), var.min_capacity)
      max_capacity       = coalesce(try(t.max_capacity, null), var.max_capacity)
      target_value       = coalesce(try(t.target_value, null), var.target_value)
      metric_name        = coalesce(try(t.metric_name, null), var.metric_name)
      metric_namespace   = coalesce(try(t.metric_namespace, null), var.metric_namespace)
      metric_statistic   = coalesce(try(t.metric_statistic, null), var.metric_statistic)
      metric_unit        = coalesce(try(t.metric_unit, null), var.metric_unit)
      metric_dimensions  = try(t.metric_dimensions, null) != null ? t.metric_dimensions : var.metric_dimensions
      scale_in_cooldown  = coalesce(try(t.scale_in_cooldown, null), var.scale_in_cooldown)
      scale_out_cooldown = coalesce(try(t.scale_out_cooldown, null), var.scale_out_cooldown)
    }
  }
}

# No role_arn: for service_namespace "custom-resource" AAS uses (and creates
# on first registration, if the caller may iam:CreateServiceLinkedRole) the
# service-linked role AWSServiceRoleForApplicationAutoScaling_CustomResource
# (managed policy AWSApplicationAutoScalingCustomResourcePolicy:
# execute-api:Invoke and the CloudWatch alarm actions it needs; iam.tf lets
# that role invoke GET and PATCH in the API's resource policy too).
resource "aws_appautoscaling_target" "this" {
  for_each = local.scalable_targets

  service_namespace  = "custom-resource"
  scalable_dimension = "custom-resource:ResourceType:Property"
  resource_id        = each.value.resource_id
  min_capacity       = each.value.min_capacity
  max_capacity       = each.value.max_capacity
}

# Policy names are unique per scalable target, so every target's policy has
# the same name.
resource "aws_appautoscaling_policy" "target_tracking" {
  for_each = local.scalable_targets

  name               = "${var.name}-target-tracking"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target_value
    scale_in_cooldown  = each.value.scale_in_cooldown
    scale_out_cooldown = each.value.scale_out_cooldown

    customized_metric_specification {
      metric_name = each.value.metric_name
      namespace   = each.value.metric_namespace
      statistic   = each.value.metric_statistic
      unit        = each.value.metric_unit

      dynamic "dimensions" {
        for_each = each.value.metric_dimensions
        content {
          name  = dimensions.key
          value = dimensions.value
        }
      }
    }
  }
}
