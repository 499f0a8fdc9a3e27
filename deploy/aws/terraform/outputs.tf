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
