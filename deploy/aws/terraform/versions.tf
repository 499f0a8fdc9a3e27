terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # aws_api_gateway_stage.invoke_url, aws_appautoscaling_* as used here:
      # any 5.x or later.
      version = ">= 5.0"
    }
  }
}
