# API Gateway REST API in front of crest, the backend of an Application Auto
# Scaling (AAS) custom resource; the Terraform twin of
# ../cloudformation/api-gateway.yaml. See README.md beside this file.

locals {
  # Where API Gateway forwards GET and PATCH; {scalableTargetDimensionId} is
  # filled from the method's path parameter (request_parameters below).
  crest_integration_uri = "${var.crest_url}/v1/scalableTargetDimensions/{scalableTargetDimensionId}"

  # AAS custom resource ID:
  # https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/scalableTargetDimensions/{id}
  resource_id_prefix = "${aws_api_gateway_stage.this.invoke_url}/scalableTargetDimensions/"
  custom_resource_id = "${local.resource_id_prefix}${var.scalable_target_dimension_id}"

  # public: API Gateway calls crest_url over the internet. private: through
  # the VPC link to the internal NLB (private.tf); crest_url's host then only
  # names crest's certificate (Host header and TLS verification).
  private         = var.exposure == "private"
  connection_type = local.private ? "VPC_LINK" : "INTERNET"
  connection_id   = local.private ? aws_api_gateway_vpc_link.crest[0].id : null

  # The certificate the stage presents: the module's own, or during a
  # rotation the one named by var.client_certificate_id.
  client_certificate_id = coalesce(var.client_certificate_id, aws_api_gateway_client_certificate.this.id)
}

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "Application Auto Scaling custom resource API, proxied to crest."
  tags        = var.tags

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_resource" "dimensions" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "scalableTargetDimensions"
}

resource "aws_api_gateway_resource" "dimension" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.dimensions.id
  path_part   = "{scalableTargetDimensionId}"
}

# AAS signs its calls with SigV4 (its service-linked role
# AWSServiceRoleForApplicationAutoScaling_CustomResource holds
# execute-api:Invoke), hence AWS_IAM.
resource "aws_api_gateway_method" "get" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.dimension.id
  http_method   = "GET"
  authorization = "AWS_IAM"

  request_parameters = {
    "method.request.path.scalableTargetDimensionId" = true
  }
}

resource "aws_api_gateway_method" "patch" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.dimension.id
  http_method   = "PATCH"
  authorization = "AWS_IAM"

  request_parameters = {
    "method.request.path.scalableTargetDimensionId" = true
  }
}

# HTTP_PROXY passes crest's status codes and JSON bodies (400, 404, 429, ...)
# through unchanged.
resource "aws_api_gateway_integration" "get" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.dimension.id
  http_method             = aws_api_gateway_method.get.http_method
  type                    = "HTTP_PROXY"
  integration_http_method = "GET"
  connection_type         = local.connection_type
  connection_id           = local.connection_id
  uri                     = local.crest_integration_uri
  passthrough_behavior    = "WHEN_NO_MATCH"
  timeout_milliseconds    = 29000

  request_parameters = {
    "integration.request.path.scalableTargetDimensionId" = "method.request.path.scalableTargetDimensionId"
  }
}

resource "aws_api_gateway_integration" "patch" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.dimension.id
  http_method             = aws_api_gateway_method.patch.http_method
  type                    = "HTTP_PROXY"
  integration_http_method = "PATCH"
  connection_type         = local.connection_type
  connection_id           = local.connection_id
  uri                     = local.crest_integration_uri
  passthrough_behavior    = "WHEN_NO_MATCH"
  timeout_milliseconds    = 29000

  request_parameters = {
    "integration.request.path.scalableTargetDimensionId" = "method.request.path.scalableTargetDimensionId"
  }
}

# The certificate API Gateway presents to crest. It is self-signed and marked
# CA:TRUE, which is why crest pins it (--client-cert-pin) instead of trusting
# it as a CA. It expires (API Gateway sets the dates; check with
# `aws apigateway get-client-certificate`): rotate it with
# var.client_certificate_id and two pins (../README.md).
resource "aws_api_gateway_client_certificate" "this" {
  description = var.client_certificate_description
  tags        = var.tags
}

# A deployment is a snapshot; the trigger makes a new one whenever the
# resources, methods or integrations change.
resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "crest custom resource API"

  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.dimensions.id,
      aws_api_gateway_resource.dimension.id,
      aws_api_gateway_method.get.id,
      aws_api_gateway_method.get.authorization,
      aws_api_gateway_method.patch.id,
      aws_api_gateway_method.patch.authorization,
      aws_api_gateway_integration.get.id,
      aws_api_gateway_integration.get.uri,
      aws_api_gateway_integration.patch.id,
      aws_api_gateway_integration.patch.uri,
      aws_api_gateway_integration.get.connection_type,
      aws_api_gateway_integration.get.connection_id,
      aws_api_gateway_integration.patch.connection_type,
      aws_api_gateway_integration.patch.connection_id,
      aws_api_gateway_rest_api_policy.this.policy,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [
    aws_api_gateway_integration.get,
    aws_api_gateway_integration.patch,
    aws_api_gateway_rest_api_policy.this,
  ]
}

resource "aws_api_gateway_stage" "this" {
  rest_api_id           = aws_api_gateway_rest_api.this.id
  deployment_id         = aws_api_gateway_deployment.this.id
  stage_name            = var.stage_name
  description           = "Stage whose invoke URL is the AAS custom resource ID prefix"
  client_certificate_id = local.client_certificate_id
  tags                  = var.tags
}
