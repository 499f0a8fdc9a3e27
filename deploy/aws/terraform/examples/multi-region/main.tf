# Two regions, two independent scaling loops: the module once per region,
# each with its own provider (alias), its own crest (URL, store) and its own
# dimension ids. us-east-1 reaches a private crest through a VPC link;
# eu-west-1 calls a public crest. See ../../../README.md, "Several regions".
#
#   terraform init && terraform apply        (fill in the values below first)

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

provider "aws" {
  alias  = "eu_west_1"
  region = "eu-west-1"
}

module "crest_us_east_1" {
  source    = "../.."
  providers = { aws = aws.us_east_1 }

  name      = "crest-use1"
  crest_url = "https://crest.us-east-1.example.com" # crest and its store in us-east-1

  exposure      = "private"
  vpc_id        = "vpc-0123456789abcdef0"
  subnet_ids    = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
  crest_targets = ["i-0123456789abcdef0", "i-0fedcba9876543210"]

  scalable_targets = {
    "orders-use1"  = { min_capacity = 1, max_capacity = 20, metric_dimensions = { Queue = "orders-use1" } }
    "billing-use1" = { max_capacity = 5, target_value = 70, metric_dimensions = { Queue = "billing-use1" } }
  }
  metric_name      = "BacklogPerWorker"
  metric_namespace = "MyApp"
  metric_unit      = "Count"
  target_value     = 10
}

module "crest_eu_west_1" {
  source    = "../.."
  providers = { aws = aws.eu_west_1 }

  name      = "crest-euw1"
  crest_url = "https://crest.eu-west-1.example.com" # crest and its store in eu-west-1

  scalable_targets = {
    "orders-euw1" = { min_capacity = 1, max_capacity = 20, metric_dimensions = { Queue = "orders-euw1" } }
  }
  metric_name      = "BacklogPerWorker"
  metric_namespace = "MyApp"
  metric_unit      = "Count"
  target_value     = 10
}

# The certificate each region's API Gateway presents; pin each in that
# region's crest: fetch-client-cert.sh --region us-east-1 ID.
output "client_certificate_ids" {
  value = {
    "us-east-1" = module.crest_us_east_1.client_certificate_id
    "eu-west-1" = module.crest_eu_west_1.client_certificate_id
  }
}

output "custom_resource_ids" {
  value = {
    "us-east-1" = module.crest_us_east_1.custom_resource_ids
    "eu-west-1" = module.crest_eu_west_1.custom_resource_ids
  }
}
