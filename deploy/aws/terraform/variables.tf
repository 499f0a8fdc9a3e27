variable "name" {
  description = "Name of the REST API (and prefix of the other names)."
  type        = string
  default     = "crest"
}

variable "crest_url" {
  description = "Base URL of crest's HTTPS listener, scheme and host (and port) only, no trailing slash, e.g. https://crest.example.com. API Gateway calls <crest_url>/v1/scalableTargetDimensions/{id}. The host needs a certificate from a public CA (API Gateway refuses self-signed backend certificates). Use crest's HTTPS port (--tls-listen), never its plain --listen port: with --http-api off that port answers 308, which API Gateway turns into a 500 for AAS."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.crest_url))
    error_message = "The crest_url must look like https://HOST or https://HOST:PORT, with no path and no trailing slash."
  }
}

variable "stage_name" {
  description = "API Gateway stage; part of the custom resource ID."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "The stage_name may hold letters, digits, underscores and hyphens only."
  }
}

variable "scalable_target_dimension_id" {
  description = "The crest dimension id that AAS scales (last path segment of the custom resource ID). Restricted to URL-unreserved characters so the resource ID needs no percent-encoding."
  type        = string
  default     = "1-23456789"

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]{1,255}$", var.scalable_target_dimension_id)) && !contains([".", ".."], var.scalable_target_dimension_id)
    error_message = "The scalable_target_dimension_id must be 1-255 of A-Z a-z 0-9 . _ ~ - and not . or .."
  }
}

variable "client_certificate_description" {
  description = "Description of the API Gateway client certificate presented to crest."
  type        = string
  default     = "Client certificate API Gateway presents to crest"
}

variable "client_certificate_id" {
  description = "Rotation only: the id of a client certificate made with `aws apigateway generate-client-certificate` that the stage presents instead of the module's own. Pin it in crest first (../README.md, rotation). null: the module's certificate."
  type        = string
  default     = null

  validation {
    condition     = var.client_certificate_id == null || can(regex("^[A-Za-z0-9_-]{1,128}$", var.client_certificate_id))
    error_message = "The client_certificate_id must be an API Gateway client certificate id, or null."
  }
}

variable "register_scalable_target" {
  description = "Register the custom resource with Application Auto Scaling and create the target-tracking policy. Leave false for the first apply, pin the client certificate in crest (fetch-client-cert.sh), then apply again with true."
  type        = bool
  default     = false
}

variable "min_capacity" {
  description = "Lowest capacity AAS may set."
  type        = number
  default     = 0
}

variable "max_capacity" {
  description = "Highest capacity AAS may set."
  type        = number
  default     = 10
}

variable "target_value" {
  description = "Target value of the customized metric that AAS keeps the dimension at."
  type        = number
  default     = 50
}

variable "metric_name" {
  description = "CloudWatch metric name for target tracking (it must fall as capacity rises)."
  type        = string
  default     = "MyAverageUtilizationMetric"
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the metric."
  type        = string
  default     = "MyNamespace"
}

variable "metric_statistic" {
  description = "Statistic of the metric: Average, Minimum, Maximum, SampleCount or Sum."
  type        = string
  default     = "Average"

  validation {
    condition     = contains(["Average", "Minimum", "Maximum", "SampleCount", "Sum"], var.metric_statistic)
    error_message = "The metric_statistic must be one of Average, Minimum, Maximum, SampleCount, Sum."
  }
}

variable "metric_unit" {
  description = "CloudWatch unit of the metric (Percent, Count, None, ...)."
  type        = string
  default     = "Percent"
}

variable "metric_dimensions" {
  description = "CloudWatch dimensions of the metric, name => value (empty for none)."
  type        = map(string)
  default     = {}
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before another scale-in."
  type        = number
  default     = 300
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before another scale-out."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags for the taggable resources."
  type        = map(string)
  default     = {}
}

variable "scalable_targets" {
  description = "More dimensions through the same API: crest dimension id => settings. Each entry registers one scalable target and one target-tracking policy; an attribute left out takes the module-wide value (min_capacity, max_capacity, target_value, metric_*, scale_*_cooldown). Independent of register_scalable_target, which adds scalable_target_dimension_id."
  type = map(object({
    min_capacity       = optional(number)
    max_capacity       = optional(number)
    target_value       = optional(number)
    metric_name        = optional(string)
    metric_namespace   = optional(string)
    metric_statistic   = optional(string)
    metric_unit        = optional(string)
    metric_dimensions  = optional(map(string))
    scale_in_cooldown  = optional(number)
    scale_out_cooldown = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for id in keys(var.scalable_targets) : can(regex("^[A-Za-z0-9._~-]{1,255}$", id)) && !contains([".", ".."], id)])
    error_message = "Every key of scalable_targets must be 1-255 of A-Z a-z 0-9 . _ ~ - and not . or .."
  }
}

variable "exposure" {
  description = "public: API Gateway calls crest_url over the internet, so crest listens publicly on 443. private: API Gateway reaches crest through a VPC link and an internal NLB in subnet_ids (private.tf); crest has no public listener, and crest_url's host only names crest's certificate."
  type        = string
  default     = "public"

  validation {
    condition     = contains(["public", "private"], var.exposure)
    error_message = "The exposure must be public or private."
  }
}

variable "vpc_id" {
  description = "exposure = private: the VPC of crest's private subnets."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "exposure = private: the private subnets the internal NLB is placed in (one per availability zone that runs crest)."
  type        = list(string)
  default     = []
}

variable "crest_targets" {
  description = "exposure = private: crest replicas for the NLB target group, instance ids (crest_target_type instance) or private IPs (ip). Empty when an Auto Scaling group or ECS service registers them with output target_group_arn."
  type        = list(string)
  default     = []
}

variable "crest_target_type" {
  description = "exposure = private: what crest_targets holds, instance or ip."
  type        = string
  default     = "instance"

  validation {
    condition     = contains(["instance", "ip"], var.crest_target_type)
    error_message = "The crest_target_type must be instance or ip."
  }
}

variable "crest_port" {
  description = "exposure = private: the port crest's --tls-listen binds on the targets."
  type        = number
  default     = 443
}

variable "deregistration_delay" {
  description = "exposure = private: seconds the NLB lets a deregistered crest finish its connections. Keep it a little above crest's shutdown delay (CREST_SHUTDOWN_DELAY, e.g. 15s => 20)."
  type        = number
  default     = 20
}
