output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "Stage that carries the client certificate."
  value       = aws_api_gateway_stage.this.stage_name
}

output "invoke_url" {
  description = "Invoke URL of the stage."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "client_certificate_id" {
  description = "The API Gateway client certificate ID the stage presents to crest; fetch its PEM into crest's pins with ../fetch-client-cert.sh --terraform-dir DIR."
  value       = local.client_certificate_id
}

output "module_client_certificate_id" {
  description = "The client certificate this module created (unused while var.client_certificate_id is set)."
  value       = aws_api_gateway_client_certificate.this.id
}

output "resource_id_prefix" {
  description = "AAS custom resource ID prefix; append a scalableTargetDimensionId."
  value       = local.resource_id_prefix
}

output "custom_resource_id" {
  description = "The AAS resource ID (service namespace custom-resource, scalable dimension custom-resource:ResourceType:Property) of scalable_target_dimension_id."
  value       = local.custom_resource_id
}

output "crest_backend_url" {
  description = "The crest URL API Gateway forwards this dimension to."
  value       = "${var.crest_url}/v1/scalableTargetDimensions/${var.scalable_target_dimension_id}"
}

output "scalable_target_registered" {
  description = "Whether this module registered the scalable target and policy."
  value       = var.register_scalable_target
}

output "custom_resource_ids" {
  description = "Dimension id => AAS resource ID, for every scalable target this module registered (register_scalable_target and scalable_targets)."
  value       = { for id, t in local.scalable_targets : id => t.resource_id }
}

output "exposure" {
  description = "public or private."
  value       = var.exposure
}

output "target_group_arn" {
  description = "exposure = private: the NLB target group; give it to an Auto Scaling group (target_group_arns) or ECS service (load_balancer) that registers crest. null when public."
  value       = local.private ? aws_lb_target_group.crest[0].arn : null
}

output "nlb_dns_name" {
  description = "exposure = private: the internal NLB's DNS name (reachable only inside the VPC). null when public."
  value       = local.private ? aws_lb.private[0].dns_name : null
}

output "vpc_link_id" {
  description = "exposure = private: the API Gateway VPC link. null when public."
  value       = local.private ? aws_api_gateway_vpc_link.crest[0].id : null
}
